import type { LedgerEntry, LedgerSink } from '../budget/ledger-types.js';

/**
 * The ledger's table in the store: one row per model request (src/budget/ledger-types.ts).
 * `record` is the gateway's sink; the rest are the reads reports and caps are built from.
 */
export interface LedgerStore extends LedgerSink {
  /** Persists one row; resolves with its id. Never fenced: money spent is spent, whoever drives the run. */
  record(entry: LedgerEntry): Promise<number>;
  /** Every row of a run, in the order recorded. */
  listByRun(runId: string): Promise<LedgerEntry[]>;
}
