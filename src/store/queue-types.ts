import type { LeaseInfo, RunRecord } from './types.js';

/** What a `drover worker` asks for when it looks for a run to drive (src/worker). */
export interface RunClaimRequest {
  /** The worker pool (`drover worker --pool`, default `workers`). */
  pool: string;
  /** The worker's lease: its token becomes the run's fencing token. */
  holder: Omit<LeaseInfo, 'expiresAt'>;
  /** Lease length from `now`, ms. */
  ttlMs: number;
  /** Epoch ms. */
  now: number;
  /** The worker's labels: a run whose settings require labels (`--labels`) is taken only by a worker that has them all. */
  labels: readonly string[];
  /** Decides whether a live-looking lease belongs to a holder that is gone (a dead PID on this host). */
  isHolderGone: (lease: LeaseInfo) => boolean;
  /** The agent backends this worker runs (`--backends`); a run on another backend is left to other workers. Default: any. */
  backends?: readonly string[];
  /** Runs this worker will not take (it could not set up their workspace). */
  exclude?: ReadonlySet<string>;
}

export interface RunClaim {
  /** The run as claimed: status `running`, its lease the worker's. */
  run: RunRecord;
  /** The driver whose lease lapsed when this claim took the run over; null for a queued run. */
  tookOverFrom: LeaseInfo | null;
}

/**
 * The run queue: pooled runs (`RunRecord.pool`) waiting for a worker, and pooled runs whose driver
 * is gone (lease expired or released, or its process dead on this host), taken over by another.
 */
export interface RunQueue {
  /**
   * Claims the oldest claimable run of the pool and gives it the worker's lease, atomically: two
   * workers never claim the same run. Null when none is claimable.
   */
  claimRun(request: RunClaimRequest): Promise<RunClaim | null>;
  /**
   * Puts a run the worker holds (`token`) back in the queue (status `queued`, lease released), e.g.
   * when the worker shuts down mid-run. False when the worker no longer holds it.
   */
  requeue(runId: string, token: string, now: number): Promise<boolean>;
  /**
   * Resolves when work may have arrived in `pool` (PostgreSQL: a NOTIFY from any machine), after
   * `timeoutMs` at the latest, or at once when `signal` aborts — or when work was announced at or
   * after `since` (epoch ms, when the caller last looked), so an announcement between a look and the
   * wait is not lost. Never rejects.
   */
  waitForWork(pool: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void>;
}

/** The claimable condition shared by both stores: a pooled run, queued, or running with a lease that may be gone. */
export function isClaimable(run: RunRecord, request: RunClaimRequest): boolean {
  if (run.pool !== request.pool) return false;
  if (run.status !== 'queued' && run.status !== 'running') return false;
  const lease = run.lease;
  if (lease && lease.expiresAt > request.now && !request.isHolderGone(lease)) return false;
  if (request.exclude?.has(run.id)) return false;
  if (request.backends && !request.backends.includes(run.settings.backend)) return false;
  const needs = run.settings.labels ?? [];
  return needs.every((l) => request.labels.includes(l));
}

/** How many of the oldest candidates a claim looks at (label filtering happens on these). */
export const CLAIM_CANDIDATES = 32;
