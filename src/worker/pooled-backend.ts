import type { AgentBackend, AgentOutcome, AgentRequest } from '../agents/index.js';
import type { AgentJob, Store } from '../store/index.js';
import { type JobRequest, outcomeOf, toJobRequest } from './agent-job.js';
import { gitCommitOf } from './workspace.js';

/** How long a dispatched call may stay queued before the run says no worker has taken it, ms. */
export const NO_WORKER_WARN_MS = 10_000;

/** Longest wait between looks at a dispatched job when no NOTIFY arrives (SQLite polls at this pace), ms. */
export const JOB_POLL_MS = 250;

export interface PooledBackendOptions {
  store: Store;
  runId: string;
  /** The run's working directory here: the job's cwd is sent relative to it. */
  runWorkdir: string;
  pool: string;
  /** Labels a worker needs (the run's `--labels`). */
  labels?: string[];
  pollMs?: number;
  /** Default NO_WORKER_WARN_MS. */
  noWorkerWarnMs?: number;
  /** The run's one outcome watcher, shared by its pooled backends (default: one of this backend's own). */
  outcomes?: JobOutcomes;
}

/**
 * One wait loop per run for every call it dispatched: each wake-up (a NOTIFY of an outcome of the
 * run, or `pollMs`) reads which of the awaited jobs ended in one query, however many calls wait —
 * not one query per waiting call, which made 64 waiting calls read the store 64 times per outcome.
 */
export class JobOutcomes {
  private readonly waiting = new Map<number, ((job: AgentJob) => void)[]>();
  private looping = false;

  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly pollMs = JOB_POLL_MS,
  ) {}

  /** Resolves with the job once it has ended (finished, failed, cancelled). */
  wait(jobId: number): Promise<AgentJob> {
    return new Promise((resolve) => {
      this.waiting.set(jobId, [...(this.waiting.get(jobId) ?? []), resolve]);
      if (!this.looping) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      while (this.waiting.size > 0) {
        const lookedAt = Date.now();
        const ended = await this.store.jobs.ended([...this.waiting.keys()]).catch(() => []);
        for (const job of ended) {
          for (const resolve of this.waiting.get(job.id) ?? []) resolve(job);
          this.waiting.delete(job.id);
        }
        if (this.waiting.size === 0) break;
        await this.store.jobs.waitForOutcome(this.runId, this.pollMs, undefined, lookedAt);
      }
    } finally {
      this.looping = false;
    }
  }
}

/**
 * An AgentBackend whose agents run on `drover worker` processes: `run` enqueues the call as a job
 * of the pool (backend `name` on the worker) and resolves with the outcome the worker stored. A
 * call that already has a job — the driver was restarted — waits for that job, or takes its
 * outcome when it finished: an agent never runs twice for one call. When the run's signal aborts,
 * the run's unfinished jobs are cancelled (running ones lose their lease, and their worker stops them).
 */
export class PooledBackend implements AgentBackend {
  /** The agent runs elsewhere: the runtime leaves `isolation: 'worktree'` to the worker. */
  readonly remote = true;

  private repo: JobRequest['repo'] | null = null;
  private ownOutcomes: JobOutcomes | undefined;

  constructor(
    readonly name: string,
    private readonly options: PooledBackendOptions,
  ) {}

  async run(request: AgentRequest & { isolation?: 'worktree' }): Promise<AgentOutcome> {
    const { store, runId, pool } = this.options;
    const callKey = request.callTag;
    if (!callKey) throw new Error('PooledBackend: an agent request without its call key (callTag) cannot be dispatched');
    const { job } = await store.jobs.enqueue(
      {
        runId,
        callKey,
        pool,
        labels: this.options.labels ?? [],
        backend: this.name,
        request: { ...toJobRequest(request, this.options.runWorkdir, request.isolation, this.repoOnce()) },
      },
      Date.now(),
    );
    // Ended before this driver asked (it was restarted): the outcome of a run nobody journaled.
    if (job.status !== 'queued' && job.status !== 'running') {
      return { ...outcomeOf(job.outcome, job.status), earlier: { jobId: job.id, endedAt: job.finishedAt } };
    }
    const signal = request.signal;
    // Said once per call: a pool nobody serves would otherwise look like an agent that runs for ever.
    const warn = setTimeout(() => {
      store.jobs.get(job.id).then(
        (j) => {
          if (j?.status !== 'queued') return;
          request.onProgress?.({
            type: 'warning',
            message: `no worker of pool "${pool}" has taken this call yet (start one: drover worker --pool ${pool})`,
          });
        },
        () => {},
      );
    }, this.options.noWorkerWarnMs ?? NO_WORKER_WARN_MS);
    warn.unref();
    try {
      const stopped = new Promise<null>((resolve) => {
        if (signal?.aborted) resolve(null);
        signal?.addEventListener('abort', () => resolve(null), { once: true });
      });
      const ended = await Promise.race([this.outcomes.wait(job.id), stopped]);
      if (ended) return outcomeOf(ended.outcome, ended.status);
      await store.jobs.cancelRun(runId, Date.now());
      return outcomeOf(null, 'cancelled');
    } finally {
      clearTimeout(warn);
    }
  }

  private get outcomes(): JobOutcomes {
    this.ownOutcomes ??= this.options.outcomes ?? new JobOutcomes(this.options.store, this.options.runId, this.options.pollMs);
    return this.ownOutcomes;
  }

  /** The run directory's git commit, read once per run (a worker elsewhere checks it out). */
  private repoOnce(): JobRequest['repo'] {
    this.repo ??= gitCommitOf(this.options.runWorkdir) ?? null;
    return this.repo ?? undefined;
  }
}
