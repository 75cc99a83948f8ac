import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { type AgentBackend, type AgentOutcome, defaultModelFor } from '../agents/index.js';
import { DroverError, errorMessage, redactSecrets, WorkflowLimitError } from '../core/index.js';
import type { CallKind, CallRecord, QuestionRecord, RunEvent, RunSettings, Store, StoredError, UsageRecord } from '../store/index.js';
import { TaskRuleError } from '../store/index.js';
import type { TaskBoard } from '../tasks/index.js';
import { traceIdForRun, traceparent } from '../telemetry/index.js';
import type { AgentOptions, AskOptions, Budget, ShOptions, Stage, Thunk, WorkflowApi, WorkflowTasks } from './api.js';
import type { CallState, ProgressListener } from './events.js';
import { CallIdentity } from './identity.js';
import type { Journal } from './journal.js';
import { MAX_ITEMS_PER_CALL } from './limits.js';
import { Semaphore } from './semaphore.js';
import { runShell, type ShellResult } from './shell.js';
import type { CallSpan, CallTracing } from './tracing.js';
import { finishWorktree, type PreparedWorktree, prepareWorktree } from './worktree.js';

/** Raised inside the script when the run is stopped (Ctrl-C, lost lease). */
export class RunAbortedError extends DroverError {
  constructor(reason: string) {
    super('INTERRUPTED', reason);
  }
}

/** A script passed something a global does not accept. */
export class ScriptUsageError extends DroverError {
  constructor(message: string) {
    super('BAD_CALL', message);
  }
}

export interface Scope {
  /** Name of the nested workflow, null at top level. */
  name: string | null;
  depth: number;
  args: unknown;
  scriptDir: string;
}

export interface ChildWorkflow {
  name: string;
  scriptDir: string;
  execute(api: WorkflowApi): Promise<unknown>;
}

export interface RuntimeDeps {
  runId: string;
  store: Store;
  journal: Journal;
  settings: RunSettings;
  workdir: string;
  backend(name: string): AgentBackend;
  emit: ProgressListener;
  signal: AbortSignal;
  /** Output tokens the run spent in earlier executions. */
  spentBefore: number;
  /** The run's task list, for `tasks.*`. */
  taskBoard?: TaskBoard;
  /** Spans of calls (a no-op when tracing is off). */
  tracing: CallTracing;
  loadChild(ref: unknown, fromDir: string): Promise<ChildWorkflow>;
}

const Effort = z.enum(['low', 'medium', 'high', 'xhigh', 'max']);
const AgentOptionsSchema = z
  .object({
    label: z.string().optional(),
    phase: z.string().optional(),
    schema: z.record(z.string(), z.unknown()).optional(),
    model: z.string().min(1).optional(),
    effort: Effort.optional(),
    isolation: z.literal('worktree').optional(),
    agentType: z.string().optional(),
    backend: z.string().min(1).optional(),
    system: z.string().optional(),
    cwd: z.string().optional(),
    tools: z.array(z.string().min(1)).optional(),
    maxTurns: z.number().int().positive().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();
const ShOptionsSchema = z
  .object({
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();
const TaskStatusSchema = z.enum(['pending', 'in_progress', 'completed', 'cancelled']);
const TaskCreateSchema = z
  .object({
    subject: z.string().min(1),
    description: z.string().optional(),
    activeForm: z.string().optional(),
    priority: z.number().int().min(0).max(9).optional(),
    labels: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    blockedBy: z.array(z.string()).optional(),
  })
  .strict();
const TaskPatchSchema = z
  .object({
    subject: z.string().min(1).optional(),
    description: z.string().optional(),
    activeForm: z.string().optional(),
    status: TaskStatusSchema.optional(),
    owner: z.string().nullable().optional(),
    priority: z.number().int().min(0).max(9).optional(),
    labels: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
const TaskClaimSchema = z
  .object({ id: z.string().optional(), owner: z.string().optional(), leaseMs: z.number().int().positive().optional() })
  .strict();
const TaskFilterSchema = z
  .object({ status: TaskStatusSchema.optional(), owner: z.string().optional(), label: z.string().optional() })
  .strict();
const AskOptionsSchema = z.object({ choices: z.array(z.string().min(1)).min(1).optional() }).strict();

function checkOptions<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? `.${issue.path.join('.')}` : '';
  const message = issue?.code === 'unrecognized_keys' ? `unknown option ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue?.message;
  throw new ScriptUsageError(`${where}: options${path}: ${message}`);
}

function shortLabel(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

function storedError(err: unknown): StoredError {
  return { code: err instanceof DroverError ? err.code : 'ERROR', message: errorMessage(err) };
}

/** JSON round trip: results are stored, so they must be plain data. undefined becomes null. */
function toPlain(value: unknown, where: string): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch (err) {
    throw new ScriptUsageError(`${where}: result is not JSON-serializable (${errorMessage(err)})`);
  }
}

/**
 * The workflow runtime: every global a script calls. Calls with side effects
 * go through the journal; finished ones are served from it.
 */
export class WorkflowRuntime {
  private readonly identity = new CallIdentity();
  private readonly agentSlots: Semaphore;
  private agentCount = 0;
  private currentPhase: string | null = null;
  private spentNow = 0;
  private readonly pendingEvents: RunEvent[] = [];
  /** Calls doing work right now (agents queued or running, sh, step, sleep). */
  inflight = 0;
  readonly pendingAsks = new Map<string, { key: string; question: QuestionRecord; resolve: (answer: string) => void }>();

  constructor(private readonly deps: RuntimeDeps) {
    this.agentSlots = new Semaphore(deps.settings.concurrency);
  }

  /** The functions handed to a script, bound to a scope (top level or nested workflow). */
  api(scope: Scope): WorkflowApi {
    const budget: Budget = {
      total: this.deps.settings.budgetTokens ?? Number.POSITIVE_INFINITY,
      spent: () => this.deps.spentBefore + this.spentNow,
      remaining: () => Math.max(0, budget.total - budget.spent()),
    };
    return {
      agent: (prompt, options) => this.agent(scope, prompt, options),
      parallel: (thunks) => this.parallel(thunks),
      pipeline: (items, ...stages) => this.pipeline(items, stages),
      phase: (title) => this.phase(title),
      log: (message) => this.log(message),
      args: scope.args,
      budget,
      workflow: (ref, args) => this.workflow(scope, ref, args),
      sh: (command, options) => this.sh(scope, command, options),
      step: (name, fn) => this.step(scope, name, fn) as Promise<never>,
      ask: (question, options) => this.ask(scope, question, options),
      sleep: (ms) => this.sleep(scope, ms),
      now: () => this.value(scope, 'clock', Date.now) as number,
      random: () => this.value(scope, 'random', Math.random) as number,
      tasks: this.tasksApi(scope),
      runId: this.deps.runId,
    };
  }

  takeEvents(): RunEvent[] {
    return this.pendingEvents.splice(0);
  }

  private checkNotAborted(): void {
    if (this.deps.signal.aborted) throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
  }

  private record(kind: CallKind, key: string, label: string | null, phase: string | null, inputs: unknown): CallRecord {
    return {
      runId: this.deps.runId,
      key,
      kind,
      label,
      phase,
      status: 'started',
      inputs,
      result: null,
      error: null,
      attempts: 0,
      startedAt: Date.now(),
      finishedAt: null,
      reusedFrom: null,
    };
  }

  private emitCall(
    kind: 'agent' | 'sh' | 'step' | 'ask' | 'sleep' | 'task',
    call: CallRecord,
    state: CallState,
    extra: { outputTokens?: number; inputTokens?: number; error?: string } = {},
  ): void {
    this.deps.emit({ type: 'call', kind, key: call.key, label: call.label ?? kind, phase: call.phase, state, at: Date.now(), ...extra });
  }

  /** Looks the key up in the journal; counts the call either way. */
  private async reuse(key: string): Promise<CallRecord | undefined> {
    const { counts } = this.deps.journal;
    counts.total++;
    const hit = this.deps.journal.reuse(key);
    if (hit) counts.reused++;
    else counts.executed++;
    return hit;
  }

  async agent(scope: Scope, prompt: unknown, rawOptions?: unknown): Promise<unknown> {
    this.checkNotAborted();
    if (typeof prompt !== 'string' || prompt.trim() === '') throw new ScriptUsageError('agent(): prompt must be a non-empty string');
    const options: AgentOptions = checkOptions(AgentOptionsSchema, rawOptions, 'agent()');
    this.agentCount++;
    if (this.agentCount > this.deps.settings.maxAgents) {
      throw new WorkflowLimitError('AGENT_LIMIT', `agent(): this run reached its limit of ${this.deps.settings.maxAgents} agents`);
    }
    const settings = this.deps.settings;
    const backendName = options.backend ?? settings.backend;
    // A call on another backend than the run's gets that backend's default model unless a model was named.
    const model =
      options.model ??
      (backendName !== settings.backend && !settings.modelExplicit ? defaultModelFor(backendName, settings.provider) : settings.model);
    const inputs = {
      prompt,
      system: options.system,
      backend: backendName,
      model,
      schema: options.schema,
      effort: options.effort,
      cwd: options.cwd ?? '.',
      isolation: options.isolation,
      agentType: options.agentType,
      tools: options.tools,
      maxTurns: options.maxTurns,
      scope: scope.name ?? undefined,
    };
    const key = this.identity.keyFor('agent', inputs);
    const call = this.record('agent', key, options.label ?? shortLabel(prompt), options.phase ?? this.currentPhase, inputs);
    const hit = await this.reuse(key);
    if (hit) {
      this.deps.tracing.reused('agent', `invoke_agent ${hit.label ?? 'agent'}`, hit);
      this.emitCall('agent', hit, 'reused');
      return hit.result;
    }
    const budget = settings.budgetTokens;
    if (budget !== undefined && this.deps.spentBefore + this.spentNow >= budget) {
      throw new WorkflowLimitError('BUDGET_EXHAUSTED', `agent(): the run's budget of ${budget} output tokens is spent`);
    }
    const backend = this.deps.backend(backendName);
    this.inflight++;
    const release = await this.agentSlots.acquire();
    try {
      this.checkNotAborted();
      call.startedAt = Date.now();
      this.deps.journal.started(call);
      this.emitCall('agent', call, 'running');
      let outcome: AgentOutcome;
      let worktree: PreparedWorktree | undefined;
      const span: CallSpan | null = this.deps.tracing.startAgent(call, { backend: backendName, model, prompt });
      try {
        const cwd = this.resolveCwd(options.cwd);
        if (options.isolation === 'worktree') worktree = await prepareWorktree(cwd, this.deps.runId, key);
        outcome = await backend.run({
          prompt,
          model,
          cwd: worktree ? worktree.cwd : cwd,
          signal: this.deps.signal,
          callTag: key,
          ...(backendName === 'builtin' ? {} : { env: span ? span.env : { TRACEPARENT: traceparent(traceIdForRun(this.deps.runId)) } }),
          ...(options.tools ? { tools: options.tools } : {}),
          ...(options.maxTurns ? { maxTurns: options.maxTurns } : {}),
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          ...(options.system !== undefined ? { system: options.system } : {}),
          ...(options.schema ? { schema: options.schema } : {}),
          ...(options.effort ? { effort: options.effort } : {}),
          ...(call.label ? { label: call.label } : {}),
          onProgress: (p) => {
            if (p.type === 'tool') {
              this.deps.emit({
                type: 'activity',
                key,
                label: call.label ?? 'agent',
                tool: p.name,
                ok: p.ok,
                summary: p.summary,
                at: Date.now(),
              });
            }
            if (p.type === 'retry') {
              this.deps.emit({
                type: 'retry',
                label: call.label ?? 'agent',
                attempt: p.attempt,
                delayMs: p.delayMs,
                reason: p.reason,
                at: Date.now(),
              });
            }
          },
        });
        if (worktree) outcome = await this.settleWorktree(worktree, outcome, call.label ?? 'agent');
      } catch (err) {
        outcome = {
          ok: false,
          error: { code: err instanceof DroverError ? err.code : 'BACKEND_ERROR', message: errorMessage(err) },
          usage: [],
          attempts: 1,
        };
      }
      const usage: UsageRecord[] = outcome.usage.map(({ startedAt: _s, endedAt: _e, ...u }) => ({
        runId: this.deps.runId,
        callKey: key,
        createdAt: Date.now(),
        ...u,
      }));
      // The span ends before the journal write, so it commits with the call's result and usage.
      this.deps.tracing.endAgent(span, call, outcome, usage, backendName);
      const outputTokens = usage.reduce((n, u) => n + u.outputTokens, 0);
      const inputTokens = usage.reduce((n, u) => n + u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens, 0);
      this.spentNow += outputTokens;
      if (!outcome.ok && this.deps.signal.aborted) {
        // Stopped, not failed: leave the entry unfinished so a resume runs it again, but keep its cost.
        await this.deps.journal.finish({ ...call, attempts: outcome.attempts }, usage);
        throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
      }
      const finished: CallRecord = {
        ...call,
        status: outcome.ok ? 'finished' : 'failed',
        result: outcome.ok ? (options.schema ? outcome.object : outcome.text) : null,
        error: outcome.ok ? null : outcome.error,
        attempts: outcome.attempts,
        finishedAt: Date.now(),
        ...(outcome.detail ? { detail: withoutSteps(outcome.detail) } : {}),
      };
      await this.deps.journal.finish(finished, usage);
      this.emitCall('agent', finished, outcome.ok ? 'done' : 'failed', {
        outputTokens,
        inputTokens,
        ...(outcome.ok ? {} : { error: outcome.error.message }),
      });
      return finished.result;
    } finally {
      release();
      this.inflight--;
    }
  }

  /** Commits the agent's changes on its branch; a text result says where they are, as Claude Code's does. */
  private async settleWorktree(wt: PreparedWorktree, outcome: AgentOutcome, label: string): Promise<AgentOutcome> {
    const info = await finishWorktree(wt, `drover: ${label}`);
    const detail = { ...outcome.detail, worktree: info };
    if (!outcome.ok) return { ...outcome, detail };
    const note = info.changed ? `\n\n[worktree: changes on branch ${info.branch} at commit ${info.commit} (${info.path})]` : '';
    return { ...outcome, detail, text: outcome.object === undefined ? `${outcome.text}${note}` : outcome.text };
  }

  private resolveCwd(cwd: string | undefined): string {
    if (!cwd) return this.deps.workdir;
    return cwd.startsWith('/') ? cwd : `${this.deps.workdir}/${cwd}`;
  }

  async parallel(thunks: unknown): Promise<unknown[]> {
    if (!Array.isArray(thunks)) throw new ScriptUsageError('parallel(): takes an array of functions');
    if (thunks.length > MAX_ITEMS_PER_CALL) {
      throw new WorkflowLimitError('TOO_MANY_ITEMS', `parallel(): ${thunks.length} items; at most ${MAX_ITEMS_PER_CALL} per call`);
    }
    thunks.forEach((t, i) => {
      if (typeof t !== 'function') throw new ScriptUsageError(`parallel(): item ${i} is not a function`);
    });
    // A barrier that never rejects: a failed thunk yields null.
    return Promise.all(
      (thunks as Thunk[]).map(async (thunk, i) => {
        try {
          return await thunk();
        } catch (err) {
          if (err instanceof RunAbortedError) throw err;
          this.log(`parallel item ${i} failed: ${errorMessage(err)}`);
          return null;
        }
      }),
    );
  }

  async pipeline(items: unknown, stages: unknown[]): Promise<unknown[]> {
    if (!Array.isArray(items)) throw new ScriptUsageError('pipeline(): first argument must be an array of items');
    if (items.length > MAX_ITEMS_PER_CALL) {
      throw new WorkflowLimitError('TOO_MANY_ITEMS', `pipeline(): ${items.length} items; at most ${MAX_ITEMS_PER_CALL} per call`);
    }
    if (stages.length === 0) throw new ScriptUsageError('pipeline(): needs at least one stage function');
    stages.forEach((s, i) => {
      if (typeof s !== 'function') throw new ScriptUsageError(`pipeline(): stage ${i} is not a function`);
    });
    // No barrier between stages: each item moves on as soon as its own previous stage is done.
    return Promise.all(
      items.map(async (item, index) => {
        let prev: unknown = item;
        try {
          for (const stage of stages as Stage[]) prev = await stage(prev, item, index);
          return prev;
        } catch (err) {
          if (err instanceof RunAbortedError) throw err;
          this.log(`pipeline item ${index} dropped: ${errorMessage(err)}`);
          return null;
        }
      }),
    );
  }

  phase(title: unknown): void {
    if (typeof title !== 'string' || title.trim() === '') throw new ScriptUsageError('phase(): title must be a non-empty string');
    this.currentPhase = title;
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'phase', data: { title } });
    this.deps.emit({ type: 'phase', title, at });
  }

  log(message: unknown): void {
    const text = typeof message === 'string' ? message : safeStringify(message);
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'log', data: { message: text } });
    this.deps.emit({ type: 'log', message: text, at });
  }

  async workflow(scope: Scope, ref: unknown, args: unknown): Promise<unknown> {
    this.checkNotAborted();
    if (scope.depth >= 1)
      throw new WorkflowLimitError('NESTING_LIMIT', 'workflow(): a nested workflow cannot start another (one level of nesting)');
    const child = await this.deps.loadChild(ref, scope.scriptDir);
    this.log(`workflow ${child.name} started`);
    const result = await child.execute(
      this.api({ name: child.name, depth: scope.depth + 1, args: args ?? null, scriptDir: child.scriptDir }),
    );
    return result;
  }

  async sh(scope: Scope, command: unknown, rawOptions?: unknown): Promise<ShellResult> {
    this.checkNotAborted();
    if (typeof command !== 'string' || command.trim() === '') throw new ScriptUsageError('sh(): command must be a non-empty string');
    const options: ShOptions = checkOptions(ShOptionsSchema, rawOptions, 'sh()');
    const key = this.identity.keyFor('sh', {
      command,
      cwd: options.cwd ?? '.',
      env: options.env,
      timeoutMs: options.timeoutMs,
      scope: scope.name ?? undefined,
    });
    // Stored inputs name env keys only: values may be secrets.
    const call = this.record('sh', key, shortLabel(command), this.currentPhase, {
      command,
      cwd: options.cwd ?? '.',
      envKeys: Object.keys(options.env ?? {}),
      timeoutMs: options.timeoutMs,
    });
    const hit = await this.reuse(key);
    if (hit) {
      this.deps.tracing.reused('sh', `sh ${shortLabel(command)}`, hit);
      this.emitCall('sh', hit, 'reused');
      return hit.result as ShellResult;
    }
    this.inflight++;
    try {
      this.deps.journal.started(call);
      this.emitCall('sh', call, 'running');
      // The command's own spans (TRACEPARENT, and the run's OTLP receiver) nest under this one.
      const span = this.deps.tracing.start('sh', `sh ${shortLabel(command)}`, call, {
        'drover.sh.command': redactSecrets(command).slice(0, 1000),
      });
      let result: ShellResult;
      try {
        result = await runShell(command, {
          cwd: this.resolveCwd(options.cwd),
          signal: this.deps.signal,
          env: { ...span?.env, ...options.env },
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        });
      } catch (err) {
        const failed = { ...call, status: 'failed' as const, error: storedError(err), finishedAt: Date.now(), attempts: 1 };
        this.deps.tracing.end(span, call, { code: 'SPAWN', message: errorMessage(err) });
        await this.deps.journal.finish(failed, []);
        this.emitCall('sh', failed, 'failed', { error: errorMessage(err) });
        throw new ScriptUsageError(`sh(): could not run "${shortLabel(command)}": ${errorMessage(err)}`);
      }
      this.deps.tracing.end(span, call, result.exitCode === 0 ? null : { code: 'exit_code', message: `exit code ${result.exitCode}` }, {
        'drover.sh.exit_code': result.exitCode,
      });
      this.checkNotAborted();
      const finished = { ...call, status: 'finished' as const, result, finishedAt: Date.now(), attempts: 1 };
      await this.deps.journal.finish(finished, []);
      this.emitCall('sh', finished, result.exitCode === 0 ? 'done' : 'failed');
      return result;
    } finally {
      this.inflight--;
    }
  }

  async step(scope: Scope, name: unknown, fn: unknown): Promise<unknown> {
    this.checkNotAborted();
    if (typeof name !== 'string' || name.trim() === '') throw new ScriptUsageError('step(): name must be a non-empty string');
    if (typeof fn !== 'function') throw new ScriptUsageError('step(): second argument must be a function');
    return this.journaled('step', scope, { name }, name, async () => toPlain(await (fn as () => unknown)(), `step("${name}")`));
  }

  /**
   * Runs `fn` once per call identity: a finished entry returns its stored
   * result; otherwise the outcome (result or error) is journaled.
   */
  private async journaled(
    kind: 'step' | 'task',
    scope: Scope,
    inputs: Record<string, unknown>,
    label: string,
    fn: () => Promise<unknown>,
  ): Promise<unknown> {
    const key = this.identity.keyFor(kind, { ...inputs, scope: scope.name ?? undefined });
    const call = this.record(kind, key, label, this.currentPhase, inputs);
    const hit = await this.reuse(key);
    if (hit) {
      this.emitCall(kind, hit, 'reused');
      if (hit.error) throw new TaskRuleError(hit.error.code as 'INVALID_TASK', hit.error.message);
      return hit.result;
    }
    this.inflight++;
    try {
      this.deps.journal.started(call);
      this.emitCall(kind, call, 'running');
      let result: unknown;
      try {
        result = await fn();
      } catch (err) {
        if (kind === 'task' && err instanceof TaskRuleError) {
          // A refusal is what the board said at that moment: journaled as an outcome, replayed as the same error.
          const refused = { ...call, status: 'finished' as const, error: storedError(err), finishedAt: Date.now(), attempts: 1 };
          await this.deps.journal.finish(refused, []);
          this.emitCall(kind, refused, 'failed', { error: errorMessage(err) });
          throw err;
        }
        const failed = { ...call, status: 'failed' as const, error: storedError(err), finishedAt: Date.now(), attempts: 1 };
        await this.deps.journal.finish(failed, []);
        this.emitCall(kind, failed, 'failed', { error: errorMessage(err) });
        throw err;
      }
      const finished = { ...call, status: 'finished' as const, result, finishedAt: Date.now(), attempts: 1 };
      await this.deps.journal.finish(finished, []);
      this.emitCall(kind, finished, 'done');
      return result;
    } finally {
      this.inflight--;
    }
  }

  /** `tasks.*`: the task board of the run's list, each operation journaled like any call. */
  tasksApi(scope: Scope): WorkflowTasks {
    const board = () => {
      if (!this.deps.taskBoard) throw new ScriptUsageError('tasks: this run has no task list');
      return this.deps.taskBoard;
    };
    const op = <T>(name: string, args: unknown[], fn: (b: TaskBoard) => Promise<T>) => {
      this.checkNotAborted();
      return this.journaled('task', scope, { op: name, args }, `tasks.${name}`, async () =>
        toPlain(await fn(board()), `tasks.${name}()`),
      ) as Promise<T>;
    };
    const checked = <T>(schema: z.ZodType<T>, value: unknown, where: string) => checkOptions(schema, value, where);
    return {
      listId: this.deps.taskBoard?.listId ?? null,
      create: (input) => op('create', [input], (b) => b.create(checked(TaskCreateSchema, input, 'tasks.create()'))),
      update: (id, patch) => op('update', [id, patch], (b) => b.update(String(id), checked(TaskPatchSchema, patch, 'tasks.update()'))),
      ready: (limit) => op('ready', [limit ?? null], (b) => b.ready(limit)),
      claim: (options) => op('claim', [options ?? null], (b) => b.claim(checked(TaskClaimSchema, options, 'tasks.claim()'))),
      complete: (id) => op('complete', [id], (b) => b.complete(String(id))),
      list: (filter) => op('list', [filter ?? null], (b) => b.list(checked(TaskFilterSchema, filter, 'tasks.list()'))),
    };
  }

  async ask(scope: Scope, question: unknown, rawOptions?: unknown): Promise<string> {
    this.checkNotAborted();
    if (typeof question !== 'string' || question.trim() === '') throw new ScriptUsageError('ask(): question must be a non-empty string');
    const options: AskOptions = checkOptions(AskOptionsSchema, rawOptions, 'ask()');
    const key = this.identity.keyFor('ask', { question, choices: options.choices, scope: scope.name ?? undefined });
    const call = this.record('ask', key, shortLabel(question), this.currentPhase, { question, choices: options.choices });
    const hit = await this.reuse(key);
    if (hit) {
      this.emitCall('ask', hit, 'reused');
      return hit.result as string;
    }
    const id = `q-${key.slice(key.indexOf(':') + 1, key.indexOf(':') + 11)}`;
    const record: QuestionRecord = {
      id,
      runId: this.deps.runId,
      callKey: key,
      question,
      choices: options.choices ?? null,
      status: 'pending',
      answer: null,
      createdAt: Date.now(),
      answeredAt: null,
    };
    await this.deps.store.createQuestion(record);
    if (!this.deps.journal.entry(key)) this.deps.journal.started(call);
    this.emitCall('ask', call, 'waiting');
    return new Promise<string>((resolve) => {
      this.pendingAsks.set(id, {
        key,
        question: record,
        resolve: (answer) => {
          this.deps.journal.remember({ ...call, status: 'finished', result: answer, finishedAt: Date.now() });
          this.emitCall('ask', call, 'done');
          resolve(answer);
        },
      });
    });
  }

  async sleep(scope: Scope, ms: unknown): Promise<void> {
    this.checkNotAborted();
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new ScriptUsageError('sleep(): ms must be a finite number ≥ 0');
    const key = this.identity.keyFor('sleep', { ms, scope: scope.name ?? undefined });
    const earlier = this.deps.journal.entry(key);
    const hit = await this.reuse(key);
    if (hit) return;
    // Durable: the wake-up time is stored, so a resume sleeps only what is left.
    const wakeAt = (earlier?.inputs as { wakeAt?: number } | null)?.wakeAt ?? Date.now() + ms;
    const call = this.record('sleep', key, `sleep ${ms}ms`, this.currentPhase, { ms, wakeAt });
    this.inflight++;
    try {
      if (!earlier) this.deps.journal.started(call);
      try {
        await delay(Math.max(0, wakeAt - Date.now()), undefined, { signal: this.deps.signal });
      } catch {
        throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
      }
      await this.deps.journal.finish({ ...call, status: 'finished', finishedAt: Date.now(), attempts: 1 }, []);
    } finally {
      this.inflight--;
    }
  }

  /** Date.now()/Math.random() as journaled values: synchronous, committed with the next outcome. */
  value(scope: Scope, kind: 'clock' | 'random', produce: () => number): number {
    const key = this.identity.keyFor(kind, { scope: scope.name ?? undefined });
    const hit = this.deps.journal.reuse(key);
    if (hit) return hit.result as number;
    const value = produce();
    const now = Date.now();
    this.deps.journal.addValue({
      ...this.record(kind, key, null, null, null),
      status: 'finished',
      result: value,
      finishedAt: now,
      attempts: 1,
    });
    return value;
  }
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Tool-call timings feed spans; the stored record keeps the counts. */
function withoutSteps(detail: NonNullable<AgentOutcome['detail']>): Record<string, unknown> {
  const { steps: _steps, ...rest } = detail;
  return rest;
}
