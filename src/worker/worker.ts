/**
 * @module `drover worker`: a process that takes queued runs of its pool from the store and drives
 * them, on any machine that shares the store (PostgreSQL, or an SQLite file on one machine).
 *
 * A claim gives the run the worker's lease; the drive renews it by heartbeat and every write of
 * the drive carries it as the fencing token. A worker that dies (kill -9, a machine gone) stops
 * renewing: once the lease lapses — at once on the same machine, where its dead PID is seen —
 * another worker claims the run and resumes it from its journal, so only calls that were in
 * flight run again. On SIGTERM the worker puts its runs back in the queue at once (the lease is
 * revoked in the same statement), so another worker takes them without waiting for a lapse.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errorMessage, newToken } from '../core/index.js';
import type { RunClaim, Store } from '../store/index.js';
import { isHolderGone } from '../workflow/lease.js';
import { DEFAULT_POOL, type DriveOptions, type RunSummary, resumeRun } from '../workflow/run.js';
import { WorkspaceError, workspaceFor } from './workspace.js';

/** A worker's lease on a run, unless `--lease-ttl` says otherwise: a dead worker's runs move within this. */
export const WORKER_LEASE_TTL_MS = 10_000;
/** Longest sleep between claims when no NOTIFY arrives (lapsed leases are found by looking), ms. */
export const WORKER_POLL_MS = 1_000;

export interface WorkerOptions {
  store: Store;
  /** Shown in leases and events; default `<host>:<pid>`. */
  name?: string;
  /** Default `workers`. */
  pool?: string;
  /** Runs driven at once (default 1). */
  concurrency?: number;
  /** The worker's labels: it takes runs that need a subset of them. */
  labels?: string[];
  /** Backends it runs (default: any). */
  backends?: string[];
  /** A clone of the repository, for runs whose directory is not on this machine (src/worker/workspace.ts). */
  checkout?: string;
  /** Where worktrees of `checkout` go (default `<checkout>/.git/drover-worker`). */
  worktrees?: string;
  /** Lease length, ms (default WORKER_LEASE_TTL_MS). */
  leaseTtlMs?: number;
  /** Longest wait between claims, ms (default WORKER_POLL_MS). */
  pollMs?: number;
  /** Exit once nothing is claimable and nothing is being driven (CI, tests, a batch drain). */
  once?: boolean;
  /** Aborting it shuts the worker down: runs in progress go back to the queue. */
  signal?: AbortSignal;
  onEvent?: (event: WorkerEvent) => void;
  /** What each drive gets (API key, caps of the day, prices, backoff). */
  drive?: Omit<DriveOptions, 'signal' | 'leaseToken' | 'leaseTtlMs' | 'workdirOverride' | 'onEvent'>;
}

/** What a worker reports, one per thing that happened. Times are epoch ms. */
export type WorkerEvent =
  | { type: 'started'; worker: string; pool: string; at: number }
  | { type: 'claimed'; worker: string; runId: string; tookOverFrom: string | null; workdir: string; at: number }
  | { type: 'finished'; worker: string; runId: string; status: RunSummary['status']; at: number }
  | { type: 'requeued'; worker: string; runId: string; reason: string; at: number }
  | { type: 'refused'; worker: string; runId: string; code: string; message: string; at: number }
  | { type: 'lost'; worker: string; runId: string; message: string; at: number }
  | { type: 'stopped'; worker: string; at: number };

/** What a worker did, when it stops. */
export interface WorkerReport {
  worker: string;
  /** Runs it drove to an end (any final status), by id. */
  finished: Record<string, RunSummary['status']>;
  /** Runs it put back in the queue (shutdown, or a workspace it could not set up). */
  requeued: string[];
  /** Runs whose lease it lost to another worker mid-drive (its writes were refused from then on). */
  lost: string[];
}

/**
 * Runs a worker until `signal` aborts (or, with `once`, until the queue is empty).
 * Never throws for a run's failure: that is the run's status. Store errors while claiming are retried after `pollMs`.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const { store } = options;
  const worker = options.name ?? `${hostname()}:${process.pid}`;
  const pool = options.pool ?? DEFAULT_POOL;
  const concurrency = options.concurrency ?? 1;
  const ttlMs = options.leaseTtlMs ?? WORKER_LEASE_TTL_MS;
  const pollMs = options.pollMs ?? WORKER_POLL_MS;
  const emit = options.onEvent ?? (() => {});
  const report: WorkerReport = { worker, finished: {}, requeued: [], lost: [] };
  const refused = new Set<string>();
  const active = new Map<string, { token: string; done: Promise<void>; abort: AbortController }>();
  const stop = new AbortController();
  const onStop = () => stop.abort();
  options.signal?.addEventListener('abort', onStop, { once: true });
  if (options.signal?.aborted) stop.abort();
  emit({ type: 'started', worker, pool, at: Date.now() });

  // Shutdown: every run in progress back to the queue first (lease revoked), then its drive stopped.
  const shutdown = async () => {
    await Promise.all(
      [...active].map(async ([runId, a]) => {
        const back = await store.queue.requeue(runId, a.token, Date.now()).catch(() => false);
        if (back) {
          report.requeued.push(runId);
          emit({ type: 'requeued', worker, runId, reason: 'worker shutting down', at: Date.now() });
        }
        a.abort.abort('worker shutting down');
      }),
    );
    await Promise.allSettled([...active.values()].map((a) => a.done));
  };
  stop.signal.addEventListener('abort', () => void shutdown(), { once: true });

  const drive = (claim: RunClaim, token: string) => {
    const runId = claim.run.id;
    const abort = new AbortController();
    const done = (async () => {
      let workdir: string;
      try {
        const worktrees = options.worktrees ?? (options.checkout ? join(options.checkout, '.git', 'drover-worker') : '');
        workdir = workspaceFor(claim.run, options.checkout, worktrees).workdir;
      } catch (err) {
        const code = err instanceof WorkspaceError ? err.code : 'NO_WORKSPACE';
        refused.add(runId);
        emit({ type: 'refused', worker, runId, code, message: errorMessage(err), at: Date.now() });
        if (await store.queue.requeue(runId, token, Date.now()).catch(() => false)) report.requeued.push(runId);
        return;
      }
      emit({ type: 'claimed', worker, runId, tookOverFrom: claim.tookOverFrom?.token ?? null, workdir, at: Date.now() });
      try {
        const summary = await resumeRun({
          ...options.drive,
          store,
          runId,
          leaseToken: token,
          leaseTtlMs: ttlMs,
          workdirOverride: workdir,
          signal: abort.signal,
        });
        if (!stop.signal.aborted) {
          report.finished[runId] = summary.status;
          emit({ type: 'finished', worker, runId, status: summary.status, at: Date.now() });
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        report.lost.push(runId);
        emit({ type: 'lost', worker, runId, message: errorMessage(err), at: Date.now() });
      }
    })().finally(() => active.delete(runId));
    active.set(runId, { token, done, abort });
  };

  while (!stop.signal.aborted) {
    if (active.size >= concurrency) {
      await Promise.race([...active.values()].map((a) => a.done));
      continue;
    }
    const token = newToken();
    let claim: RunClaim | null = null;
    try {
      claim = await store.queue.claimRun({
        pool,
        holder: { token, pid: process.pid, host: hostname() },
        ttlMs,
        now: Date.now(),
        labels: options.labels ?? [],
        isHolderGone,
        ...(options.backends ? { backends: options.backends } : {}),
        exclude: refused,
      });
    } catch {
      claim = null;
    }
    if (stop.signal.aborted) {
      if (claim) await store.queue.requeue(claim.run.id, token, Date.now()).catch(() => false);
      break;
    }
    if (claim) {
      drive(claim, token);
      continue;
    }
    if (options.once && active.size === 0) break;
    await Promise.race([store.queue.waitForWork(pool, pollMs, stop.signal), ...[...active.values()].map((a) => a.done)]);
  }
  await Promise.allSettled([...active.values()].map((a) => a.done));
  options.signal?.removeEventListener('abort', onStop);
  emit({ type: 'stopped', worker, at: Date.now() });
  return report;
}
