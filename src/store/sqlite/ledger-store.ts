import type Database from 'better-sqlite3';
import type { LedgerEntry } from '../../budget/ledger-types.js';
import { LEDGER_COLUMNS, type LedgerRow, ledgerFromRow, ledgerParams, type PendingRow, RUN_GROUPS } from '../ledger-rows.js';
import type { LedgerGroupSum, LedgerRunGrouping, LedgerStore, LedgerWindow, LedgerWindowGrouping } from '../ledger-types.js';

export { ledgerFromRow, ledgerParams } from '../ledger-rows.js';

/** The one INSERT of a ledger row (named parameters from `ledgerParams`), shared by every writer. */
export const LEDGER_INSERT = `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES (${LEDGER_COLUMNS.map((c) => `@${c}`).join(', ')})`;

/** Sums every group query selects (after its key and label). */
export const LEDGER_SUMS = `COUNT(*) AS requests, COALESCE(SUM(input_tokens),0) AS inputTokens, COALESCE(SUM(cache_read_tokens),0) AS cacheReadTokens,
  COALESCE(SUM(cache_write_5m_tokens),0) AS cacheWrite5mTokens, COALESCE(SUM(cache_write_1h_tokens),0) AS cacheWrite1hTokens,
  COALESCE(SUM(output_tokens),0) AS outputTokens, COALESCE(SUM(reasoning_tokens),0) AS reasoningTokens, SUM(cost_usd) AS costUsd,
  COALESCE(SUM(price_flag = 'unpriced'),0) AS unpricedRequests, COALESCE(SUM(price_flag = 'estimated'),0) AS estimatedRequests,
  COUNT(refused_by) AS refusedRequests`;

const WINDOW_GROUPS: Record<LedgerWindowGrouping, string> = {
  workflow: 'workflow',
  day: "strftime('%Y-%m-%d', ended_at / 1000, 'unixepoch')",
  model: 'model',
};

export class SqliteLedgerStore implements LedgerStore {
  private readonly insert;
  private readonly insertBatch: (rows: Omit<LedgerRow, 'id'>[]) => number[];
  private pending: PendingRow[] = [];
  private flushScheduled = false;
  private readonly byRun;
  private readonly runSums: Record<LedgerRunGrouping, Database.Statement>;
  private readonly windowSums: Record<LedgerWindowGrouping, Database.Statement>;

  constructor(db: Database.Database) {
    this.insert = db.prepare(LEDGER_INSERT);
    this.insertBatch = db.transaction((rows: Omit<LedgerRow, 'id'>[]) => rows.map((r) => Number(this.insert.run(r).lastInsertRowid)));
    this.byRun = db.prepare('SELECT * FROM ledger WHERE run_id = ? ORDER BY id');
    const each = <K extends string, V>(o: Record<K, V>, f: (v: V) => Database.Statement) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v as V)])) as Record<K, Database.Statement>;
    this.runSums = each(RUN_GROUPS, (g) =>
      db.prepare(
        `SELECT ${g.key} AS key, ${g.label} AS label, ${LEDGER_SUMS} FROM ledger WHERE run_id = ? GROUP BY ${g.key} ORDER BY MIN(id)`,
      ),
    );
    this.windowSums = each(WINDOW_GROUPS, (expr) =>
      db.prepare(
        `SELECT ${expr} AS key, ${expr} AS label, ${LEDGER_SUMS} FROM ledger
         WHERE ended_at >= @since AND ended_at < @until AND (@modes IS NULL OR instr(@modes, ',' || mode || ',') > 0) GROUP BY 1 ORDER BY 1`,
      ),
    );
  }

  async sumsByRun(runId: string, by: LedgerRunGrouping): Promise<LedgerGroupSum[]> {
    return this.runSums[by].all(runId) as LedgerGroupSum[];
  }

  async sumsInWindow(window: LedgerWindow, by: LedgerWindowGrouping): Promise<LedgerGroupSum[]> {
    const modes = window.modes ? `,${window.modes.join(',')},` : null;
    return this.windowSums[by].all({ since: window.since, until: window.until, modes }) as LedgerGroupSum[];
  }

  /**
   * Writes a row; resolves with its id once it is committed. Rows recorded in the same turn of
   * the event loop share one transaction (a gateway at 200 concurrent streams ends many requests
   * per turn: one commit instead of one per row). A batch that fails is retried row by row, so
   * one bad row rejects only its own promise.
   */
  record(entry: LedgerEntry): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ params: ledgerParams(entry), resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits the rows waiting for a batch (also called before the store closes). */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let ids: number[] | null = null;
    try {
      ids = this.insertBatch(batch.map((b) => b.params));
    } catch {
      ids = null;
    }
    for (const [i, b] of batch.entries()) {
      if (ids) {
        b.resolve(ids[i] as number);
        continue;
      }
      try {
        b.resolve(Number(this.insert.run(b.params).lastInsertRowid));
      } catch (err) {
        b.reject(err);
      }
    }
  }

  async listByRun(runId: string): Promise<LedgerEntry[]> {
    return (this.byRun.all(runId) as LedgerRow[]).map(ledgerFromRow);
  }
}
