/**
 * @module
 * `drover store migrate` and `drover store verify`: copy a whole store between SQLite and PostgreSQL
 * (either way, or SQLite → SQLite, PostgreSQL → PostgreSQL) table by table, at the SQL level — the
 * two schemas have the same tables and column names (src/store/sqlite/migrations.ts final shape =
 * src/store/postgres/migrations.ts v1) — and verify the copy by per-table row counts and checksums.
 *
 * How the copy goes:
 * - The source is read in one snapshot (an SQLite read transaction; a PostgreSQL REPEATABLE READ
 *   READ ONLY transaction), so a store in use is copied as it was at one instant.
 * - Every table is streamed in pages of `batchSize` rows by keyset pagination on its primary key
 *   (never OFFSET; memory stays bounded by two pages however many spans the store holds) and
 *   written one INSERT per page (multi-row VALUES on SQLite; column arrays `unnest`ed on
 *   PostgreSQL), identity ids included; the next page is read while the last one is written.
 * - The target is written in ONE transaction: a copy that fails half-way leaves the target empty.
 *   It must be empty (or not exist yet); otherwise nothing is written (`TARGET_NOT_EMPTY`).
 * - On PostgreSQL, identity sequences are set past the copied ids in that transaction, so later
 *   inserts do not collide.
 * - Verification reads the target back after the commit and compares each table's row count and
 *   checksum with the source's (computed from the rows as they were read for the copy).
 *
 * The checksum of a table is the sum modulo 2^256 of the SHA-256 of each row's canonical text
 * encoding (below). A sum does not depend on row order, so neither side sorts: text keys order
 * differently under PostgreSQL's collations and SQLite's byte order, and a per-table scan in the
 * primary key's own index order stays cheap on millions of rows. Every value is encoded by its
 * column's class — integer, real, text, blob — so `5` from SQLite, `'5'` from a PostgreSQL BIGINT
 * read as text and `5n` encode alike, while `NULL`, `''` and `'null'` stay distinct.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { DroverError, InternalError } from '../core/errors.js';
import { readDamageMark, StoreCorruptError } from './corruption.js';
import { createStore } from './index.js';
import { isPostgresUrl, redactUrl } from './location.js';
import { PgDb, scrubPassword } from './postgres/db.js';
import { migratePg, PG_SCHEMA_VERSION, readSchemaVersion } from './postgres/migrations.js';
import { PgSchemaError } from './postgres/postgres-store.js';
import { SQLITE_SCHEMA_VERSION } from './sqlite/migrations.js';
import { StoreSchemaError } from './sqlite/sqlite-store.js';

/** How a column's values are compared: drover's schemas use INTEGER/BIGINT, REAL/DOUBLE PRECISION and TEXT. */
export type ColumnClass = 'int' | 'real' | 'text' | 'blob';

export interface TableShape {
  name: string;
  /** Columns in the table's own order. */
  columns: { name: string; class: ColumnClass }[];
  /** Primary key columns in key order (every table of drover's schema has one). */
  primaryKey: string[];
}

/** Counts and checksums of one table on both sides. */
export interface TableCheck {
  table: string;
  sourceRows: number;
  targetRows: number;
  /** Hex SHA-256 sum (see the module comment); equal on both sides when the rows are equal. */
  sourceChecksum: string;
  targetChecksum: string;
  ok: boolean;
}

/** What `migrateStore` and `verifyStores` report. Locations are redacted (no password). */
export interface StoreComparison {
  from: string;
  to: string;
  fromKind: 'sqlite' | 'postgres';
  toKind: 'sqlite' | 'postgres';
  tables: TableCheck[];
  /** Rows in the source, all tables. */
  rows: number;
  /** Every table's count and checksum are equal. */
  ok: boolean;
  /** Tables whose count or checksum differ. */
  mismatched: string[];
  /** Text values holding U+0000, written to PostgreSQL with U+FFFD in its place (which cannot store U+0000); 0 otherwise. */
  nulReplaced: number;
  durationMs: number;
}

export interface MigrateOptions {
  /** Source store: an SQLite path or a PostgreSQL URL; must exist. */
  from: string;
  /** Target store: an SQLite path or a PostgreSQL URL; must be empty or not exist yet. */
  to: string;
  /** Rows per page read and per INSERT (default 1000; PostgreSQL INSERTs are also kept under 65,535 parameters). */
  batchSize?: number;
  /** Called for every page: the table and the rows of it written so far; the copy waits for a returned promise. */
  onProgress?: (progress: { table: string; rows: number }) => void | Promise<void>;
  /** Called after the copy is committed and before it is verified (tests corrupt the target here). */
  beforeVerify?: () => Promise<void> | void;
}

/** Thrown when the target of `migrateStore` holds rows: code `TARGET_NOT_EMPTY`, exit code 2; nothing was written. */
export class TargetNotEmptyError extends DroverError {
  /** Non-empty tables and their row counts. */
  readonly tables: Record<string, number>;
  constructor(location: string, tables: Record<string, number>) {
    const list = Object.entries(tables)
      .map(([t, n]) => `${t} (${n})`)
      .join(', ');
    super(
      'TARGET_NOT_EMPTY',
      `target store ${location} is not empty: ${list}; migrate copies only into an empty or new store (nothing was written)`,
      { exitCode: 2 },
    );
    this.tables = tables;
  }
}

const DEFAULT_BATCH = 1000;
/** Kept under SQLite's default SQLITE_MAX_VARIABLE_NUMBER (32,766). */
const SQLITE_MAX_PARAMS = 32_000;
const MOD = 1n << 256n;

/**
 * Copies the whole store at `from` into `to` (empty or new) and verifies the copy; see the module
 * comment. Resolves the comparison — `ok: false` with `mismatched` naming the tables that differ
 * (the copy stays in the target: inspect it, drop it, migrate again). Throws DroverError `SAME_STORE`
 * (exit 2) when both name the same store, `NO_STORE` (exit 2) when the source does not exist,
 * `TargetNotEmptyError` (`TARGET_NOT_EMPTY`, exit 2) when the target holds rows,
 * `StoreSchemaError`/`PgSchemaError` (`STORE_SCHEMA`, exit 2) for a store newer than this drover,
 * `STORE_UNREACHABLE` (exit 2) when a PostgreSQL server cannot be reached, `SCHEMA_MISMATCH` (exit 1)
 * when the two schemas do not have the same tables and columns, `COPY_FAILED` (exit 1, the target
 * left empty) when a row cannot be written, `StoreCorruptError` (exit 7) for an SQLite source marked
 * damaged, and InternalError (exit 70) should a table's pages not hold every row its COUNT(*) says.
 */
export async function migrateStore(options: MigrateOptions): Promise<StoreComparison> {
  const started = Date.now();
  const batch = checkBatch(options.batchSize);
  if (sameStore(options.from, options.to)) {
    throw new DroverError('SAME_STORE', `--from and --to name the same store (${redactUrl(options.to)})`, { exitCode: 2 });
  }
  const source = await openSource(options.from);
  let target: Side | undefined;
  try {
    target = await openTarget(options.to);
    const sourceTables = await source.tables();
    const targetTables = await target.tables();
    const plan = planCopy(sourceTables, targetTables, await target.parents(), source.location, target.location);
    const digests = new Map<string, TableDigest>();
    await source.beginSnapshot();
    try {
      await target.beginWrite(plan.map((t) => t.name));
      try {
        const nonEmpty = await countNonEmpty(target, plan);
        if (Object.keys(nonEmpty).length > 0) throw new TargetNotEmptyError(target.location, nonEmpty);
        for (const table of plan) {
          const digest = new TableDigest(table);
          digests.set(table.name, digest);
          // The next page is read (and hashed) while the server writes this one.
          let writing: Promise<void> = Promise.resolve();
          for await (const rows of source.pages(table, batch)) {
            for (const row of rows) digest.add(row);
            await writing;
            await options.onProgress?.({ table: table.name, rows: digest.count - rows.length });
            writing = target.insert(table, rows);
            writing.catch(() => {}); // awaited above or below; not an unhandled rejection meanwhile
          }
          await writing;
          await options.onProgress?.({ table: table.name, rows: digest.count });
          await assertAllRead(source, table.name, digest.count);
        }
        await target.finishWrite(plan);
        await target.commit();
      } catch (err) {
        await target.rollback();
        throw err;
      }
    } finally {
      await source.endSnapshot();
    }
    await options.beforeVerify?.();
    const tables: TableCheck[] = [];
    for (const table of plan) {
      const after = await digestTable(target, table, batch);
      tables.push(check(table.name, digests.get(table.name) as TableDigest, after));
    }
    return comparison(source, target, tables, started);
  } finally {
    await target?.close();
    await source.close();
  }
}

/**
 * Compares two existing stores table by table (counts and checksums, as `migrateStore` verifies),
 * changing neither. A table missing on one side counts as a mismatch. Throws `NO_STORE` (exit 2)
 * when either does not exist, `STORE_UNREACHABLE` (exit 2) for a server that cannot be reached.
 */
export async function verifyStores(options: { from: string; to: string; batchSize?: number }): Promise<StoreComparison> {
  const started = Date.now();
  const batch = checkBatch(options.batchSize);
  const source = await openSource(options.from, { upgrade: false });
  let target: Side | undefined;
  try {
    target = await openSource(options.to, { upgrade: false });
    const sourceTables = await source.tables();
    const targetTables = await target.tables();
    const names = [...new Set([...sourceTables.keys(), ...targetTables.keys()])].sort();
    const tables: TableCheck[] = [];
    for (const name of names) {
      const s = sourceTables.get(name);
      const t = targetTables.get(name);
      const shape = s ?? (t as TableShape);
      if (s && t) assertSameShape(s, t, source.location, target.location);
      const a = s ? await digestTable(source, shape, batch) : new TableDigest(shape);
      const b = t ? await digestTable(target, shape, batch) : new TableDigest(shape);
      tables.push(check(name, a, b));
    }
    return comparison(source, target, tables, started);
  } finally {
    await target?.close();
    await source.close();
  }
}

function checkBatch(batch: number | undefined): number {
  const n = batch ?? DEFAULT_BATCH;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new DroverError('INVALID_INPUT', `batch size must be a whole number ≥ 1, not ${n}`, { exitCode: 2 });
  return n;
}

function sameStore(a: string, b: string): boolean {
  if (isPostgresUrl(a) !== isPostgresUrl(b)) return false;
  if (!isPostgresUrl(a)) return resolve(a) === resolve(b);
  try {
    const [x, y] = [new URL(a), new URL(b)];
    const schema = (u: URL) => u.searchParams.get('schema') ?? 'public';
    return x.host === y.host && x.pathname === y.pathname && schema(x) === schema(y);
  } catch {
    return a === b;
  }
}

function comparison(source: Side, target: Side, tables: TableCheck[], started: number): StoreComparison {
  const mismatched = tables.filter((t) => !t.ok).map((t) => t.table);
  return {
    from: source.location,
    to: target.location,
    fromKind: source.kind,
    toKind: target.kind,
    tables,
    rows: tables.reduce((n, t) => n + t.sourceRows, 0),
    ok: mismatched.length === 0,
    mismatched,
    nulReplaced: target.nulReplaced,
    durationMs: Date.now() - started,
  };
}

function check(table: string, a: TableDigest, b: TableDigest): TableCheck {
  const sourceChecksum = a.hex();
  const targetChecksum = b.hex();
  return {
    table,
    sourceRows: a.count,
    targetRows: b.count,
    sourceChecksum,
    targetChecksum,
    ok: a.count === b.count && sourceChecksum === targetChecksum,
  };
}

async function digestTable(side: Side, table: TableShape, batch: number): Promise<TableDigest> {
  const digest = new TableDigest(table);
  await side.beginSnapshot();
  try {
    for await (const rows of side.pages(table, batch)) for (const row of rows) digest.add(row);
    await assertAllRead(side, table.name, digest.count);
  } finally {
    await side.endSnapshot();
  }
  return digest;
}

/**
 * The pages of a table held every row its COUNT(*) says (same snapshot): a check of the reading
 * itself, so that a page skipped on the way can never look like an equal copy. InternalError otherwise.
 */
async function assertAllRead(side: Side, table: string, read: number): Promise<void> {
  const n = await side.count(table);
  if (n !== read) throw new InternalError(`reading table ${table} of ${side.location} returned ${read} rows, but it holds ${n}`);
}

async function countNonEmpty(side: Side, tables: readonly TableShape[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const n = await side.count(t.name);
    if (n > 0) out[t.name] = n;
  }
  return out;
}

/**
 * The tables to copy, parents before children (by the target's foreign keys). Every source table
 * must exist on the target with the same columns (by name and class) and primary key; a table only
 * the target has is left empty.
 */
function planCopy(
  source: Map<string, TableShape>,
  target: Map<string, TableShape>,
  parents: Map<string, string[]>,
  from: string,
  to: string,
): TableShape[] {
  for (const [name, s] of source) {
    const t = target.get(name);
    if (!t) {
      throw new DroverError('SCHEMA_MISMATCH', `table ${name} of ${from} does not exist in ${to}: the two schemas differ (a drover bug)`);
    }
    assertSameShape(s, t, from, to);
  }
  const ordered: TableShape[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (seen.has(name) || !source.has(name)) return;
    if (path.includes(name)) return; // a cycle of foreign keys: none in drover's schema; keep the order found
    for (const p of parents.get(name) ?? []) visit(p, [...path, name]);
    seen.add(name);
    ordered.push(source.get(name) as TableShape);
  };
  for (const name of [...source.keys()].sort()) visit(name, []);
  return ordered;
}

function assertSameShape(s: TableShape, t: TableShape, from: string, to: string): void {
  const describe = (x: TableShape) => x.columns.map((c) => `${c.name} ${c.class}`).sort();
  const a = describe(s);
  const b = describe(t);
  const onlyA = a.filter((c) => !b.includes(c));
  const onlyB = b.filter((c) => !a.includes(c));
  if (onlyA.length > 0 || onlyB.length > 0) {
    const parts = [
      onlyA.length > 0 ? `only in ${from}: ${onlyA.join(', ')}` : '',
      onlyB.length > 0 ? `only in ${to}: ${onlyB.join(', ')}` : '',
    ].filter(Boolean);
    throw new DroverError('SCHEMA_MISMATCH', `table ${s.name} has different columns (${parts.join('; ')}): the two schemas differ`);
  }
  if (s.primaryKey.join(',') !== t.primaryKey.join(',')) {
    throw new DroverError(
      'SCHEMA_MISMATCH',
      `table ${s.name} has primary key (${s.primaryKey.join(', ')}) in ${from} but (${t.primaryKey.join(', ')}) in ${to}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Checksums

/**
 * Count and order-independent checksum of a table's rows (see the module comment). Rows are
 * arrays in the table's column order, as `Side.pages` yields them.
 */
export class TableDigest {
  count = 0;
  private sum = 0n;
  private readonly classes: ColumnClass[];
  constructor(table: TableShape) {
    this.classes = table.columns.map((c) => c.class);
  }
  add(row: readonly unknown[]): void {
    this.count++;
    const h = createHash('sha256').update(encodeRow(row, this.classes)).digest('hex');
    this.sum = (this.sum + BigInt(`0x${h}`)) % MOD;
  }
  hex(): string {
    return this.sum.toString(16).padStart(64, '0');
  }
}

/** A row's canonical text: each value `<length>:<text>`, the text tagged by class (`N` for NULL). */
export function encodeRow(row: readonly unknown[], classes: readonly ColumnClass[]): string {
  let out = '';
  for (let i = 0; i < classes.length; i++) {
    const v = canonicalValue(row[i], classes[i] as ColumnClass);
    out += `${v.length}:${v}`;
  }
  return out;
}

/**
 * One value's canonical text: NULL → `N`; integers and reals → `n` + the exact decimal (`5`, `5n` and
 * `'5'` alike; a real in JavaScript's shortest round-trip form); text → `s` + the text; blobs → `b` + hex.
 */
export function canonicalValue(v: unknown, cls: ColumnClass): string {
  if (v === null || v === undefined) return 'N';
  switch (cls) {
    case 'int':
    case 'real':
      return `n${canonicalNumber(v)}`;
    case 'text':
      return `s${noNul(Buffer.isBuffer(v) ? v.toString('utf8') : String(v))}`;
    case 'blob':
      return `b${Buffer.isBuffer(v) ? v.toString('hex') : Buffer.from(String(v)).toString('hex')}`;
  }
}

/**
 * PostgreSQL text cannot hold U+0000; drover's PostgreSQL store writes U+FFFD in its place (JSON
 * columns need nothing: JSON text escapes it as `\u0000`). migrate writes the same, and the checksum
 * reads U+0000 as U+FFFD, so such a copy verifies equal; `StoreComparison.nulReplaced` counts the values.
 */
function noNul(s: string): string {
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

function canonicalNumber(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v).toString() : String(v);
  const s = String(v).trim();
  if (/^[+-]?\d+$/.test(s)) return BigInt(s).toString();
  const n = Number(s);
  if (s !== '' && !Number.isNaN(n)) return canonicalNumber(n);
  return `?${s}`;
}

// ---------------------------------------------------------------------------------------------
// The two kinds of store, at the SQL level

/**
 * One store as migrate reads and writes it: tables by catalog, pages of rows as arrays in column
 * order (integers exact: BigInt from SQLite, decimal text from PostgreSQL), and one write transaction.
 */
interface Side {
  readonly kind: 'sqlite' | 'postgres';
  /** Redacted. */
  readonly location: string;
  /** Text values written with U+0000 replaced by U+FFFD (PostgreSQL targets only). */
  readonly nulReplaced: number;
  schemaVersion(): Promise<number>;
  /** drover's tables (not the version table), by name. */
  tables(): Promise<Map<string, TableShape>>;
  /** For each table, the tables its foreign keys point at. */
  parents(): Promise<Map<string, string[]>>;
  count(table: string): Promise<number>;
  beginSnapshot(): Promise<void>;
  endSnapshot(): Promise<void>;
  pages(table: TableShape, batch: number): AsyncIterable<unknown[][]>;
  /** Starts the write transaction, holding every table of `tables` against other writers. */
  beginWrite(tables: string[]): Promise<void>;
  insert(table: TableShape, rows: unknown[][]): Promise<void>;
  finishWrite(tables: readonly TableShape[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** SQLite's column affinity rules (https://www.sqlite.org/datatype3.html#determination_of_column_affinity). */
function sqliteClass(declared: string): ColumnClass {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'int';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t === '' || t.includes('BLOB')) return 'blob';
  return 'real';
}

function pgClass(dataType: string): ColumnClass {
  if (['bigint', 'integer', 'smallint'].includes(dataType)) return 'int';
  if (['double precision', 'real', 'numeric'].includes(dataType)) return 'real';
  if (dataType === 'bytea') return 'blob';
  return 'text';
}

class SqliteSide implements Side {
  readonly kind = 'sqlite';
  readonly nulReplaced = 0;
  private readonly db: Database.Database;
  private readonly inserts = new Map<string, Database.Statement>();
  constructor(
    readonly location: string,
    readonly: boolean,
  ) {
    this.db = new Database(location, { readonly, fileMustExist: true });
    this.db.pragma('busy_timeout = 10000');
    if (!readonly) this.db.pragma('foreign_keys = ON');
  }
  async schemaVersion(): Promise<number> {
    return this.db.pragma('user_version', { simple: true }) as number;
  }
  async tables(): Promise<Map<string, TableShape>> {
    const names = this.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
      .pluck()
      .all() as string[];
    const out = new Map<string, TableShape>();
    for (const name of names) {
      const cols = this.db.prepare(`SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`).all(name) as {
        name: string;
        type: string;
        pk: number;
      }[];
      out.set(name, {
        name,
        columns: cols.map((c) => ({ name: c.name, class: sqliteClass(c.type) })),
        primaryKey: cols
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => c.name),
      });
    }
    return out;
  }
  async parents(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const name of (await this.tables()).keys()) {
      const rows = this.db.prepare('SELECT DISTINCT "table" AS parent FROM pragma_foreign_key_list(?)').pluck().all(name) as string[];
      out.set(name, rows);
    }
    return out;
  }
  async count(table: string): Promise<number> {
    return Number(
      this.db
        .prepare(`SELECT COUNT(*) FROM ${quote(table)}`)
        .pluck()
        .get(),
    );
  }
  async beginSnapshot(): Promise<void> {
    this.db.exec('BEGIN');
  }
  async endSnapshot(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('COMMIT');
  }
  async *pages(table: TableShape, batch: number): AsyncIterable<unknown[][]> {
    const cols = table.columns.map((c) => quote(c.name)).join(', ');
    const pk = table.primaryKey.map(quote);
    const keyIdx = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
    const order = pk.join(', ');
    const first = this.db.prepare(`SELECT ${cols} FROM ${quote(table.name)} ORDER BY ${order} LIMIT ?`);
    const next = this.db.prepare(
      `SELECT ${cols} FROM ${quote(table.name)} WHERE (${order}) > (${pk.map(() => '?').join(', ')}) ORDER BY ${order} LIMIT ?`,
    );
    for (const s of [first, next]) s.raw(true).safeIntegers(true);
    let last: unknown[] | undefined;
    for (;;) {
      const rows = (last ? next.all(...keyIdx.map((i) => last?.[i]), batch) : first.all(batch)) as unknown[][];
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < batch) return;
      last = rows[rows.length - 1];
    }
  }
  async beginWrite(): Promise<void> {
    // IMMEDIATE: the write lock first, so no other process writes between the emptiness check and the copy.
    this.db.exec('BEGIN IMMEDIATE');
  }
  async insert(table: TableShape, rows: unknown[][]): Promise<void> {
    const width = table.columns.length;
    const per = Math.max(1, Math.min(rows.length, Math.floor(SQLITE_MAX_PARAMS / width), 500));
    const classes = table.columns.map((c) => c.class);
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      const values: unknown[] = [];
      for (const row of chunk) for (let c = 0; c < width; c++) values.push(toSqlite(row[c], classes[c] as ColumnClass));
      try {
        this.statement(table, chunk.length).run(values);
      } catch (err) {
        throw copyFailed(table.name, this.location, err);
      }
    }
  }
  private statement(table: TableShape, n: number): Database.Statement {
    const key = `${table.name}\0${n}`;
    let s = this.inserts.get(key);
    if (!s) {
      const one = `(${table.columns.map(() => '?').join(', ')})`;
      s = this.db.prepare(
        `INSERT INTO ${quote(table.name)} (${table.columns.map((c) => quote(c.name)).join(', ')}) VALUES ${Array(n).fill(one).join(', ')}`,
      );
      this.inserts.set(key, s);
    }
    return s;
  }
  async finishWrite(): Promise<void> {}
  async commit(): Promise<void> {
    this.db.exec('COMMIT');
  }
  async rollback(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** A value read from either side, as better-sqlite3 binds it: integers as BigInt (exact). */
function toSqlite(v: unknown, cls: ColumnClass): unknown {
  if (v === null || v === undefined) return null;
  if (cls === 'int' && typeof v === 'string' && /^[+-]?\d+$/.test(v)) return BigInt(v);
  if (cls === 'real' && typeof v === 'string') return Number(v);
  return v;
}

/** A value read from either side, as node-postgres sends it: BigInt as its decimal text. */
function toPg(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function copyFailed(table: string, location: string, err: unknown): DroverError {
  const message = (err as Error).message;
  return new DroverError(
    'COPY_FAILED',
    `copying table ${table} into ${location} failed: ${message}; nothing was written (the target is left as it was)`,
    { cause: err },
  );
}

class PgSide implements Side {
  readonly kind = 'postgres';
  readonly location: string;
  readonly db: PgDb;
  private client: pg.PoolClient | undefined;
  private tableCache: Map<string, TableShape> | undefined;
  /** Each table's columns' PostgreSQL types (`bigint`, `text`, `double precision`), for the INSERT's casts. */
  private readonly pgTypes = new Map<string, Map<string, string>>();
  nulReplaced = 0;
  constructor(private readonly url: string) {
    this.location = redactUrl(url);
    this.db = new PgDb(url, { max: 1, applicationName: 'drover store migrate' });
  }
  /** Connects; a server that cannot be reached is `STORE_UNREACHABLE` (exit 2), the password left out. */
  async connect(): Promise<void> {
    try {
      this.client = await this.db.pool.connect();
    } catch (err) {
      throw new DroverError('STORE_UNREACHABLE', `cannot connect to ${this.location}: ${scrubPassword((err as Error).message, this.url)}`, {
        exitCode: 2,
        cause: err,
      });
    }
  }
  private get c(): pg.PoolClient {
    if (!this.client) throw new Error('PgSide used before connect()');
    return this.client;
  }
  async schemaVersion(): Promise<number> {
    return readSchemaVersion(this.c);
  }
  async migrate(): Promise<number> {
    this.tableCache = undefined;
    return migratePg(this.c, this.db.schema);
  }
  async tables(): Promise<Map<string, TableShape>> {
    if (this.tableCache) return this.tableCache;
    const cols = (
      await this.c.query<{ table_name: string; column_name: string; data_type: string }>(
        `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
         WHERE c.table_schema = current_schema() AND c.table_name <> 'drover_schema'
         ORDER BY c.table_name, c.ordinal_position`,
      )
    ).rows;
    const keys = (
      await this.c.query<{ table_name: string; column_name: string }>(
        `SELECT tc.table_name, k.column_name FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage k
           ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
         ORDER BY tc.table_name, k.ordinal_position`,
      )
    ).rows;
    const out = new Map<string, TableShape>();
    for (const c of cols) {
      const t = out.get(c.table_name) ?? { name: c.table_name, columns: [], primaryKey: [] };
      out.set(c.table_name, t);
      t.columns.push({ name: c.column_name, class: pgClass(c.data_type) });
      const types = this.pgTypes.get(c.table_name) ?? new Map<string, string>();
      types.set(c.column_name, c.data_type);
      this.pgTypes.set(c.table_name, types);
    }
    for (const k of keys) out.get(k.table_name)?.primaryKey.push(k.column_name);
    this.tableCache = out;
    return out;
  }
  async parents(): Promise<Map<string, string[]>> {
    const rows = (
      await this.c.query<{ child: string; parent: string }>(
        `SELECT DISTINCT ch.relname AS child, pa.relname AS parent FROM pg_constraint f
         JOIN pg_class ch ON ch.oid = f.conrelid JOIN pg_class pa ON pa.oid = f.confrelid
         JOIN pg_namespace n ON n.oid = ch.relnamespace
         WHERE f.contype = 'f' AND n.nspname = current_schema()`,
      )
    ).rows;
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.child, [...(out.get(r.child) ?? []), r.parent]);
    return out;
  }
  async count(table: string): Promise<number> {
    return Number((await this.c.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quote(table)}`)).rows[0]?.n ?? 0);
  }
  async beginSnapshot(): Promise<void> {
    await this.c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }
  async endSnapshot(): Promise<void> {
    await this.c.query('COMMIT');
  }
  async *pages(table: TableShape, batch: number): AsyncIterable<unknown[][]> {
    // Integers as decimal text: exact whatever their size (the pool's parser makes BIGINT a JS number).
    // Keys and order name the table's own columns (`src.`), never the text the select list makes of them.
    const cols = table.columns.map((c) => (c.class === 'int' ? `src.${quote(c.name)}::text` : `src.${quote(c.name)}`)).join(', ');
    const pk = table.primaryKey.map((k) => `src.${quote(k)}`);
    const keyIdx = table.primaryKey.map((k) => table.columns.findIndex((c) => c.name === k));
    const order = pk.join(', ');
    const from = `${quote(table.name)} AS src`;
    let last: unknown[] | undefined;
    for (;;) {
      const text = last
        ? `SELECT ${cols} FROM ${from} WHERE (${order}) > (${pk.map((_, i) => `$${i + 1}`).join(', ')}) ORDER BY ${order} LIMIT ${batch}`
        : `SELECT ${cols} FROM ${from} ORDER BY ${order} LIMIT ${batch}`;
      const values = last ? keyIdx.map((i) => last?.[i]) : [];
      const rows = (await this.c.query<unknown[]>({ text, values, rowMode: 'array' })).rows as unknown[][];
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < batch) return;
      last = rows[rows.length - 1];
    }
  }
  async beginWrite(tables: string[]): Promise<void> {
    await this.c.query('BEGIN');
    // EXCLUSIVE: others may still read, nobody writes until the copy commits.
    if (tables.length > 0) await this.c.query(`LOCK TABLE ${tables.map(quote).join(', ')} IN EXCLUSIVE MODE`);
  }
  /**
   * One INSERT per page: a column array per column, `unnest`ed into rows — one parameter per column
   * instead of one per value, which PostgreSQL parses and plans far faster than a long VALUES list.
   */
  async insert(table: TableShape, rows: unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    const types = this.pgTypes.get(table.name);
    const arrays = table.columns.map((col, c) =>
      rows.map((row) => {
        const v = toPg(row[c]);
        if (col.class !== 'text' || typeof v !== 'string' || !v.includes('\u0000')) return v;
        this.nulReplaced++;
        return noNul(v);
      }),
    );
    const unnest = table.columns.map((col, i) => `$${i + 1}::${types?.get(col.name) ?? 'text'}[]`).join(', ');
    const text = `INSERT INTO ${quote(table.name)} (${table.columns.map((c) => quote(c.name)).join(', ')}) SELECT * FROM unnest(${unnest})`;
    try {
      await this.c.query(text, arrays);
    } catch (err) {
      throw copyFailed(table.name, this.location, err);
    }
  }
  /** Sets every identity sequence past the largest id copied, so the next insert does not collide. */
  async finishWrite(tables: readonly TableShape[]): Promise<void> {
    const identity = (
      await this.c.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`,
      )
    ).rows;
    const copied = new Set(tables.map((t) => t.name));
    for (const { table_name: t, column_name: c } of identity) {
      if (!copied.has(t)) continue;
      await this.c.query(
        `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(${quote(c)}) FROM ${quote(t)}), 0) + 1, false)`,
        [quote(t), c],
      );
    }
  }
  async commit(): Promise<void> {
    await this.c.query('COMMIT');
  }
  async rollback(): Promise<void> {
    await this.c.query('ROLLBACK').catch(() => {});
  }
  async close(): Promise<void> {
    this.client?.release();
    this.client = undefined;
    await this.db.close();
  }
}

/** The message without the URL's password, should a driver ever quote it. */

async function openPg(url: string): Promise<PgSide> {
  const side = new PgSide(url);
  try {
    await side.connect();
  } catch (err) {
    await side.close();
    throw err;
  }
  return side;
}

/**
 * Opens an existing store for reading. `upgrade` (default true): a store of an older schema is
 * brought up to date first, as any drover command that writes would.
 */
async function openSource(location: string, options: { upgrade?: boolean } = {}): Promise<Side> {
  const upgrade = options.upgrade ?? true;
  if (isPostgresUrl(location)) {
    const side = await openPg(location);
    try {
      const version = await side.schemaVersion();
      if (version === 0) {
        throw new DroverError('NO_STORE', `no drover store at ${side.location} (no drover tables in that database and schema)`, {
          exitCode: 2,
        });
      }
      if (version > PG_SCHEMA_VERSION) {
        throw new PgSchemaError(
          `store ${side.location} has schema version ${version}, newer than this drover understands (${PG_SCHEMA_VERSION}); upgrade drover`,
        );
      }
      if (version < PG_SCHEMA_VERSION && upgrade) await side.migrate();
      return side;
    } catch (err) {
      await side.close();
      throw err;
    }
  }
  if (!existsSync(location)) throw new DroverError('NO_STORE', `no drover store at ${location}`, { exitCode: 2 });
  const damaged = readDamageMark(location);
  if (damaged) throw new StoreCorruptError(location, damaged.finding, { refused: true });
  let side = new SqliteSide(location, true);
  const version = await side.schemaVersion();
  if (version > SQLITE_SCHEMA_VERSION) {
    await side.close();
    throw new StoreSchemaError(
      `store ${location} has schema version ${version}, newer than this drover understands (${SQLITE_SCHEMA_VERSION}); upgrade drover`,
    );
  }
  if (version < SQLITE_SCHEMA_VERSION && upgrade) {
    await side.close();
    await createStore(location).close();
    side = new SqliteSide(location, true);
  }
  return side;
}

/**
 * Opens the target for writing: refused, untouched, when it holds rows or is newer than this
 * drover; otherwise created or migrated to the current schema.
 */
async function openTarget(location: string): Promise<Side> {
  if (isPostgresUrl(location)) {
    const side = await openPg(location);
    try {
      const version = await side.schemaVersion();
      if (version > PG_SCHEMA_VERSION) {
        throw new PgSchemaError(
          `store ${side.location} has schema version ${version}, newer than this drover understands (${PG_SCHEMA_VERSION}); upgrade drover`,
        );
      }
      const nonEmpty = await countNonEmpty(side, [...(await side.tables()).values()]);
      if (Object.keys(nonEmpty).length > 0) throw new TargetNotEmptyError(side.location, nonEmpty);
      if (version < PG_SCHEMA_VERSION) await side.migrate();
      return side;
    } catch (err) {
      await side.close();
      throw err;
    }
  }
  if (existsSync(location)) {
    const probe = new SqliteSide(location, true);
    try {
      const version = await probe.schemaVersion();
      if (version > SQLITE_SCHEMA_VERSION) {
        throw new StoreSchemaError(
          `store ${location} has schema version ${version}, newer than this drover understands (${SQLITE_SCHEMA_VERSION}); upgrade drover`,
        );
      }
      const nonEmpty = await countNonEmpty(probe, [...(await probe.tables()).values()]);
      if (Object.keys(nonEmpty).length > 0) throw new TargetNotEmptyError(location, nonEmpty);
    } finally {
      await probe.close();
    }
  }
  // Creates the file (and its folder) or brings an empty one to the current schema.
  await createStore(location).close();
  return new SqliteSide(location, false);
}
