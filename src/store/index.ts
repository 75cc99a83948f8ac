import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { PriceOverrides } from '../budget/prices.js';
import type { SqliteSynchronous } from '../config/index.js';
import { inspectSqlite, SqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreHealth } from './types.js';

export type * from './ledger-types.js';
export type * from './reservation-types.js';
export type * from './span-types.js';
export { SPAN_KIND_NAMES, STATUS_NAMES } from './span-types.js';
export { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';
export { collapseRetries, duplicateSpanIds, encodeSpanRow, encodeSpanRows } from './sqlite/span-store.js';
export { SqliteStore, StoreSchemaError } from './sqlite/sqlite-store.js';
export { TaskRuleError } from './task-errors.js';
export type * from './task-types.js';
export type * from './types.js';

export interface CreateStoreOptions {
  synchronous?: SqliteSynchronous;
  /** Price overrides (`drover.config.json` `prices`) for the usage rows `recordCalls` writes to the ledger. */
  prices?: PriceOverrides;
}

/** Opens (creating and migrating if needed) the store at `location`. */
export function createStore(location: string, options: CreateStoreOptions = {}): Store {
  return new SqliteStore(location, { synchronous: options.synchronous ?? 'normal', ...(options.prices ? { prices: options.prices } : {}) });
}

/** A store that could not be inspected at all. */
function unreadable(location: string, problem: string): StoreHealth {
  return { ok: false, schemaVersion: 0, expectedSchemaVersion: 0, problems: [problem], facts: { location } };
}

/** Inspects a store without changing it; says in words what is wrong. */
export function diagnoseStore(location: string): StoreHealth {
  if (!existsSync(location)) {
    return unreadable(location, `no store at ${location} yet (drover run creates it)`);
  }
  let db: Database.Database;
  try {
    db = new Database(location, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    return unreadable(location, `cannot open ${location}: ${(err as Error).message}`);
  }
  try {
    return inspectSqlite(db, location);
  } catch (err) {
    return unreadable(location, `${location} is not a readable SQLite store: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
