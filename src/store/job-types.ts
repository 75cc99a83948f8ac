/**
 * Agent calls dispatched to workers (schema v14): the driving run enqueues one job per agent call
 * (`agent(prompt, { pool })`, `drover run --agents-on <pool>`), a `drover worker` of the pool
 * claims it, runs the agent with its own backend, and completes it under the job's lease; the
 * driver journals the outcome. Records here are plain data; times are epoch ms.
 */

export type AgentJobStatus = 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

/** A job's lease: who runs it, until when. `token` is the job's fencing token for this claim. */
export interface JobLease {
  token: string;
  worker: string;
  host: string;
  pid: number;
  expiresAt: number;
}

/** What the driver enqueues: the call, the pool, and the agent request as JSON (see src/worker/agent-job.ts). */
export interface AgentJobSpec {
  runId: string;
  callKey: string;
  pool: string;
  /** Labels a worker must have. */
  labels: string[];
  /** Agent backend that runs it (builtin, claude-code, codex). */
  backend: string;
  /** The serialisable agent request (prompt, model, tools, cwd, repo…), redacted as every stored value. */
  request: Record<string, unknown>;
}

export interface AgentJob extends AgentJobSpec {
  id: number;
  status: AgentJobStatus;
  /** Claims so far (a job taken over after a worker died is claimed again). */
  claims: number;
  lease: JobLease | null;
  /** The agent's outcome as the worker reported it (AgentOutcome JSON); null until the job ends. */
  outcome: unknown;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface JobClaimRequest {
  pool: string;
  /** The worker's identity; each claimed job gets its own token. */
  worker: string;
  host: string;
  pid: number;
  labels: readonly string[];
  /** Backends the worker runs; default any. */
  backends?: readonly string[];
  /** At most this many jobs (the worker's free slots). */
  limit: number;
  ttlMs: number;
  now: number;
  /** Same-host check of a live-looking lease (a dead worker's PID). */
  isHolderGone: (lease: JobLease) => boolean;
  /** A fresh token per claimed job. */
  newToken: () => string;
}

/** What `enqueue` found or made. `existing`: the call already had a job (a driver resumed): it is reused as it is, never run twice. */
export interface EnqueueResult {
  job: AgentJob;
  existing: boolean;
}

export interface AgentJobStore {
  /**
   * Enqueues the call's job, or returns the one it has when that is queued, running or finished (a
   * resumed driver waits for it or takes its outcome: the agent never runs twice). A failed or
   * cancelled job is queued again (its claims count kept).
   */
  enqueue(spec: AgentJobSpec, now: number): Promise<EnqueueResult>;
  /**
   * Claims up to `limit` jobs of the pool, atomically (two workers never hold one job), taking the
   * oldest job of each run in turn so one huge run does not starve the others; a running job whose
   * lease lapsed (or whose holder is gone) is taken over.
   */
  claim(request: JobClaimRequest): Promise<AgentJob[]>;
  /** Extends the leases of the jobs still held with these tokens (running, same token); returns those tokens. */
  renew(tokens: readonly string[], expiresAt: number): Promise<string[]>;
  /** Records the outcome, fenced: only the current holder of a running job can (false otherwise: it was taken over or cancelled). */
  complete(id: number, token: string, outcome: { ok: boolean } & Record<string, unknown>, now: number): Promise<boolean>;
  /** Hands a held job back to the queue (worker shutdown). False when no longer held with `token`. */
  requeue(id: number, token: string, now: number): Promise<boolean>;
  /** Cancels the run's unfinished jobs (the driver stopped): queued ones never start, running ones lose their lease. Returns how many. */
  cancelRun(runId: string, now: number): Promise<number>;
  get(id: number): Promise<AgentJob | undefined>;
  /** The jobs among `ids` that have ended (finished, failed or cancelled): one read however many calls wait. */
  ended(ids: readonly number[]): Promise<AgentJob[]>;
  listByRun(runId: string): Promise<AgentJob[]>;
  /**
   * Resolves when jobs of `pool` may have been queued (PostgreSQL NOTIFY; at once when one was announced
   * at or after `since`, epoch ms), after `timeoutMs`, or on abort. Never rejects.
   */
  waitForWork(pool: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void>;
  /** Resolves when a job of `runId` may have ended, after `timeoutMs`, or on abort. Never rejects. */
  waitForOutcome(runId: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void>;
}

/** Whether a worker with these labels and backends may run the job. */
export function jobFits(job: AgentJobSpec, request: Pick<JobClaimRequest, 'labels' | 'backends'>): boolean {
  if (request.backends && !request.backends.includes(job.backend)) return false;
  return job.labels.every((l) => request.labels.includes(l));
}
