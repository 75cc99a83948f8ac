/** @module `drover ui`: flags here, the work in ../handlers/ui.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

export function register(program: Command): void {
  program
    .command('ui')
    .description('the dashboard: live runs, agents, trace waterfall, cost, questions and the task board, on 127.0.0.1')
    .option('--port <port>', 'port to listen on (default: a free one, printed)', int('--port', 0))
    .option('--open', 'open the page in the default browser')
    .option('--list <id>', 'task list the board opens on (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
    .option('--json', 'print the URL as JSON')
    .action(action<[]>(async (f) => (await import('../handlers/ui.js')).uiCommand(f as never)));
}
