/** @module `drover workflows` (the inventory), `workflows attach`, `workflows promote`, `workflows log`: flags here, the work in ../handlers/workflows.ts. */
import type { Command } from 'commander';
import { action } from '../action.js';

const handlers = () => import('../handlers/workflows.js');

export function register(program: Command): void {
  const workflows = program
    .command('workflows')
    .description('the workflow inventory: tier, owner, runs, success rate, spend, last run, gate for the next tier, policy denials')
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await handlers()).workflowsCommand(flags)));
  workflows
    .command('attach <name>')
    .description('record the assert spec and/or golden trace the promotion gates check the workflow’s runs with')
    .option('--spec <file>', 'an assert spec (YAML, as `drover assert` reads)')
    .option('--golden <file>', 'a golden trace (`drover trace golden save`)')
    .option('--json', 'JSON output')
    .action(action<[string]>(async (name, flags) => (await handlers()).attachCommand(name, flags)));
  workflows
    .command('promote <name>')
    .description('check the gate of a tier and record the workflow at it; exit 8 when refused, listing every missing item')
    .requiredOption('--tier <tier>', 'team-beta, internal or customer-facing (only upward)')
    .option('--json', 'JSON output')
    .action(action<[string]>(async (name, flags) => (await handlers()).promoteCommand(name, flags)));
  workflows
    .command('log [name]')
    .description('the audit log of attachments and promotions (granted and refused)')
    .option('--json', 'JSON output')
    .action(action<[string | undefined]>(async (name, flags) => (await handlers()).logCommand(name, flags)));
}
