/**
 * @module What the store offers retention (`drover gc`) and deletion (`drover runs delete`): the runs
 * with what retention needs to judge them, content dropping, whole-run deletion that keeps the ledger's
 * figures, and the `deletions` log (schema: see sqlite/migrations.ts, the deletions block).
 */

/** What drover removed from a run: rows touched per kind. */
export interface RemovedCounts {
  calls: number;
  spans: number;
  events: number;
  questions: number;
  /** Ledger rows kept with their figures but no longer naming a call, agent, phase, session or request. */
  ledgerAnonymised: number;
  /** Agent transcripts removed (every attempt of every call). */
  transcripts: number;
  runs: number;
}

/** One entry of the deletions log: what was removed, when, by whom — never any content. */
export interface DeletionRecord {
  id: number;
  runId: string;
  /** `delete`: `drover runs delete`; `gc-run`: retention removed the run; `gc-content`: retention dropped its content. */
  kind: 'delete' | 'gc-run' | 'gc-content' | 'prune';
  /** ms since epoch. */
  at: number;
  /** The OS user who ran the command. */
  actor: string;
  counts: RemovedCounts;
}

/** A run as retention sees it. */
export interface RetentionRun {
  id: string;
  name: string;
  settings: unknown;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** When retention dropped its content (null: never). */
  contentDroppedAt: number | null;
  /** The run's lease expiry, when it has one (a live lease means another process drives it). */
  leaseExpiresAt: number | null;
}

/** Span attributes that carry content (prompts, answers, commands): dropped with a run's content. */
export const CONTENT_ATTRIBUTES = [
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'drover.sh.command',
] as const;

export interface RetentionStore {
  /** Every run, oldest first. */
  runs(): Promise<RetentionRun[]>;
  /**
   * Drops a run's content — journal inputs, results and details, run result/args/script copy, question
   * texts and answers, log events, content attributes and events of its traces' spans — keeping the
   * run row, call rows (kind, label, status, times) and the ledger. Records a `gc-content` deletion.
   */
  dropContent(runId: string, now: number, actor: string, traceIdOf: (runId: string) => string): Promise<RemovedCounts>;
  /**
   * Removes a run entirely (calls, questions, events, spans of its traces, the run row) in one
   * transaction, keeping its ledger rows' figures with their labels cleared, and records the deletion.
   * `dryRun` counts without changing anything.
   * @throws NotFoundError (`NOT_FOUND`, exit 2) for an unknown run; RunLeaseError (`RUN_BUSY`, exit 5)
   *   when a live process holds the run's lease.
   */
  deleteRun(
    runId: string,
    options: { now: number; actor: string; kind: 'delete' | 'gc-run'; traceIdOf: (runId: string) => string; dryRun?: boolean },
  ): Promise<RemovedCounts>;
  /** When retention dropped the run's content (ms since epoch), or null (never, or no such run). */
  contentDroppedAt(runId: string): Promise<number | null>;
  /** The deletions log, newest first. */
  deletions(limit?: number): Promise<DeletionRecord[]>;
}
