/**
 * @module The worker's side of a dispatched agent call: set up the run's services here (workspace,
 * policy, gateway, backends — once per run), run the agent, and store its outcome under the job's
 * lease. The job's model requests go through this worker's gateway for the run, so they are metered
 * into the shared ledger, attributed to the run and call, and held against the run's caps like
 * any other.
 */
import { join, relative, resolve } from 'node:path';
import type { AgentBackend, AgentOutcome } from '../agents/index.js';
import { errorMessage } from '../core/index.js';
import type { SandboxSpec } from '../sandbox/index.js';
import type { AgentJob, RunSettings, Store } from '../store/index.js';
import { loadWorkflowSource } from '../workflow/loader.js';
import type { RunGateway } from '../workflow/run-gateway.js';
import { loadRunPolicyEngine, RunPolicy } from '../workflow/run-policy.js';
import { policySandbox, runSandboxSpec } from '../workflow/run-sandbox.js';
import { localBackend, openRunGateway, type RunServiceOptions } from '../workflow/run-services.js';
import { prepareWorktree, settleWorktree } from '../workflow/worktree.js';
import { fromJobRequest, type JobRequest } from './agent-job.js';
import { workspaceFor } from './workspace.js';

interface RunContext {
  settings: RunSettings;
  workdir: string;
  /** The run's directory on its driver (the job's cwd is mapped from it). */
  driverWorkdir: string;
  policy: RunPolicy;
  gateway: RunGateway;
  sandbox: SandboxSpec | undefined;
  backends: Map<string, AgentBackend>;
}

/** How a job ended here: `completed` (its outcome stored), `lost` (taken over or cancelled: the outcome was refused). */
export type JobEnd = 'completed' | 'lost';

export interface JobRunnerOptions {
  store: Store;
  checkout: string | undefined;
  worktrees: string;
  services: RunServiceOptions;
}

/** Runs agent jobs for a worker; one instance per worker process. `close` stops every run gateway it opened. */
export class JobRunner {
  private readonly contexts = new Map<string, Promise<RunContext>>();

  constructor(private readonly options: JobRunnerOptions) {}

  /**
   * Runs `job` (claimed with lease `token`) to an outcome and stores it, fenced by the token. A
   * setup failure (no workspace, no endpoint) is the job's failed outcome, named.
   */
  async run(job: AgentJob, token: string, signal: AbortSignal): Promise<JobEnd> {
    const request = job.request as unknown as JobRequest;
    let outcome: AgentOutcome;
    try {
      const ctx = await this.contextFor(job.runId, request);
      outcome = await this.runAgent(job, request, ctx, signal);
    } catch (err) {
      outcome = {
        ok: false,
        error: { code: (err as { code?: string }).code ?? 'WORKER_ERROR', message: `worker: ${errorMessage(err)}` },
        usage: [],
        attempts: 1,
      };
    }
    const stored = await this.options.store.jobs.complete(
      job.id,
      token,
      outcome as unknown as { ok: boolean } & Record<string, unknown>,
      Date.now(),
    );
    return stored ? 'completed' : 'lost';
  }

  private async runAgent(job: AgentJob, request: JobRequest, ctx: RunContext, signal: AbortSignal): Promise<AgentOutcome> {
    let backend = ctx.backends.get(job.backend);
    if (!backend) {
      backend = localBackend(job.backend, ctx.settings, ctx.gateway.url, this.options.services);
      ctx.backends.set(job.backend, backend);
    }
    // The call's directory, as the same folder of this machine's workspace.
    const inside = relative(request.runWorkdir, request.cwd);
    let cwd = inside && !inside.startsWith('..') ? resolve(ctx.workdir, inside) : ctx.workdir;
    const worktree = request.isolation === 'worktree' ? await prepareWorktree(cwd, job.runId, job.callKey) : undefined;
    if (worktree) cwd = worktree.cwd;
    const limitsFor = ctx.policy.checkAgent(job.backend, request.model, request.tools, job.callKey);
    const outcome = await backend.run(
      fromJobRequest(request, {
        cwd,
        signal,
        ...(limitsFor ? { policy: limitsFor(worktree?.path) } : {}),
        ...(ctx.sandbox ? { sandbox: ctx.sandbox } : {}),
      }),
    );
    // The agent's branch stays in this worker's checkout; the outcome names it (docs/scale.md).
    return worktree ? settleWorktree(worktree, outcome, request.label ?? 'agent') : outcome;
  }

  private contextFor(runId: string, request: JobRequest): Promise<RunContext> {
    let ctx = this.contexts.get(runId);
    if (!ctx) {
      ctx = this.openContext(runId, request);
      this.contexts.set(runId, ctx);
      // A setup that failed is tried again by the next job of the run.
      ctx.catch(() => this.contexts.delete(runId));
    }
    return ctx;
  }

  private async openContext(runId: string, request: JobRequest): Promise<RunContext> {
    const { store } = this.options;
    const run = await store.getRun(runId);
    if (!run) throw Object.assign(new Error(`run ${runId} of the job is not in the store`), { code: 'NOT_FOUND' });
    const { workdir } = workspaceFor(
      { id: runId, workdir: request.runWorkdir, repo: request.repo ?? run.settings.repo },
      this.options.checkout,
      this.options.worktrees || join(request.runWorkdir, '.drover-worker'),
    );
    const loaded = await loadWorkflowSource(run.scriptPath, run.scriptSource, run.scriptForm);
    const policy = new RunPolicy(loadRunPolicyEngine(workdir), loaded.meta, workdir);
    const sandbox = runSandboxSpec(
      policySandbox(policy.policy.sandbox()) ??
        ((run.settings as { sandbox?: SandboxSpec }).sandbox ? { enabled: true, writablePaths: [], network: 'none' } : undefined),
      loaded.meta.sandbox,
      workdir,
    );
    const gateway = await openRunGateway({
      store,
      runId,
      workflow: loaded.meta.name,
      settings: run.settings,
      policy,
      options: this.options.services,
    });
    return { settings: run.settings, workdir, driverWorkdir: request.runWorkdir, policy, gateway, sandbox, backends: new Map() };
  }

  async close(): Promise<void> {
    const all = [...this.contexts.values()];
    this.contexts.clear();
    await Promise.all(all.map(async (c) => (await c.catch(() => undefined))?.gateway.close()));
  }
}
