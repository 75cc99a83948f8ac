/** @module `drover gc`: flags here, the work in ../handlers/retention.ts (`runs delete` and `runs deletions` are registered with `runs`). */
import type { Command } from 'commander';
import { action } from '../action.js';

const handlers = () => import('../handlers/retention.js');

export function register(program: Command): void {
  program
    .command('gc')
    .description(
      "apply retention per workflow tier: drop old runs' content, delete runs past their retention (ledger figures kept), remove old cassettes",
    )
    .option('--dry-run', 'say what would be removed; change nothing')
    .option('--json', 'JSON output')
    .action(action<[]>(async (flags) => (await handlers()).gcCommand(flags)));
}
