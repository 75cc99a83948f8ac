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
import type { AgentJob, RunClaim, Store } from '../store/index.js';
import { isHolderGone } from '../workflow/lease.js';
import { DEFAULT_POOL, type DriveOptions, type RunSummary, resumeRun } from '../workflow/run.js';
import { JobRunner } from './job-runner.js';
import { runWorkspaceSource, WorkspaceError, workspaceFor } from './workspace.js';

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
  /** Agent calls (jobs) run at once (default 4). */
  concurrency?: number;
  /** Runs driven at once (default 1). */
  runs?: number;
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
  /** What each drive and agent job gets (API key, caps of the day, prices, backoff). */
  drive?: Omit<DriveOptions, 'signal' | 'leaseToken' | 'leaseTtlMs' | 'workdirOverride' | 'onEvent'>;
}

/** Agent jobs a worker runs at once unless `--concurrency` says otherwise. */
export const WORKER_JOB_CONCURRENCY = 4;

/** What a worker reports, one per thing that happened. Times are epoch ms. */
export type WorkerEvent =
  | { type: 'started'; worker: string; pool: string; at: number }
  | { type: 'claimed'; worker: string; runId: string; tookOverFrom: string | null; workdir: string; at: number }
  | { type: 'finished'; worker: string; runId: string; status: RunSummary['status']; at: number }
  | { type: 'requeued'; worker: string; runId: string; reason: string; at: number }
  | { type: 'refused'; worker: string; runId: string; code: string; message: string; at: number }
  | { type: 'lost'; worker: string; runId: string; message: string; at: number }
  | { type: 'job-claimed'; worker: string; runId: string; callKey: string; label: string | null; jobId: number; claims: number; at: number }
  | { type: 'job-done'; worker: string; runId: string; callKey: string; label: string | null; jobId: number; at: number }
  | { type: 'job-lost'; worker: string; runId: string; callKey: string; label: string | null; jobId: number; at: number }
  | { type: 'job-requeued'; worker: string; runId: string; callKey: string; label: string | null; jobId: number; at: number }
  | { type: 'store-error'; worker: string; message: string; at: number }
  | { type: 'stopped'; worker: string; at: number };

/** How events name a job: its run, call key, the agent's label and the job id. */
function jobRef(job: AgentJob): { runId: string; callKey: string; label: string | null; jobId: number } {
  const label = (job.request as { label?: unknown }).label;
  return { runId: job.runId, callKey: job.callKey, label: typeof label === 'string' ? label : null, jobId: job.id };
}

/** What a worker did, when it stops. */
export interface WorkerReport {
  worker: string;
  /** Runs it drove to an end (any final status), by id. */
  finished: Record<string, RunSummary['status']>;
  /** Runs it put back in the queue (shutdown, or a workspace it could not set up). */
  requeued: string[];
  /** Runs whose lease it lost to another worker mid-drive (its writes were refused from then on). */
  lost: string[];
  /** Agent jobs it ran to a stored outcome, and those whose outcome was refused (taken over or cancelled). */
  jobs: { done: number; lost: number; requeued: number };
}

/**
 * Runs a worker until `signal` aborts (or, with `once`, until the queue is empty).
 * Never throws for a run's failure: that is the run's status. The store is read once before
 * anything starts, so a store that cannot be used at all fails at once (StoreUnreachableError
 * `STORE_UNREACHABLE`, exit 2; BAD_STORE for a malformed URL); store errors while claiming later
 * (a server restart) are reported as `store-error` events and retried after `pollMs`.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const { store } = options;
  await store.listRuns({ limit: 1 });
  const worker = options.name ?? `${hostname()}:${process.pid}`;
  const pool = options.pool ?? DEFAULT_POOL;
  const jobSlots = options.concurrency ?? WORKER_JOB_CONCURRENCY;
  const runSlots = options.runs ?? 1;
  const ttlMs = options.leaseTtlMs ?? WORKER_LEASE_TTL_MS;
  const pollMs = options.pollMs ?? WORKER_POLL_MS;
  const emit = options.onEvent ?? (() => {});
  const report: WorkerReport = { worker, finished: {}, requeued: [], lost: [], jobs: { done: 0, lost: 0, requeued: 0 } };
  const worktrees = options.worktrees ?? (options.checkout ? join(options.checkout, '.git', 'drover-worker') : '');
  const runner = new JobRunner({ store, checkout: options.checkout, worktrees, services: options.drive ?? {} });
  const jobs = new Map<string, { job: AgentJob; done: Promise<void>; abort: AbortController }>();
  // One heartbeat renews every job lease this worker holds; a lease it no longer holds stops its agent.
  const heartbeat = setInterval(
    () => {
      const tokens = [...jobs.keys()];
      if (tokens.length === 0) return;
      store.jobs.renew(tokens, Date.now() + ttlMs).then(
        (held) => {
          const still = new Set(held);
          for (const t of tokens) if (!still.has(t)) jobs.get(t)?.abort.abort('the job was taken over or cancelled');
        },
        () => {},
      );
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  heartbeat.unref();
  const refused = new Set<string>();
  const active = new Map<string, { token: string; done: Promise<void>; abort: AbortController }>();
  const stop = new AbortController();
  const onStop = () => stop.abort();
  options.signal?.addEventListener('abort', onStop, { once: true });
  if (options.signal?.aborted) stop.abort();
  emit({ type: 'started', worker, pool, at: Date.now() });

  // Shutdown: every run and job in progress back to the queue first (lease revoked), then stopped.
  const shutdown = async () => {
    await Promise.all(
      [...jobs].map(async ([token, j]) => {
        if (await store.jobs.requeue(j.job.id, token, Date.now()).catch(() => false)) {
          report.jobs.requeued++;
          emit({ type: 'job-requeued', worker, ...jobRef(j.job), at: Date.now() });
        }
        j.abort.abort('worker shutting down');
      }),
    );
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
    await Promise.allSettled([...active.values(), ...jobs.values()].map((a) => a.done));
  };
  stop.signal.addEventListener('abort', () => void shutdown(), { once: true });

  const drive = (claim: RunClaim, token: string) => {
    const runId = claim.run.id;
    const abort = new AbortController();
    const done = (async () => {
      let workdir: string;
      try {
        workdir = workspaceFor(runWorkspaceSource(claim.run), options.checkout, worktrees).workdir;
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

  // A store outage is said once per kind of error, not once per poll.
  let lastStoreError = '';
  const storeError = (err: unknown) => {
    const message = errorMessage(err);
    if (message !== lastStoreError) emit({ type: 'store-error', worker, message, at: Date.now() });
    lastStoreError = message;
  };

  const runJob = (job: AgentJob) => {
    const token = job.lease?.token as string;
    const abort = new AbortController();
    emit({ type: 'job-claimed', worker, ...jobRef(job), claims: job.claims, at: Date.now() });
    const done = runner
      .run(job, token, abort.signal)
      .then((end) => {
        if (end === 'completed') report.jobs.done++;
        else if (!stop.signal.aborted) report.jobs.lost++;
        if (end === 'completed' || !stop.signal.aborted) {
          emit({ type: end === 'completed' ? 'job-done' : 'job-lost', worker, ...jobRef(job), at: Date.now() });
        }
      })
      .finally(() => jobs.delete(token));
    jobs.set(token, { job, done, abort });
  };

  const claimRun = async (): Promise<boolean> => {
    if (active.size >= runSlots) return false;
    const token = newToken();
    const claim = await store.queue
      .claimRun({
        pool,
        holder: { token, pid: process.pid, host: hostname() },
        ttlMs,
        now: Date.now(),
        labels: options.labels ?? [],
        isHolderGone,
        ...(options.backends ? { backends: options.backends } : {}),
        exclude: refused,
      })
      .catch((err: unknown) => {
        storeError(err);
        return null;
      });
    if (!claim) return false;
    if (stop.signal.aborted) {
      await store.queue.requeue(claim.run.id, token, Date.now()).catch(() => false);
      return false;
    }
    drive(claim, token);
    return true;
  };

  const claimJobs = async (): Promise<boolean> => {
    const free = jobSlots - jobs.size;
    if (free <= 0) return false;
    const claimed = await store.jobs
      .claim({
        pool,
        worker,
        host: hostname(),
        pid: process.pid,
        labels: options.labels ?? [],
        ...(options.backends ? { backends: options.backends } : {}),
        limit: free,
        ttlMs,
        now: Date.now(),
        isHolderGone: (lease) => isHolderGone({ token: lease.token, pid: lease.pid, host: lease.host, expiresAt: lease.expiresAt }),
        newToken,
      })
      .catch((err: unknown) => {
        storeError(err);
        return [] as AgentJob[];
      });
    if (stop.signal.aborted) {
      for (const job of claimed) await store.jobs.requeue(job.id, job.lease?.token as string, Date.now()).catch(() => false);
      return false;
    }
    for (const job of claimed) runJob(job);
    return claimed.length > 0;
  };

  // Listening before the first look, so no announcement falls between the two.
  await Promise.all([store.queue.waitForWork(pool, 1), store.jobs.waitForWork(pool, 1)]);
  while (!stop.signal.aborted) {
    const lookedAt = Date.now();
    const tookRun = await claimRun();
    const tookJobs = await claimJobs();
    if (tookRun || tookJobs) {
      lastStoreError = '';
      continue;
    }
    if (options.once && active.size === 0 && jobs.size === 0) break;
    // Sleep until work is announced, a slot frees up, or the poll interval passes.
    const round = new AbortController();
    const endRound = () => round.abort();
    stop.signal.addEventListener('abort', endRound, { once: true });
    await Promise.race([
      store.queue.waitForWork(pool, pollMs, round.signal, lookedAt),
      store.jobs.waitForWork(pool, pollMs, round.signal, lookedAt),
      ...[...active.values(), ...jobs.values()].map((a) => a.done),
    ]);
    round.abort();
    stop.signal.removeEventListener('abort', endRound);
  }
  await Promise.allSettled([...active.values(), ...jobs.values()].map((a) => a.done));
  clearInterval(heartbeat);
  await runner.close();
  options.signal?.removeEventListener('abort', onStop);
  emit({ type: 'stopped', worker, at: Date.now() });
  return report;
}
