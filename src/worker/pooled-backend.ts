import type { AgentBackend, AgentOutcome, AgentRequest } from '../agents/index.js';
import type { Store } from '../store/index.js';
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
    const signal = request.signal;
    let current = job;
    let warned = false;
    const since = Date.now();
    while (current.status === 'queued' || current.status === 'running') {
      if (!warned && current.status === 'queued' && Date.now() - since >= (this.options.noWorkerWarnMs ?? NO_WORKER_WARN_MS)) {
        // Said once per call: a pool nobody serves would otherwise look like an agent that runs for ever.
        warned = true;
        request.onProgress?.({
          type: 'warning',
          message: `no worker of pool "${pool}" has taken this call yet (start one: drover worker --pool ${pool})`,
        });
      }
      if (signal?.aborted) {
        await store.jobs.cancelRun(runId, Date.now());
        return outcomeOf(null, 'cancelled');
      }
      await store.jobs.waitForOutcome(runId, this.options.pollMs ?? JOB_POLL_MS, signal);
      current = (await store.jobs.get(job.id)) ?? { ...current, status: 'cancelled' };
    }
    return outcomeOf(current.outcome, current.status);
  }

  /** The run directory's git commit, read once per run (a worker elsewhere checks it out). */
  private repoOnce(): JobRequest['repo'] {
    this.repo ??= gitCommitOf(this.options.runWorkdir) ?? null;
    return this.repo ?? undefined;
  }
}
