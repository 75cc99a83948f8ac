/** @module PostgreSQL side of the ledger (port of src/store/sqlite/ledger-store.ts; same table, same sums). */
import type { LedgerEntry } from '../../budget/ledger-types.js';
import { LEDGER_COLUMNS, type LedgerRow, ledgerFromRow, ledgerParams, type PendingRow, RUN_GROUPS } from '../ledger-rows.js';
import type { LedgerGroupSum, LedgerRunGrouping, LedgerStore, LedgerWindow, LedgerWindowGrouping } from '../ledger-types.js';
import type { PgDb, Queryable } from './db.js';

/** Rows per INSERT statement: 25 columns each, well below PostgreSQL's 65,535 parameters per statement. */
const ROWS_PER_INSERT = 1000;

/**
 * Refuses a value SQLite cannot bind (an object, array, boolean), which node-postgres would
 * otherwise store as its JSON text: a malformed entry fails on both stores alike.
 * @throws TypeError naming the column
 */
function checkBindable(row: Omit<LedgerRow, 'id'>): void {
  for (const c of LEDGER_COLUMNS) {
    const v: unknown = row[c];
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') continue;
    throw new TypeError(`ledger row: ${c} must be a number, a string or null, not ${Array.isArray(v) ? 'an array' : typeof v}`);
  }
}

/**
 * Inserts ledger rows with one multi-row INSERT per `ROWS_PER_INSERT` rows; resolves with their ids
 * in the order of `rows`. Ids come from the identity column, which numbers the rows in VALUES order,
 * so the sorted ids of the RETURNING set are the rows' ids in order whatever order RETURNING gives.
 * Run it in a transaction (`q` from `PgDb.tx`) when more than one statement must commit together.
 */
export async function insertLedgerRows(q: Queryable, rows: readonly Omit<LedgerRow, 'id'>[]): Promise<number[]> {
  for (const r of rows) checkBindable(r);
  const ids: number[] = [];
  for (let from = 0; from < rows.length; from += ROWS_PER_INSERT) {
    const chunk = rows.slice(from, from + ROWS_PER_INSERT);
    const params: unknown[] = [];
    const tuples = chunk.map((r) => {
      const start = params.length;
      for (const c of LEDGER_COLUMNS) params.push(r[c]);
      return `(${LEDGER_COLUMNS.map((_, i) => `$${start + i + 1}`).join(', ')})`;
    });
    const res = await q.query<{ id: number }>(
      `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} RETURNING id`,
      params,
    );
    ids.push(...res.rows.map((r) => r.id).sort((a, b) => a - b));
  }
  return ids;
}

/** Inserts one ledger entry; resolves with its row id. */
export async function insertLedgerEntry(q: Queryable, entry: LedgerEntry): Promise<number> {
  return (await insertLedgerRows(q, [ledgerParams(entry)]))[0] as number;
}

/**
 * Sums every group query selects (after its key and label); the same figures as SQLite's LEDGER_SUMS.
 * USD with `drover_sum` (schema v1): SQLite's compensated summation, where PostgreSQL's SUM(float8)
 * adds plainly and differs from SQLite in the last bits of most sums of many rows.
 */
const LEDGER_SUMS = `COUNT(*) AS requests, COALESCE(SUM(input_tokens),0) AS "inputTokens", COALESCE(SUM(cache_read_tokens),0) AS "cacheReadTokens",
  COALESCE(SUM(cache_write_5m_tokens),0) AS "cacheWrite5mTokens", COALESCE(SUM(cache_write_1h_tokens),0) AS "cacheWrite1hTokens",
  COALESCE(SUM(output_tokens),0) AS "outputTokens", COALESCE(SUM(reasoning_tokens),0) AS "reasoningTokens", drover_sum(cost_usd) AS "costUsd",
  COUNT(*) FILTER (WHERE price_flag = 'unpriced') AS "unpricedRequests", COUNT(*) FILTER (WHERE price_flag = 'estimated') AS "estimatedRequests",
  COUNT(refused_by) AS "refusedRequests"`;

/**
 * Window group keys. `day` is SQLite's `strftime('%Y-%m-%d', ended_at / 1000, 'unixepoch')`: whole
 * seconds (integer division, as SQLite divides integers) read as a UTC date, whatever the session's TimeZone.
 */
const WINDOW_GROUPS: Record<LedgerWindowGrouping, string> = {
  workflow: 'workflow',
  day: "to_char(to_timestamp(ended_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  model: 'model',
};

export class PgLedgerStore implements LedgerStore {
  private pending: PendingRow[] = [];
  private flushScheduled = false;
  /** Batches being written; `flush` waits for them too. */
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly db: PgDb) {}

  async sumsByRun(runId: string, by: LedgerRunGrouping): Promise<LedgerGroupSum[]> {
    const g = RUN_GROUPS[by];
    return this.db.rows<LedgerGroupSum>(
      `SELECT ${g.key} AS key, ${g.label} AS label, ${LEDGER_SUMS} FROM ledger WHERE run_id = $1 GROUP BY ${g.key} ORDER BY MIN(id)`,
      [runId],
    );
  }

  /**
   * Groups sorted as SQLite sorts them: byte order of the key (`COLLATE "C"`, not the database's
   * locale) with the rows that have none (null) first.
   */
  async sumsInWindow(window: LedgerWindow, by: LedgerWindowGrouping): Promise<LedgerGroupSum[]> {
    const expr = WINDOW_GROUPS[by];
    return this.db.rows<LedgerGroupSum>(
      `SELECT ${expr} AS key, ${expr} AS label, ${LEDGER_SUMS} FROM ledger
       WHERE ended_at >= $1 AND ended_at < $2 AND ($3::text[] IS NULL OR mode = ANY($3::text[]))
       GROUP BY 1 ORDER BY ${expr} COLLATE "C" NULLS FIRST`,
      [window.since, window.until, window.modes ? [...window.modes] : null],
    );
  }

  /**
   * Writes a row; resolves with its id once it is committed. Rows recorded in the same turn of
   * the event loop share one INSERT (a gateway at 200 concurrent streams ends many requests per
   * turn: one round trip and commit instead of one per row). A batch that fails is retried row by
   * row, so one bad row rejects only its own promise.
   */
  record(entry: LedgerEntry): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ params: ledgerParams(entry), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Commits the rows waiting for a batch and waits for batches being written (also called before the store closes). */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      const writing = this.write(batch);
      this.writing.add(writing);
      void writing.finally(() => this.writing.delete(writing));
    }
    await Promise.all(this.writing);
  }

  /** Never rejects: each row's promise carries its own outcome. */
  private async write(batch: PendingRow[]): Promise<void> {
    let ids: number[] | null = null;
    try {
      const rows = batch.map((b) => b.params);
      ids = rows.length > ROWS_PER_INSERT ? await this.db.tx((q) => insertLedgerRows(q, rows)) : await insertLedgerRows(this.db, rows);
    } catch {
      ids = null;
    }
    for (const [i, b] of batch.entries()) {
      if (ids) {
        b.resolve(ids[i] as number);
        continue;
      }
      try {
        b.resolve((await insertLedgerRows(this.db, [b.params]))[0] as number);
      } catch (err) {
        b.reject(err);
      }
    }
  }

  async listByRun(runId: string): Promise<LedgerEntry[]> {
    return (await this.db.rows<LedgerRow>('SELECT * FROM ledger WHERE run_id = $1 ORDER BY id', [runId])).map(ledgerFromRow);
  }
}
