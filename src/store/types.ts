import type { RunCaps } from '../budget/caps.js';
import type { ControlStore } from './control-types.js';
import type { AgentJobStore } from './job-types.js';
import type { LedgerStore } from './ledger-types.js';
import type { RunQueue } from './queue-types.js';
import type { ReservationStore } from './reservation-types.js';
import type { RetentionStore } from './retention-types.js';
import type { SpanStore, StoredSpan } from './span-types.js';
import type { TaskStore } from './task-types.js';
import type { TranscriptStore } from './transcript-types.js';
import type { WorkflowStore } from './workflow-types.js';

/** Store records: plain data, no I/O. Times are epoch milliseconds. */

/**
 * `budget_exceeded`: a cap refused a request the run needed (see src/budget/reservations.ts).
 * `stopped`: stopped on request from outside its process (`drover stop`, the dashboard; schema v10); `drover resume` continues it.
 * `queued`: waiting for a `drover worker` of its pool to take it (schema v13; src/worker).
 */
export type RunStatus = 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'budget_exceeded' | 'stopped';
export type ScriptForm = 'claude-code' | 'module';

export interface StoredError {
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  stack?: string;
}

/** What a run was started with; `resume` reuses it unless flags override. */
export interface RunSettings {
  backend: string;
  /** Model API of the builtin backend: anthropic (default), openai (Responses) or openai-chat. */
  provider?: 'anthropic' | 'openai' | 'openai-chat';
  model: string;
  /** The model was named (flag, config, env) rather than the backend's default. */
  modelExplicit?: boolean;
  concurrency: number;
  /** Model endpoint; absent when the run used an in-process sim gateway. */
  gateway?: string;
  /** Scenario file of the in-process sim gateway, absolute path. */
  sim?: string;
  /** `--record <dir>` / `--replay <dir>`: the run's gateway records into or answers from cassettes (absolute dir). */
  cassettes?: { mode: 'record' | 'replay'; dir: string };
  maxAgents: number;
  budgetTokens?: number;
  /** Spending caps of the run (flags and the script's `meta.budget`, the smaller where both set one); `resume` keeps them. */
  caps?: RunCaps;
  /** The task list `tasks.*` works on. */
  taskList?: string;
  /** The workflow's governance tier (`meta.tier`) when it declared one: retention (`drover gc`) and the inventory read it. */
  tier?: string;
  /** The workflow's owner (`meta.owner`) when it declared one. */
  owner?: string;
  /** The worker pool driving the run (a copy of `RunRecord.pool`, so listings see it without reading the row's end). */
  pool?: string;
  /** Agent calls run on this worker pool (`drover run --agents-on <pool>`) unless a call names its own `pool`. */
  agentPool?: string;
  /** Labels a worker must have to drive this queued run (`drover run --queue --labels`). */
  labels?: string[];
  /** The git repository and commit of the workdir when the run was queued: where a worker on another machine checks it out. */
  repo?: { root: string; commit: string; remote?: string };
}

export interface LeaseInfo {
  token: string;
  pid: number;
  host: string;
  expiresAt: number;
}

export interface RunRecord {
  id: string;
  name: string;
  description: string;
  scriptPath: string;
  scriptSource: string;
  scriptHash: string;
  scriptForm: ScriptForm;
  args: unknown;
  settings: RunSettings;
  status: RunStatus;
  result: unknown;
  error: StoredError | null;
  fromRunId: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  lease: LeaseInfo | null;
  /**
   * The worker pool that drives the run (`drover run --queue [pool]`, `drover submit`), or null for a
   * run its own process drives. A pooled run is `queued` until a worker claims it, and is claimed
   * again by another worker when its driver's lease lapses (schema v13).
   */
  pool: string | null;
}

/**
 * A run as `Store.listRuns` lists it: what a listing shows, never the stored script, args, result or
 * error (a result can be megabytes, and a listing covers many runs). `resultBytes` is the size of the
 * stored result as JSON text (UTF-8 bytes; 0 when there is none).
 */
export interface RunListing {
  id: string;
  name: string;
  description: string;
  settings: RunSettings;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  lease: LeaseInfo | null;
  resultBytes: number;
}

/** A run to create: `running` (its creator drives it), or `queued` for its pool's workers when `pool` is set. */
export type NewRun = Omit<RunRecord, 'status' | 'result' | 'error' | 'createdAt' | 'updatedAt' | 'finishedAt' | 'lease' | 'pool'> & {
  pool?: string | null;
};

export interface RunPatch {
  status?: RunStatus;
  result?: unknown;
  error?: StoredError | null;
  finishedAt?: number | null;
  settings?: RunSettings;
  scriptPath?: string;
  scriptSource?: string;
  scriptHash?: string;
  name?: string;
  description?: string;
}

/** `clock`, `random` and `budget` are values the script read (Date.now(), Math.random(), budget.spent()), journaled like calls. */
export type CallKind = 'agent' | 'sh' | 'step' | 'ask' | 'clock' | 'random' | 'sleep' | 'task' | 'budget';
export type CallStatus = 'started' | 'finished' | 'failed';

export interface CallRecord {
  runId: string;
  key: string;
  kind: CallKind;
  label: string | null;
  phase: string | null;
  status: CallStatus;
  /** A readable, redacted summary of the inputs (never secrets). */
  inputs: unknown;
  result: unknown;
  error: StoredError | null;
  attempts: number;
  startedAt: number;
  finishedAt: number | null;
  /** Run whose journal served this result, when copied by `run --from`. */
  reusedFrom: string | null;
  /** What the call did besides its result (agent turns, tool calls, session id, worktree). */
  detail?: Record<string, unknown>;
  /** Branch path + kind + inputs + occurrence in the branch (absent on entries written before drover 0.2). */
  positionKey?: string;
  /** Kind + canonical inputs: where an agent's result can be reused after it moved. */
  contentKey?: string;
}

/** A journal entry that moved to another key (an agent matched by content, a legacy entry), with its ledger rows. */
export interface CallRekey {
  from: string;
  to: string;
}

export interface UsageRecord {
  runId: string;
  callKey: string;
  requestId: string | null;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  stopReason: string | null;
  createdAt: number;
}

/** Sums of ledger rows (a run's, or a call's). Tokens are integers. */
export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** USD of the priced and estimated rows; null when there are rows and none has a price (never $0 for unpriced spend). */
  costUsd: number | null;
  /** Rows with no price (their tokens are counted, their cost is not in `costUsd`). */
  unpricedRequests: number;
  /** Of `requests`, those drover's gateway refused before sending them (a cap or the policy; no cost). */
  refusedRequests: number;
  /** Cache reads / all input-side tokens (input + cache reads + cache writes), 0..1; null when no input. */
  cacheHitRatio: number | null;
}

export interface QuestionRecord {
  id: string;
  runId: string;
  callKey: string;
  question: string;
  choices: string[] | null;
  status: 'pending' | 'answered';
  answer: string | null;
  createdAt: number;
  answeredAt: number | null;
}

export interface RunEvent {
  runId: string;
  ts: number;
  /**
   * `warning`: something drover ignored in a script (an unknown agent option...), `{ message }`.
   * `policy`: an audit record of the policy (src/policy `PolicyAuditEvent`: a deny, an approval request, an approval).
   */
  type: 'phase' | 'log' | 'warning' | 'policy';
  data: Record<string, unknown>;
}

/**
 * A fencing token: the lease a write is made under. A store refuses a fenced write, in the
 * same transaction, once the run's lease token is another (LeaseLostError, `LEASE_LOST`).
 */
export interface Fence {
  runId: string;
  token: string;
}

export interface LeaseRequest {
  runId: string;
  holder: Omit<LeaseInfo, 'expiresAt'>;
  ttlMs: number;
  now: number;
  /** Decides whether a live-looking lease belongs to a holder that is gone (dead PID). */
  isHolderGone: (lease: LeaseInfo) => boolean;
}

export type LeaseResult = { acquired: true; tookOverFrom: LeaseInfo | null } | { acquired: false; heldBy: LeaseInfo };

export interface StoreHealth {
  ok: boolean;
  /** The store's schema version; null when the file could not be read at all. */
  schemaVersion: number | null;
  /** The schema version this drover writes. */
  expectedSchemaVersion: number;
  problems: string[];
  facts: Record<string, string | number | boolean>;
  /**
   * The file itself is damaged (SQLite's corruption codes or a failed integrity check), in SQLite's
   * words: `diagnoseStore` then leaves the `<store>.damaged` mark that makes writing commands refuse.
   */
  damage?: string;
}

/** What `Store.deleteRuns` removed (row counts), and the runs it left because a live process holds them. */
export interface DeletedRuns {
  /** Ids of the runs deleted. */
  runs: string[];
  /** Ids left alone: their lease was live (another process is driving them). */
  skipped: string[];
  calls: number;
  /** Ledger rows kept with their figures (tokens, cost, model, workflow) but no longer naming a call, agent, phase or request. */
  usage: number;
  questions: number;
  events: number;
  spans: number;
}

/**
 * Everything drover keeps. Methods are async so a networked store (PostgreSQL)
 * can implement the same interface; the SQLite store answers synchronously underneath.
 */
export interface Store {
  readonly kind: string;
  readonly location: string;
  /** The task board, in the same database. */
  readonly tasks: TaskStore;
  readonly spans: SpanStore;
  /** One row per model request the gateway saw (schema v7). */
  readonly ledger: LedgerStore;
  /** Budget held by requests in flight, against caps (schema v8). */
  readonly reservations: ReservationStore;
  /** Stop requests from outside the driving process (schema v10). */
  readonly control: ControlStore;
  /** Agent transcripts, kept as the run's content capture allows (schema v10). */
  readonly transcripts: TranscriptStore;
  /** Retention and deletion, and the deletions log (src/store/retention-types.ts). */
  readonly retention: RetentionStore;
  /** The workflow inventory: stored tiers, attached evaluations, the promotion audit log (schema v12). */
  readonly workflows: WorkflowStore;
  /** The run queue of `drover worker` processes (schema v13; src/worker). */
  readonly queue: RunQueue;
  /** Agent calls dispatched to workers (schema v14; src/worker). */
  readonly jobs: AgentJobStore;

  createRun(run: NewRun, now: number): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first (by creation time, then id); only the listing's columns are read (see RunListing). */
  listRuns(options?: { limit?: number; status?: RunStatus }): Promise<RunListing[]>;
  /** With `fence`, refused (LeaseLostError) unless the run's lease is still that token. */
  updateRun(id: string, patch: RunPatch, now: number, fence?: Fence): Promise<void>;

  acquireRunLease(request: LeaseRequest): Promise<LeaseResult>;
  /** Extends the lease; false when it is no longer ours. */
  renewRunLease(runId: string, token: string, expiresAt: number): Promise<boolean>;
  releaseRunLease(runId: string, token: string): Promise<void>;

  listCalls(runId: string): Promise<CallRecord[]>;
  /**
   * Moves entries to new keys (`rekeys`, with their ledger rows), then upserts journal entries
   * in order, inserts usage rows (as ledger rows of mode `reported`, priced) and spans — all in one
   * transaction: a call's result and its cost land together or not at all. `replacing` are drover's
   * own spans of the run written again (a run's root, a phase, an execution, a call span closed as
   * interrupted): each replaces the earlier row of the run with the same trace and span id, in the
   * same transaction.
   */
  recordCalls(
    calls: CallRecord[],
    usage?: UsageRecord[],
    spans?: StoredSpan[],
    rekeys?: CallRekey[],
    fence?: Fence,
    replacing?: StoredSpan[],
  ): Promise<void>;

  usageTotals(runId: string): Promise<UsageTotals>;
  usageByCall(runId: string): Promise<Map<string, UsageTotals>>;
  /** Every model request's usage row of the run (its ledger rows, as usage records), in the order recorded. */
  listUsage(runId: string): Promise<UsageRecord[]>;

  createQuestion(question: QuestionRecord, fence?: Fence): Promise<void>;
  getQuestion(runId: string, id: string): Promise<QuestionRecord | undefined>;
  listQuestions(runId: string): Promise<QuestionRecord[]>;
  /** Records the answer and the journal entry of the `ask` call together. */
  answerQuestion(runId: string, id: string, answer: string, now: number): Promise<QuestionRecord>;

  /** Pending questions of every run, oldest first, at most `limit` (default 500): the dashboard's inbox. */
  listPendingQuestions(limit?: number): Promise<QuestionRecord[]>;

  /**
   * An opaque value that changes whenever anything was committed to the store, by this or any
   * other process (watchers poll it; cheap: no table is read). Equal values mean nothing changed.
   */
  changeMark(): Promise<string>;

  appendEvents(events: RunEvent[], fence?: Fence): Promise<void>;
  listEvents(runId: string): Promise<RunEvent[]>;

  /**
   * Deletes runs and everything recorded for them — journal calls, questions, events, transcripts,
   * and every span of each trace the run's spans belong to (received ones too) plus the trace
   * `traceIdOf(runId)` names, if given — in one transaction, keeping their ledger rows' figures
   * with the names cleared (spend stays counted, as daily caps need), and logging each deletion
   * (kind `prune`, `actor`) in the deletions log. A run whose lease is still live at `now` (ms since
   * the epoch) is skipped, never deleted; unknown ids are ignored.
   */
  deleteRuns(ids: readonly string[], now: number, traceIdOf?: (runId: string) => string, actor?: string): Promise<DeletedRuns>;

  checkHealth(): Promise<StoreHealth>;
  close(): Promise<void>;
}
