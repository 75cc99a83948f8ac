#!/usr/bin/env node
/**
 * @module
 * The `drover` entry point: the program, its global flags, and one `register(program)` per
 * command file. Each command declares its own flags and imports its handler only when it runs,
 * so `drover --version`, `--help` and `tasks claim` load commander and little else.
 */
import { Command } from 'commander';
import { register as registerAssert } from './commands/assert.js';
import { register as registerControl } from './commands/control.js';
import { register as registerCost } from './commands/cost.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerGateway } from './commands/gateway.js';
import { register as registerInspect } from './commands/inspect.js';
import { register as registerMcp } from './commands/mcp.js';
import { register as registerPolicy } from './commands/policy.js';
import { register as registerRetention } from './commands/retention.js';
import { register as registerRun } from './commands/run.js';
import { register as registerStore } from './commands/store.js';
import { register as registerTasks } from './commands/tasks.js';
import { register as registerTrace } from './commands/trace.js';
import { register as registerUi } from './commands/ui.js';
import { register as registerWorker } from './commands/worker.js';
import { register as registerWorkflows } from './commands/workflows.js';
import { EXIT, fail } from './output.js';

const program = new Command()
  .name('drover')
  .description('Durable, budgeted, observable orchestration for coding-agent workflows')
  .version('0.1.0')
  .option(
    '--store <path|url>',
    'store: an SQLite file or a postgres:// URL (default: .drover/drover.db at the project root; env DROVER_STORE)',
  )
  .showHelpAfterError('(add --help for usage)')
  // Before any .command(): subcommands copy it. Commander exits 1 on a flag error (unknown
  // option, missing or invalid argument, a group called without its subcommand); drover's
  // documented code for bad input is 2. Help and --version stay 0.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.input));

registerRun(program);
registerInspect(program);
registerControl(program);
registerCost(program);
registerTrace(program);
registerAssert(program);
registerGateway(program);
registerDoctor(program);
registerTasks(program);
registerMcp(program);
registerUi(program);
registerPolicy(program);
registerRetention(program);
registerWorkflows(program);
registerWorker(program);
registerStore(program);

// A reader that stops early (`drover runs | head -1`) closes the pipe: that ends the command quietly, as for any CLI.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});
program.parseAsync(process.argv).catch((err) => fail(err, false));
