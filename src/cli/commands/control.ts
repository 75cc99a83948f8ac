/** @module `drover stop` and `drover agent`: flags here, the work in ../handlers/control.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

const handlers = () => import('../handlers/control.js');

export function register(program: Command): void {
  program
    .command('stop <runId...>')
    .description('stop runs from another terminal: the driving process ends each one `stopped` within a second; drover resume continues it')
    .option('--no-wait', 'return once the request is stored, without waiting for the driver to end the run')
    .option('--timeout <seconds>', 'longest wait for the driver to end the run (default 30)', int('--timeout', 1))
    .option('--json', 'JSON output')
    .action(action<[string[]]>(async (ids, flags) => (await handlers()).stopCommand(ids, flags)));
}
