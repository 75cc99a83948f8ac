/** @module `drover worker`: flags here, the work in ../handlers/worker.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'take queued runs and dispatched agent calls of a pool from the store and run them (drover run --queue, --agents-on); SIGTERM hands them back',
    )
    .option('--name <name>', 'name in leases and events (default: <host>:<pid>)')
    .option('--pool <name>', 'pool to take runs from (default: workers)')
    .option('--concurrency <n>', 'agent calls run at once (default 4)', int('--concurrency', 1, 256))
    .option('--runs <n>', 'runs driven at once (default 1)', int('--runs', 1, 256))
    .option('--labels <list>', "this worker's labels: it takes runs that need a subset of them (comma-separated)")
    .option('--backends <list>', 'agent backends this worker runs (comma-separated; default: any)')
    .option('--checkout <dir>', "a clone of the runs' repository, for runs whose directory is not on this machine")
    .option('--lease-ttl <ms>', "lease on a run; a dead worker's runs move to another within it (default 10000)", int('--lease-ttl', 100))
    .option('--poll <ms>', 'longest wait between looks at the queue (default 1000)', int('--poll', 10))
    .option('--once', 'exit when nothing is queued and nothing is being driven')
    .option('--json', 'one JSON line per event on stdout')
    .action(action<[]>(async (flags) => (await import('../handlers/worker.js')).workerCommand(flags)));
}
