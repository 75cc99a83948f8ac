import type { LedgerEntry, LedgerMode, LedgerSink } from '../budget/ledger-types.js';

/**
 * The ledger's table in the store: one row per model request (src/budget/ledger-types.ts).
 * `record` is the gateway's sink; the rest are the reads reports and caps are built from.
 */
export interface LedgerStore extends LedgerSink {
  /** Persists one row; resolves with its id. Never fenced: money spent is spent, whoever drives the run. */
  record(entry: LedgerEntry): Promise<number>;
  /** Every row of a run, in the order recorded. */
  listByRun(runId: string): Promise<LedgerEntry[]>;
  /** A run's rows summed per `by` group, groups in the order their first row was recorded. */
  sumsByRun(runId: string, by: LedgerRunGrouping): Promise<LedgerGroupSum[]>;
  /**
   * Rows that ended in `[since, until)` (ms since the epoch), every run and unattributed ones,
   * summed per `by` group (`day`: the UTC date `YYYY-MM-DD`), groups sorted by key. With `modes`,
   * only rows of those modes (`BILLED_MODES`: the ones a provider billed).
   */
  sumsInWindow(window: LedgerWindow, by: LedgerWindowGrouping): Promise<LedgerGroupSum[]>;
}

/** A time window of ledger rows (ms since the epoch, `[since, until)`), optionally of some gateway modes only. */
export interface LedgerWindow {
  since: number;
  until: number;
  /** Absent: every mode. */
  modes?: readonly LedgerMode[];
}

/** How `sumsByRun` groups a run's rows: by phase, agent call (`call_key`, labelled), or model. */
export type LedgerRunGrouping = 'phase' | 'agent' | 'model';

/** How `sumsInWindow` groups rows: by workflow name, UTC day, or model. */
export type LedgerWindowGrouping = 'workflow' | 'day' | 'model';

/** Sums of a group of ledger rows. Tokens are integers; USD is the sum of the rows' `costUsd`. */
export interface LedgerGroupSum {
  /** The group's value (phase, call key, model, workflow, day); null for rows without one. */
  key: string | null;
  /** For `agent`: the call's label. Otherwise the key. */
  label: string | null;
  requests: number;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** Sum of the priced and estimated rows' cost, USD; null when every row of the group is unpriced. */
  costUsd: number | null;
  /** Rows flagged `unpriced` (their cost is not in `costUsd`). */
  unpricedRequests: number;
  /** Rows flagged `estimated` (cut streams counted with the tokenizer). */
  estimatedRequests: number;
  /** Rows of requests drover's gateway refused before sending them (a cap or the policy; they cost nothing). */
  refusedRequests: number;
}
