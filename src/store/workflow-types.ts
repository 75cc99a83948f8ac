/**
 * @module What the store keeps about workflows as a whole (schema v12, see sqlite/migrations.ts, the
 * workflows block): the tier a promotion granted, the evaluation attached (assert spec, golden trace),
 * the audit log of attachments and promotions, and per-name summaries of the runs the store has seen.
 * The inventory and its gates (src/inventory) are built from these reads.
 */

/** A workflow's row: what `drover workflows attach` and `promote` stored. Times are ms since the epoch. */
export interface WorkflowRecord {
  /** The workflow's name (`meta.name`; runs carry it). */
  name: string;
  /** The tier the last granted promotion recorded; null until one was granted. */
  tier: string | null;
  /** The owner the latest run declared when the promotion was granted. */
  owner: string | null;
  /** Absolute path of the assert spec (YAML) attached, or null. */
  specPath: string | null;
  /** Absolute path of the golden trace (JSON) attached, or null. */
  goldenPath: string | null;
  promotedAt: number | null;
  /** Who was granted the last promotion (DROVER_USER, else the OS user). */
  promotedBy: string | null;
}

/** An audit row: `attach` (a spec or golden recorded), `promote` (granted), `refused` (a promotion the gate refused). */
export interface WorkflowEvent {
  id: number;
  name: string;
  kind: 'promote' | 'attach' | 'refused';
  /** ms since the epoch. */
  at: number;
  actor: string;
  /** What happened: for `promote` `{ from, to }`, for `refused` `{ from, to, missing }`, for `attach` `{ spec | golden }`. */
  details: Record<string, unknown>;
}

/** The runs of one workflow name, summed. */
export interface WorkflowRunSummary {
  name: string;
  runs: number;
  completed: number;
  /** Runs that ended otherwise: failed, over budget, stopped. */
  failed: number;
  /** Still running or waiting for an answer. */
  open: number;
  /** Policy denials recorded in its runs' events (`type = 'policy'`, `kind = 'deny'`). */
  policyDenials: number;
  latest: { id: string; status: string; createdAt: number; scriptPath: string; settings: unknown };
}

export interface WorkflowStore {
  /** Every workflow name the runs table holds, with its runs summed; sorted by name. */
  summaries(): Promise<WorkflowRunSummary[]>;
  /** Ids of the newest `limit` runs of `name` with status `completed`, newest first. */
  completedRuns(name: string, limit: number): Promise<string[]>;
  /** The workflow's row, or undefined when nothing was attached or promoted yet. */
  get(name: string): Promise<WorkflowRecord | undefined>;
  /** Every stored workflow row, by name. */
  list(): Promise<WorkflowRecord[]>;
  /** Records an attached spec or golden path (the row is created if needed) and its `attach` event, in one transaction. */
  attach(name: string, attached: { specPath?: string; goldenPath?: string }, now: number, actor: string): Promise<WorkflowRecord>;
  /** Records a granted promotion (tier, owner, when, who) and its `promote` event, in one transaction. */
  promote(name: string, grant: { tier: string; owner: string; from: string }, now: number, actor: string): Promise<WorkflowRecord>;
  /** Records a refused promotion (`refused` event). */
  refused(name: string, details: Record<string, unknown>, now: number, actor: string): Promise<void>;
  /** The audit log, oldest first; only `name`'s rows when given. */
  events(name?: string): Promise<WorkflowEvent[]>;
}
