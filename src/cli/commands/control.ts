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

  program
    .command('agent <runId> <call>')
    .description("an agent's transcript: prompt, each model turn, each tool call with input and output, answer (<call>: label or call key)")
    .option('--attempt <n>', 'which execution of the call (default: the last)', int('--attempt', 1))
    .option('--json', 'JSON output')
    .action(action<[string, string]>(async (runId, ref, flags) => (await handlers()).agentCommand(runId, ref, flags)));
}
