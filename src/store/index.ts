import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { PriceOverrides } from '../budget/prices.js';
import type { SqliteSynchronous } from '../config/index.js';
import { clearDamageMark, guardStore, isCorruptionError, markDamaged, readDamageMark, StoreCorruptError } from './corruption.js';
import { isPostgresUrl, redactUrl } from './location.js';
import { PgDb } from './postgres/db.js';
import { inspectPostgres, PostgresStore } from './postgres/postgres-store.js';
import { inspectSqlite, SqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreHealth } from './types.js';

export type * from './control-types.js';
export {
  clearDamageMark,
  type DamageMark,
  damageMarkPath,
  isCorruptionError,
  readDamageMark,
  STORE_CORRUPT_EXIT_CODE,
  StoreCorruptError,
} from './corruption.js';
export type * from './job-types.js';
export { jobFits } from './job-types.js';
export type * from './ledger-types.js';
export { CLAIM_CANDIDATES, isClaimable, type RunClaim, type RunClaimRequest, type RunQueue } from './queue-types.js';
export type * from './reservation-types.js';
export { CONTENT_ATTRIBUTES, type DeletionRecord, type RemovedCounts, type RetentionRun, type RetentionStore } from './retention-types.js';
export type * from './span-types.js';
export { SPAN_KIND_NAMES, STATUS_NAMES } from './span-types.js';

import { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';

export { isPostgresUrl, redactUrl } from './location.js';
export { PG_SCHEMA_VERSION } from './postgres/migrations.js';

import { PG_SCHEMA_VERSION } from './postgres/migrations.js';

export { PgSchemaError, PostgresStore } from './postgres/postgres-store.js';
export { STOPPED_ERROR } from './sqlite/control-store.js';
export { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';
export { collapseRetries, duplicateSpanIds, encodeSpanRow, encodeSpanRows } from './sqlite/span-store.js';
export { SqliteStore, StoreSchemaError } from './sqlite/sqlite-store.js';
export { TaskRuleError } from './task-errors.js';
export type * from './task-types.js';
export type * from './transcript-types.js';
export type * from './types.js';
export type * from './workflow-types.js';

export interface CreateStoreOptions {
  synchronous?: SqliteSynchronous;
  /** Price overrides (`drover.config.json` `prices`) for the usage rows `recordCalls` writes to the ledger. */
  prices?: PriceOverrides;
  /**
   * `read`: the caller only reads, so a store marked damaged is still opened (read-only, without
   * migrating) and its writes are refused; `write` (default): a store marked damaged is refused
   * before the file is touched.
   */
  access?: 'read' | 'write';
}

/**
 * Opens (creating and migrating if needed) the store at `location`. Any SQLite corruption error,
 * now or from a later operation, is `StoreCorruptError` (code `STORE_CORRUPT`, exit code 7) naming
 * the file, and leaves the `<location>.damaged` mark; a store with that mark is refused for
 * writing at once (also `StoreCorruptError`), and opened read-only for `access: 'read'`.
 */
export function createStore(location: string, options: CreateStoreOptions = {}): Store {
  if (isPostgresUrl(location)) return new PostgresStore(location, options.prices ? { prices: options.prices } : {});
  const damaged = readDamageMark(location);
  if (damaged && options.access !== 'read') throw new StoreCorruptError(location, damaged.finding, { refused: true });
  const prices = options.prices ? { prices: options.prices } : {};
  let store: SqliteStore;
  try {
    store = damaged
      ? new SqliteStore(location, { readonly: true, migrate: false, ...prices })
      : new SqliteStore(location, { synchronous: options.synchronous ?? 'normal', ...prices });
  } catch (err) {
    if (!isCorruptionError(err)) throw err;
    const finding = (err as Error).message;
    if (!damaged) markDamaged(location, finding, 'opening the store');
    throw new StoreCorruptError(location, finding, { cause: err });
  }
  return guardStore<Store>(store, location, damaged ? { damaged } : {});
}

/** A store that could not be inspected at all. */
function unreadable(location: string, problem: string, damage?: string): StoreHealth {
  return {
    ok: false,
    schemaVersion: null,
    expectedSchemaVersion: SQLITE_SCHEMA_VERSION,
    problems: [problem],
    facts: { location },
    ...(damage ? { damage } : {}),
  };
}

/**
 * Inspects a store without changing it; says in words what is wrong. Beside the file, it keeps the
 * `<location>.damaged` mark in step: written when the file is damaged (`health.damage`), removed
 * when a check found it readable and intact.
 */
export function diagnoseStore(location: string): StoreHealth {
  if (!existsSync(location)) {
    return unreadable(location, `no store at ${location} yet (drover run creates it)`);
  }
  const { health, checked } = inspect(location);
  if (health.damage) markDamaged(location, health.damage, 'doctor');
  else if (checked) clearDamageMark(location);
  return health;
}

/**
 * Inspects a PostgreSQL store without changing it (no migration): connection, server version,
 * schema version, in plain words. Never throws: a bad URL or a server that cannot be reached within
 * `connectTimeoutMs` (default 10 s) is a problem of the report. Every location it names is redacted.
 */
export async function diagnosePostgres(url: string, options: { connectTimeoutMs?: number } = {}): Promise<StoreHealth> {
  const location = redactUrl(url);
  let db: PgDb;
  try {
    db = new PgDb(url, { max: 1, applicationName: 'drover doctor', connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
  } catch (err) {
    return { ...unreadable(location, `cannot use ${location}: ${(err as Error).message}`), expectedSchemaVersion: PG_SCHEMA_VERSION };
  }
  try {
    const health = await inspectPostgres(db, location);
    const password = passwordOf(url);
    // A driver message never quotes the password today; the report must not start to if one does.
    return password ? { ...health, problems: health.problems.map((p) => p.split(password).join('***')) } : health;
  } finally {
    await db.close().catch(() => {});
  }
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/** `checked`: the integrity check ran to its end (so an absent `damage` means the file is intact). */
function inspect(location: string): { health: StoreHealth; checked: boolean } {
  let db: Database.Database;
  try {
    db = new Database(location, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    const message = (err as Error).message;
    return {
      health: unreadable(location, `cannot open ${location}: ${message}`, isCorruptionError(err) ? message : undefined),
      checked: false,
    };
  }
  try {
    return { health: inspectSqlite(db, location), checked: true };
  } catch (err) {
    const message = (err as Error).message;
    const problem = `${location} is not a readable SQLite store: ${message}`;
    return { health: unreadable(location, problem, isCorruptionError(err) ? message : undefined), checked: false };
  } finally {
    db.close();
  }
}
