/** @module `drover store migrate` and `drover store verify`: flags here, the work in ../handlers/store.ts and src/store/migrate.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

const handlers = () => import('../handlers/store.js');

export function register(program: Command): void {
  const store = program.command('store').description('move a store between SQLite and PostgreSQL');
  store
    .command('migrate')
    .description('copy every table of a store into an empty or new one (SQLite ↔ PostgreSQL), then verify counts and checksums')
    .requiredOption('--to <location>', 'target: an SQLite file or postgres://… URL; must be empty or not exist yet')
    .option('--from <location>', 'source (default: the configured store: --store, DROVER_STORE, drover.config.json)')
    .option('--batch-size <rows>', 'rows per page and per INSERT (default 1000)', int('--batch-size', 1, 100_000))
    .option('--json', 'JSON output: per-table counts and checksums')
    .action(action<[]>(async (flags) => (await handlers()).migrateCommand(flags)));
  store
    .command('verify')
    .description('compare two stores table by table (row counts and checksums); changes neither')
    .requiredOption('--to <location>', 'the other store: an SQLite file or postgres://… URL')
    .option('--from <location>', 'one store (default: the configured store)')
    .option('--batch-size <rows>', 'rows per page read (default 1000)', int('--batch-size', 1, 100_000))
    .option('--json', 'JSON output: per-table counts and checksums')
    .action(action<[]>(async (flags) => (await handlers()).verifyCommand(flags)));
}
