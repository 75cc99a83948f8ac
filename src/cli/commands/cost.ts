/** @module `drover cost <run>` and `drover usage`: flags here, the work in ../handlers/cost.ts and src/budget/reports.ts. */
import type { Command } from 'commander';
import { action, oneOf } from '../action.js';

// Spelled out (not imported from src/budget/reports.ts) so declaring the command loads nothing.
const COST_BY = ['phase', 'agent', 'model', 'token-class', 'request'] as const;
const USAGE_BY = ['workflow', 'day', 'model'] as const;

const handlers = () => import('../handlers/cost.js');

export function register(program: Command): void {
  program
    .command('cost <runId>')
    .description("what a run's model requests cost, from the ledger (unpriced models shown as unpriced, never $0)")
    .option('--by <grouping>', `break down by ${COST_BY.join(', ')} (default phase)`, oneOf('--by', COST_BY))
    .option('--json', 'JSON output: totalUsd, unpricedRequests, breakdown')
    .action(action<[string]>(async (runId, flags) => (await handlers()).costCommand(runId, flags)));

  program
    .command('usage')
    .description('spend across runs over a time window, from the ledger')
    .option('--since <when>', 'a duration back from now (7d, 12h) or a date (2026-11-01); default 7d')
    .option('--by <grouping>', `break down by ${USAGE_BY.join(', ')} (default day)`, oneOf('--by', USAGE_BY))
    .option(
      '--mode <modes>',
      'ledger modes counted: billed (all but sim and replay; default), all, or a comma list of proxy, record, replay, sim, reported',
    )
    .option('--json', 'JSON output: totalUsd, unpricedRequests, breakdown, notCounted')
    .action(action<[]>(async (flags) => (await handlers()).usageCommand(flags)));
}
