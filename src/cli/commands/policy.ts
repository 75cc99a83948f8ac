/** @module `drover policy check`: flags here, the work in ../handlers/policy.ts. */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const policy = program.command('policy').description("governance: a workflow's tier and what its policy allows (docs/governance.md)");
  policy
    .command('check <script>')
    .description('print the effective policy of a workflow before anything runs, each line with the rule that set it')
    .option('--workdir <dir>', 'the workspace the run would use (default: the current directory)')
    .option('--json', 'JSON output')
    .action(action<[string]>(async (script, flags) => (await import('../handlers/policy.js')).policyCheckCommand(script, flags)));
}
