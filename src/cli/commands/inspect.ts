/** @module `drover runs`, `runs prune`, `status`, `answer`: flags here, the work in ../handlers/inspect.ts. */
import type { Command } from 'commander';
import { action, int, oneOf } from '../action.js';

export { RUN_STATES as RUN_STATUSES } from '../../workflow/inspect.js';

import { RUN_STATES as RUN_STATUSES } from '../../workflow/inspect.js';

const handlers = () => import('../handlers/inspect.js');

export function register(program: Command): void {
  const runs = program
    .command('runs')
    .description('list recent runs')
    .option('--limit <n>', 'how many', int('--limit'))
    .option('--status <status>', `only runs with this status: ${RUN_STATUSES.join(', ')}`, oneOf('--status', RUN_STATUSES))
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await handlers()).runsCommand(flags)));

  // `runs` parses the options after `prune` too (commander hands a subcommand only what its parent
  // does not know), so `--status` lands on `runs` with the same check; the handler reads the merged flags.
  runs
    .command('prune')
    .description('delete runs and everything of theirs (calls, usage, events, questions, spans); never a run another process is driving')
    .option('--status <status>', `only runs with this status: ${RUN_STATUSES.join(', ')}`, oneOf('--status', RUN_STATUSES))
    .option('--older-than <duration>', 'only runs created longer ago than this (e.g. 7d, 12h)')
    .option('--yes', 'delete; without it, list what would be deleted')
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await handlers()).pruneCommand(flags)));

  runs
    .command('delete <runId>')
    .description("a deletion request: remove a run's data entirely (ledger figures kept, labels cleared) and record that it did")
    .option('--yes', 'delete; without it, say what would be deleted')
    .option('--json', 'JSON output')
    .action(action<[string]>(async (runId, flags) => (await import('../handlers/retention.js')).runsDeleteCommand(runId, flags)));

  runs
    .command('deletions')
    .description('the deletions log: which runs were deleted or lost their content, when and by whom')
    .option('--limit <n>', 'how many, newest first', int('--limit'))
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await import('../handlers/retention.js')).deletionsCommand(flags)));

  program
    .command('status <runId>')
    .description('a run with its phases, agents and questions')
    .option('--json', 'JSON output')
    .action(action<[string]>(async (runId, flags) => (await handlers()).statusCommand(runId, flags)));

  program
    .command('answer <runId> <questionId> <text>')
    .description("answer a run's question; then `drover resume` continues it")
    .option('--json', 'JSON output')
    .action(action<[string, string, string]>(async (runId, q, text, flags) => (await handlers()).answerCommand(runId, q, text, flags)));
}
