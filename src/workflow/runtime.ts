import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import { type AgentBackend, type AgentOutcome, defaultModelFor, findAgentDefinition } from '../agents/index.js';
import {
  canonicalJson,
  DroverError,
  describeNonJson,
  errorMessage,
  redactDeep,
  redactSecrets,
  sha256Hex,
  WorkflowLimitError,
} from '../core/index.js';
import { attributionHeaders } from '../gateway/index.js';
import type { PolicyAuditEvent } from '../policy/index.js';
import { SandboxError, type SandboxSpec } from '../sandbox/index.js';
import type {
  CallKind,
  CallRecord,
  Fence,
  QuestionRecord,
  RunEvent,
  RunSettings,
  Store,
  StoredError,
  UsageRecord,
} from '../store/index.js';
import { TaskRuleError } from '../store/index.js';
import type { TaskBoard } from '../tasks/index.js';
import { traceIdForRun, traceparent } from '../telemetry/index.js';
import type { AskOptions, Budget, ShOptions, Stage, Thunk, WorkflowApi, WorkflowTasks } from './api.js';
import type { RunBudget } from './budget.js';
import { endsRun, QuotaGoneError, RunAbortedError, ScriptUsageError } from './errors.js';
import type { CallState, ProgressListener } from './events.js';
import { CallIdentity, type CallIds } from './identity.js';
import type { ExecuteReason, Journal, ReuseVia } from './journal.js';
import { MAX_ITEMS_PER_CALL, MAX_LOG_CHARS, MAX_TIMER_MS } from './limits.js';
import {
  AskOptionsSchema,
  checkOptions,
  parseAgentCall,
  ShOptionsSchema,
  TaskClaimSchema,
  TaskCreateSchema,
  TaskFilterSchema,
  TaskPatchSchema,
} from './options.js';
import { APPROVAL_CHOICES, type Approver, awaitApproval, policyRefusalOf, type RunPolicy } from './run-policy.js';
import type { ScriptHost } from './sandbox.js';
import { Semaphore } from './semaphore.js';
import { runShell, type ShellResult } from './shell.js';
import type { CallSpan, CallTracing } from './tracing.js';
import type { TranscriptRecorder } from './transcripts.js';
import { type PreparedWorktree, prepareWorktree, settleWorktree } from './worktree.js';

export { RunAbortedError, ScriptUsageError } from './errors.js';

/**
 * `--plan`: what a run would do, without doing it. The runtime reports each call it would
 * reuse or run; a call that would run blocks its branch (its result is not known yet).
 */
export interface PlanRecorder {
  reused(call: CallRecord, via: ReuseVia, branch: string): void;
  wouldRun(kind: CallKind, label: string, reason: ExecuteReason, branch: string): void;
  /** A promise that never settles: the branch stops here. */
  block(): Promise<never>;
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
  execute(api: WorkflowApi, host?: ScriptHost): Promise<unknown>;
}

export interface RuntimeDeps {
  runId: string;
  store: Store;
  journal: Journal;
  settings: RunSettings;
  workdir: string;
  /** The backend for `name`; with `pool`, one whose agents run on that pool's workers (src/worker/pooled-backend.ts). */
  backend(name: string, pool?: string): AgentBackend;
  emit: ProgressListener;
  signal: AbortSignal;
  /** Output tokens the run spent in earlier executions. */
  spentBefore: number;
  /** Caps and the `budget` global read from the ledger (src/workflow/budget.ts); absent: output tokens counted here. */
  budget?: RunBudget;
  /** Set for `--plan`: report calls instead of running them. */
  plan?: PlanRecorder;
  /** The run's task list, for `tasks.*`. */
  taskBoard?: TaskBoard;
  /** Spans of calls (a no-op when tracing is off). */
  tracing: CallTracing;
  /**
   * False when the run's gateway writes the ledger and per-call usage is read from it
   * (run-gateway.ts `USAGE_FROM_LEDGER`): the agents' own usage reports are then not stored, so
   * there is no second copy. Default true.
   */
  storeAgentUsage?: boolean;
  /** Stores agent transcripts when the run's content capture is on (transcripts.ts). */
  transcripts?: TranscriptRecorder;
  loadChild(ref: unknown, fromDir: string): Promise<ChildWorkflow>;
  /** The run's OS sandbox for `sh` and agents' processes (nested workflows share it); absent: none. */
  sandbox?: SandboxSpec;
  /** The workflow's policy (run-policy.ts): checked where agents act; absent: nothing is checked. */
  policy?: RunPolicy;
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
  const notJson = describeNonJson(value, `${where}: the result`);
  if (notJson) throw new ScriptUsageError(notJson);
  try {
    return JSON.parse(JSON.stringify(value));
  } catch (err) {
    throw new ScriptUsageError(`${where}: result is not JSON-serializable (${errorMessage(err)})`);
  }
}

/** A call about to run: its journal record and identities. */
interface Begun {
  call: CallRecord;
  ids: CallIds;
}

/**
 * The workflow runtime: every global a script calls. Each call is identified by where it
 * sits (see identity.ts) and matched against the journal; finished ones are served from it,
 * the rest run and are journaled.
 */
export class WorkflowRuntime {
  private readonly identity: CallIdentity;
  private readonly agentSlots: Semaphore;
  private agentCount = 0;
  private currentPhase: string | null = null;
  private spentNow = 0;
  /** Phases agents ran in (their caps are watched for warnings). */
  private readonly phasesSeen = new Set<string>();
  private readonly pendingEvents: RunEvent[] = [];
  private readonly warned = new Set<string>();
  /** Calls doing work right now (agents queued or running, sh, step, sleep, timers). */
  inflight = 0;
  readonly pendingAsks = new Map<string, { key: string; question: QuestionRecord; resolve: (answer: string) => void }>();

  constructor(private readonly deps: RuntimeDeps) {
    this.agentSlots = new Semaphore(deps.settings.concurrency);
    this.identity = new CallIdentity(deps.journal.legacyEntries > 0);
  }

  /** The functions handed to a script, bound to a scope (top level or nested workflow). */
  api(scope: Scope): WorkflowApi {
    const ledger = this.deps.budget;
    const total = ledger ? ledger.total : (this.deps.settings.budgetTokens ?? null);
    const budget: Budget = {
      total,
      spent: () => this.value(scope, 'budget', () => (ledger ? ledger.spent() : this.deps.spentBefore + this.spentNow)),
      remaining: () => (total === null ? Number.POSITIVE_INFINITY : Math.max(0, total - budget.spent())),
    };
    return {
      agent: (prompt, options) => this.agent(scope, prompt, options),
      parallel: (thunks) => this.parallel(thunks),
      pipeline: (items, ...stages) => this.pipeline(items, stages),
      phase: (title) => this.phase(title),
      log: (...message) => this.log(...message),
      args: scope.args,
      budget,
      workflow: (ref, args) => this.workflow(scope, ref, args),
      sh: (command, options) => this.sh(scope, command, options),
      step: (name, fn) => this.step(scope, name, fn) as Promise<never>,
      ask: (question, options) => this.ask(scope, question, options),
      sleep: (ms) => this.sleep(scope, ms),
      now: () => this.value(scope, 'clock', Date.now),
      random: () => this.value(scope, 'random', Math.random),
      tasks: this.tasksApi(scope),
      runId: this.deps.runId,
      scriptDir: scope.scriptDir,
    };
  }

  /** Output tokens of this execution's agents, from their usage (the ledger-less count). */
  get outputTokensNow(): number {
    return this.spentNow;
  }

  /** The lease this execution writes under (undefined for `--plan`, which writes nothing). */
  get fence(): Fence | undefined {
    return this.deps.journal.fence;
  }

  takeEvents(): RunEvent[] {
    return this.pendingEvents.splice(0);
  }

  /** The run's stop signal, for the sandbox (no script code runs once it fired). */
  get signal(): AbortSignal {
    return this.deps.signal;
  }

  /** Tracks host work the script waits on that is not a call (timers, a result entering the sandbox): the run is not idle while it is pending. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight++;
    return work.finally(() => {
      this.inflight--;
    });
  }

  private checkNotAborted(): void {
    if (this.deps.signal.aborted) throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
  }

  private record(kind: CallKind, ids: CallIds, label: string | null, phase: string | null, inputs: unknown): CallRecord {
    return {
      runId: this.deps.runId,
      key: ids.key,
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
      positionKey: ids.positionKey,
      contentKey: ids.contentKey,
    };
  }

  private emitCall(
    kind: 'agent' | 'sh' | 'step' | 'ask' | 'sleep' | 'task',
    call: CallRecord,
    state: CallState,
    extra: { outputTokens?: number; inputTokens?: number; cacheTokens?: number; error?: string } = {},
  ): void {
    this.deps.emit({ type: 'call', kind, key: call.key, label: call.label ?? kind, phase: call.phase, state, at: Date.now(), ...extra });
  }

  /**
   * Identifies a call and matches it against the journal: a finished entry is served (the
   * caller returns its result); otherwise the call is counted and its record made. Under
   * `--plan` a call that would run is reported and its branch stops here.
   * @param identityInputs every input that changes the result (hashed, never stored)
   * @param storedInputs the readable inputs kept in the journal (no secrets)
   */
  private async begin(
    kind: Exclude<CallKind, 'clock' | 'random' | 'budget'>,
    scope: Scope,
    identityInputs: Record<string, unknown>,
    storedInputs: unknown,
    label: string,
    phase: string | null,
  ): Promise<{ hit: CallRecord } | Begun> {
    const ids = this.identity.identify(kind, identityInputs, scope.name);
    const match = this.deps.journal.match(kind, ids);
    if (match.reuse) {
      this.deps.plan?.reused(match.reuse, match.via, ids.branch);
      return { hit: match.reuse };
    }
    if (this.deps.plan) {
      this.deps.plan.wouldRun(kind, label, match.reason, ids.branch);
      return this.deps.plan.block();
    }
    // A write of this run was lost (see Journal.fail): no new side effect starts.
    this.deps.journal.throwIfFailed();
    this.deps.journal.countExecuting(kind);
    return { call: this.record(kind, ids, label, phase, storedInputs), ids };
  }

  /** Something drover accepted but ignored: logged once per distinct message, kept for `status`. */
  warn(raw: string): void {
    const message = redactSecrets(raw);
    if (this.warned.has(message)) return;
    this.warned.add(message);
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'warning', data: { message } });
    this.deps.emit({ type: 'log', message: `warning: ${message}`, at, level: 'warning' });
  }

  async agent(scope: Scope, rawPrompt: unknown, rawOptions?: unknown): Promise<unknown> {
    this.checkNotAborted();
    const { prompt, options, warnings } = parseAgentCall(rawPrompt, rawOptions);
    for (const w of warnings) this.warn(w);
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
      // The agent type's definition file is part of what the call is: editing it re-runs the call.
      agentDefinition: options.agentType ? this.agentDefinitionHash(options.agentType, options.cwd) : undefined,
    };
    // What is stored is redacted (prompt and label included); the identity hashes the real inputs.
    const begun = await this.begin(
      'agent',
      scope,
      inputs,
      redactDeep(inputs),
      redactSecrets(options.label ?? shortLabel(prompt)),
      options.phase ?? this.currentPhase,
    );
    if ('hit' in begun) {
      const { hit } = begun;
      this.deps.tracing.reused('agent', `invoke_agent ${hit.label ?? 'agent'}`, hit);
      this.emitCall('agent', hit, 'reused');
      return hit.status === 'finished' ? this.approveResult(scope, hit, backendName) : hit.result;
    }
    const { call } = begun;
    const key = call.key;
    const limitsFor = await this.policyGate(call, () => this.deps.policy?.checkAgent(backendName, model, options.tools, key));
    const backend = this.deps.backend(backendName, options.pool ?? settings.agentPool);
    // A worker's agent makes its worktree in the worker's own checkout.
    const remote = (backend as { remote?: boolean }).remote === true;
    let done: CallRecord;
    this.inflight++;
    const release = await this.agentSlots.acquire();
    try {
      this.checkNotAborted();
      // The budget is checked when the agent starts, not when it queued for a slot.
      const budget = settings.budgetTokens;
      if (budget !== undefined && this.deps.spentBefore + this.spentNow >= budget) {
        const error = { code: 'BUDGET_EXHAUSTED', message: `agent(): the run's budget of ${budget} output tokens is spent` };
        await this.deps.journal.finish({ ...call, status: 'failed', error, finishedAt: Date.now() }, []);
        this.emitCall('agent', call, 'failed', { error: error.message });
        throw new WorkflowLimitError('BUDGET_EXHAUSTED', error.message);
      }
      call.startedAt = Date.now();
      this.deps.journal.started(call);
      this.emitCall('agent', call, 'running');
      let outcome: AgentOutcome;
      let worktree: PreparedWorktree | undefined;
      const span: CallSpan | null = this.deps.tracing.startAgent(call, { backend: backendName, model, prompt });
      try {
        const cwd = this.resolveCwd(options.cwd);
        if (options.isolation === 'worktree' && !remote) worktree = await prepareWorktree(cwd, this.deps.runId, key);
        outcome = await backend.run({
          ...(remote && options.isolation ? { isolation: options.isolation } : {}),
          prompt,
          model,
          cwd: worktree ? worktree.cwd : cwd,
          signal: this.deps.signal,
          callTag: key,
          gatewayHeaders: attributionHeaders({
            runId: this.deps.runId,
            callKey: key,
            agentLabel: call.label ?? null,
            phase: call.phase ?? null,
            workflow: null,
            session: null,
          }),
          ...(backendName === 'builtin' ? {} : { env: span ? span.env : { TRACEPARENT: traceparent(traceIdForRun(this.deps.runId)) } }),
          ...(this.deps.sandbox ? { sandbox: this.deps.sandbox } : {}),
          ...(options.tools ? { tools: options.tools } : {}),
          ...(options.maxTurns ? { maxTurns: options.maxTurns } : {}),
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          ...(options.system !== undefined ? { system: options.system } : {}),
          ...(options.schema ? { schema: options.schema } : {}),
          ...(options.effort ? { effort: options.effort } : {}),
          ...(options.agentType ? { agentType: options.agentType } : {}),
          ...(options.model ? { modelFromCall: true } : {}),
          ...(call.label ? { label: call.label } : {}),
          ...(limitsFor ? { policy: limitsFor(worktree?.path) } : {}),
          onProgress: (p) => {
            if (p.type === 'warning') this.warn(`${call.label ?? 'agent'}: ${p.message}`);
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
        if (worktree) outcome = await settleWorktree(worktree, outcome, call.label ?? 'agent');
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
      if (this.deps.transcripts?.on) await this.deps.transcripts.record(call, backendName, { prompt, system: options.system }, outcome);
      const outputTokens = usage.reduce((n, u) => n + u.outputTokens, 0);
      const inputTokens = usage.reduce((n, u) => n + u.inputTokens, 0);
      const cacheTokens = usage.reduce((n, u) => n + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens, 0);
      this.spentNow += outputTokens;
      if (!outcome.ok && this.deps.signal.aborted) {
        // Stopped, not failed: leave the entry unfinished so a resume runs it again, but keep its cost.
        await this.deps.journal.finish({ ...call, attempts: outcome.attempts }, this.storedUsage(usage));
        throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
      }
      const finished: CallRecord = {
        ...call,
        status: outcome.ok ? 'finished' : 'failed',
        // A result is what the script sees and what a resume replays: redacted in both, so they agree.
        result: outcome.ok ? redactDeep(options.schema ? outcome.object : outcome.text) : null,
        error: outcome.ok ? null : redactDeep(outcome.error),
        attempts: outcome.attempts,
        finishedAt: Date.now(),
        ...(outcome.detail ? { detail: withoutSteps(outcome.detail) } : {}),
      };
      await this.deps.journal.finish(finished, this.storedUsage(usage), outcome.earlier !== undefined);
      this.emitCall('agent', finished, outcome.ok ? (outcome.earlier ? 'reused' : 'done') : 'failed', {
        outputTokens,
        inputTokens,
        cacheTokens,
        ...(outcome.ok ? {} : { error: outcome.error.message }),
      });
      if (!outcome.ok && outcome.error.code === 'QUOTA_EXHAUSTED') throw new QuotaGoneError(outcome.error.message);
      if (this.deps.budget) {
        if (finished.phase) this.phasesSeen.add(finished.phase);
        // Uncapped runs skip the read: their budget.spent() counts output tokens (usage rows) as before.
        if (this.deps.budget.capped) await this.deps.budget.refresh(this.phasesSeen);
        // A cap refused the agent's request: agent() rejects with it (parallel turns it into null).
        const refusal = outcome.ok ? undefined : this.deps.budget.refusalOf(key, outcome.error);
        if (refusal) throw refusal;
      }
      // The run's gateway refused a request for the policy: agent() rejects with POLICY_DENIED.
      const denied = outcome.ok || !this.deps.policy ? undefined : policyRefusalOf(outcome.error);
      if (denied) throw denied;
      done = finished;
    } finally {
      release();
      this.inflight--;
    }
    // Outside the agent slot and the in-flight count: a run waiting only for approvals is `waiting`.
    return this.approveResult(scope, done, backendName);
  }

  /** The usage rows the journal stores for an agent call: none when the ledger is the only copy. */
  private storedUsage(usage: UsageRecord[]): UsageRecord[] {
    return this.deps.storeAgentUsage === false ? [] : usage;
  }

  /** A hash of the agent type's definition as the backends will read it; undefined when none is found (the backend says why). */
  private agentDefinitionHash(agentType: string, cwd: string | undefined): string | undefined {
    try {
      const { source: _source, ...definition } = findAgentDefinition(agentType, { cwd: this.resolveCwd(cwd) });
      return sha256Hex(canonicalJson(definition)).slice(0, 16);
    } catch {
      return undefined;
    }
  }

  /** Commits the agent's changes on its branch; a text result says where they are, as Claude Code's does. */
  private resolveCwd(cwd: string | undefined): string {
    if (!cwd) return this.deps.workdir;
    return cwd.startsWith('/') ? cwd : `${this.deps.workdir}/${cwd}`;
  }

  /**
   * Runs a policy check for a call about to execute: a PolicyDeniedError fails the call in the
   * journal (a resume checks again) and rejects the script's call.
   */
  private async policyGate<T>(call: CallRecord, check: () => T): Promise<T> {
    try {
      return check();
    } catch (err) {
      const error = storedError(err);
      await this.deps.journal.finish({ ...call, status: 'failed', error, finishedAt: Date.now() }, []);
      this.emitCall(call.kind as 'agent', call, 'failed', { error: error.message });
      throw err;
    }
  }

  /** Durable approval questions for the policy, asked in the caller's branch. */
  private approver(scope: Scope): Approver {
    return (question, onCreated) => this.ask(scope, question, { choices: APPROVAL_CHOICES }, onCreated);
  }

  /** An agent's result, once a human approved it when the policy says its results need approval. */
  private async approveResult(scope: Scope, call: CallRecord, backend: string): Promise<unknown> {
    const policy = this.deps.policy;
    const label = call.label ?? 'agent';
    const needs = policy?.policy.resultApproval(label, backend);
    if (!policy || !needs?.allow) return call.result;
    const text = typeof call.result === 'string' ? call.result : JSON.stringify(call.result);
    await awaitApproval(policy, this.approver(scope), {
      attempted: `use of agent "${label}"'s result`,
      ruleIds: needs.ruleIds,
      at: 'result',
      callKey: call.key,
      detail: `result: ${text.length > 400 ? `${text.slice(0, 400)}…` : text}`,
    });
    return call.result;
  }

  /** An audit record of the policy: a `policy` run event (shown by `status`) and a span event in the trace. */
  policyEvent(e: PolicyAuditEvent): void {
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'policy', data: { ...e } });
    this.deps.tracing.policyEvent(this.currentPhase, e);
    const what = e.kind === 'deny' ? 'denied' : e.kind === 'approval_request' ? 'asks approval for' : 'approval of';
    this.deps.emit({ type: 'log', message: `policy ${what} ${e.attempted} [${e.ruleIds.join(', ')}]`, at, level: 'warning' });
  }

  /** `parallel(thunks)`: a barrier that never rejects (a failed thunk yields null); each thunk is its own branch. */
  async parallel(thunks: unknown): Promise<unknown[]> {
    if (!Array.isArray(thunks)) throw new ScriptUsageError('parallel(): takes an array of functions');
    if (thunks.length > MAX_ITEMS_PER_CALL) {
      throw new WorkflowLimitError('TOO_MANY_ITEMS', `parallel(): ${thunks.length} items; at most ${MAX_ITEMS_PER_CALL} per call`);
    }
    thunks.forEach((t, i) => {
      if (typeof t !== 'function') throw new ScriptUsageError(`parallel(): item ${i} is not a function`);
    });
    const parent = this.identity.branch();
    const fork = parent.nextFork('p');
    return Promise.all(
      (thunks as Thunk[]).map((thunk, i) =>
        this.identity.within(parent.child(`p${fork}.${i}`), async () => {
          try {
            return await thunk();
          } catch (err) {
            if (endsRun(err)) throw err;
            this.log(`parallel item ${i} failed: ${errorMessage(err)}`);
            return null;
          }
        }),
      ),
    );
  }

  /**
   * `pipeline(items, ...stages)`: no barrier between stages; a throwing stage drops its item
   * to null. Each item's stage is its own branch, continuing the item's earlier stages.
   * With no stages, the items come back as they are (as in Claude Code).
   */
  async pipeline(items: unknown, stages: unknown[]): Promise<unknown[]> {
    if (!Array.isArray(items)) throw new ScriptUsageError('pipeline(): first argument must be an array of items');
    if (items.length > MAX_ITEMS_PER_CALL) {
      throw new WorkflowLimitError('TOO_MANY_ITEMS', `pipeline(): ${items.length} items; at most ${MAX_ITEMS_PER_CALL} per call`);
    }
    stages.forEach((s, i) => {
      if (typeof s !== 'function') throw new ScriptUsageError(`pipeline(): stage ${i} is not a function`);
    });
    const parent = this.identity.branch();
    const fork = parent.nextFork('l');
    return Promise.all(
      items.map(async (item, index) => {
        const itemBranch = parent.child(`l${fork}.${index}`);
        let prev: unknown = item;
        try {
          for (const [s, stage] of (stages as Stage[]).entries()) {
            const stageBranch = itemBranch.child(`s${s}`);
            prev = await this.identity.within(stageBranch, () => stage(prev, item, index));
            itemBranch.continueFrom(stageBranch);
          }
          return prev;
        } catch (err) {
          if (endsRun(err)) throw err;
          this.log(`pipeline item ${index} dropped: ${errorMessage(err)}`);
          return null;
        }
      }),
    );
  }

  phase(title: unknown): void {
    if (typeof title !== 'string' || title.trim() === '') throw new ScriptUsageError('phase(): title must be a non-empty string');
    this.currentPhase = redactSecrets(title);
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'phase', data: { title: this.currentPhase } });
    this.deps.emit({ type: 'phase', title: this.currentPhase, at });
  }

  /** `log(...values)` / `console.log(...)`: every argument, strings as they are, others as JSON, joined by spaces. */
  log(...message: unknown[]): void {
    const full = message.map((m) => (typeof m === 'string' ? m : safeStringify(m))).join(' ');
    const text = redactSecrets(
      full.length > MAX_LOG_CHARS
        ? `${full.slice(0, MAX_LOG_CHARS)}… [log line cut at ${MAX_LOG_CHARS} characters of ${full.length}]`
        : full,
    );
    const at = Date.now();
    this.pendingEvents.push({ runId: this.deps.runId, ts: at, type: 'log', data: { message: text } });
    this.deps.emit({ type: 'log', message: text, at });
  }

  async workflow(scope: Scope, ref: unknown, args: unknown): Promise<unknown> {
    this.checkNotAborted();
    if (scope.depth >= 1)
      throw new WorkflowLimitError('NESTING_LIMIT', 'workflow(): a nested workflow cannot start another (one level of nesting)');
    const parent = this.identity.branch();
    const fork = parent.nextFork('w');
    const child = await this.track(this.deps.loadChild(ref, scope.scriptDir));
    this.log(`workflow ${child.name} started`);
    return this.identity.within(parent.child(`w${fork}:${child.name}`), () =>
      child.execute(this.api({ name: child.name, depth: scope.depth + 1, args, scriptDir: child.scriptDir }), this),
    );
  }

  async sh(scope: Scope, command: unknown, rawOptions?: unknown): Promise<ShellResult> {
    this.checkNotAborted();
    if (typeof command !== 'string' || command.trim() === '') throw new ScriptUsageError('sh(): command must be a non-empty string');
    const options: ShOptions = checkOptions(ShOptionsSchema, rawOptions, 'sh()');
    const identity = { command, cwd: options.cwd ?? '.', env: options.env, timeoutMs: options.timeoutMs };
    // Stored inputs name env keys only: values may be secrets.
    const stored = {
      command: redactSecrets(command),
      cwd: options.cwd ?? '.',
      envKeys: Object.keys(options.env ?? {}),
      timeoutMs: options.timeoutMs,
    };
    const label = redactSecrets(shortLabel(command));
    if (this.deps.policy) {
      // Denied commands never start; those the tier marks wait for a human's approval (this branch only).
      this.deps.policy.checkCommand(command, label);
      const needs = this.deps.policy.policy.commandApproval(command);
      if (needs.allow) {
        await awaitApproval(this.deps.policy, this.approver(scope), { attempted: `sh "${label}"`, ruleIds: needs.ruleIds, at: 'sh' });
      }
    }
    const begun = await this.begin('sh', scope, identity, stored, label, this.currentPhase);
    if ('hit' in begun) {
      this.deps.tracing.reused('sh', `sh ${label}`, begun.hit);
      this.emitCall('sh', begun.hit, 'reused');
      return begun.hit.result as ShellResult;
    }
    const { call } = begun;
    this.inflight++;
    try {
      this.deps.journal.started(call);
      this.emitCall('sh', call, 'running');
      // The command's own spans (TRACEPARENT, and the run's OTLP receiver) nest under this one.
      const span = this.deps.tracing.start('sh', `sh ${label}`, call, {
        'drover.sh.command': redactSecrets(command).slice(0, 1000),
      });
      let result: ShellResult;
      try {
        // What a command prints is stored and replayed redacted; the script sees the same on the first run.
        result = redactDeep(
          await runShell(command, {
            cwd: this.resolveCwd(options.cwd),
            signal: this.deps.signal,
            env: { ...span?.env, ...options.env },
            ...(this.deps.sandbox ? { sandbox: this.deps.sandbox } : {}),
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          }),
        );
      } catch (err) {
        const failed = { ...call, status: 'failed' as const, error: storedError(err), finishedAt: Date.now(), attempts: 1 };
        this.deps.tracing.end(span, call, { code: err instanceof SandboxError ? err.code : 'SPAWN', message: errorMessage(err) });
        await this.deps.journal.finish(failed, []);
        this.emitCall('sh', failed, 'failed', { error: errorMessage(err) });
        // A refused sandbox keeps its code (SANDBOX_UNAVAILABLE): the command did not run.
        if (err instanceof SandboxError) throw err;
        throw new ScriptUsageError(`sh(): could not run "${label}": ${errorMessage(err)}`);
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
    return this.journaled('step', scope, { name }, redactSecrets(name), async () =>
      redactDeep(toPlain(await (fn as () => unknown)(), `step("${name}")`)),
    );
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
    const begun = await this.begin(kind, scope, inputs, redactDeep(inputs), label, this.currentPhase);
    if ('hit' in begun) {
      const { hit } = begun;
      this.emitCall(kind, hit, 'reused');
      if (hit.error) throw new TaskRuleError(hit.error.code as 'INVALID_TASK', hit.error.message);
      return hit.result;
    }
    const { call } = begun;
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

  /** `ask(question, options)`; `onCreated` (drover's own approvals) gets the id of a question asked anew. */
  async ask(scope: Scope, question: unknown, rawOptions?: unknown, onCreated?: (questionId: string) => void): Promise<string> {
    this.checkNotAborted();
    if (typeof question !== 'string' || question.trim() === '') throw new ScriptUsageError('ask(): question must be a non-empty string');
    const options: AskOptions = checkOptions(AskOptionsSchema, rawOptions, 'ask()');
    const inputs = { question, choices: options.choices };
    const begun = await this.begin('ask', scope, inputs, redactDeep(inputs), redactSecrets(shortLabel(question)), this.currentPhase);
    if ('hit' in begun) {
      this.emitCall('ask', begun.hit, 'reused');
      return begun.hit.result as string;
    }
    const { call } = begun;
    const key = call.key;
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
    await this.deps.store.createQuestion(record, this.deps.journal.fence);
    const earlier = this.deps.journal.entry(key);
    if (!earlier) onCreated?.(id);
    if (!earlier) this.deps.journal.started(call);
    this.emitCall('ask', call, 'waiting');
    return new Promise<string>((resolve, reject) => {
      this.pendingAsks.set(id, {
        key,
        question: record,
        resolve: (answer) => {
          const answered: CallRecord = {
            ...call,
            startedAt: earlier?.startedAt ?? call.startedAt,
            status: 'finished',
            result: answer,
            finishedAt: Date.now(),
          };
          // The script gets the answer once it is committed. A failed commit (LEASE_LOST, a full disk)
          // rejects the ask, and stays recorded so the run fails even if the script catches it.
          this.deps.journal.finish(answered, []).then(
            () => {
              this.emitCall('ask', call, 'done');
              resolve(answer);
            },
            (err: unknown) => {
              this.deps.journal.fail(err);
              reject(err);
            },
          );
        },
      });
    });
  }

  async sleep(scope: Scope, ms: unknown): Promise<void> {
    this.checkNotAborted();
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new ScriptUsageError('sleep(): ms must be a finite number ≥ 0');
    const begun = await this.begin('sleep', scope, { ms }, { ms }, `sleep ${ms}ms`, this.currentPhase);
    if ('hit' in begun) return;
    const { call } = begun;
    const earlier = this.deps.journal.entry(call.key);
    // Durable: the wake-up time is stored, so a resume sleeps only what is left.
    const wakeAt = (earlier?.inputs as { wakeAt?: number } | null)?.wakeAt ?? Date.now() + ms;
    call.inputs = { ms, wakeAt };
    this.inflight++;
    try {
      if (!earlier) this.deps.journal.started(call);
      try {
        // Node's timers overflow past 2^31-1 ms (they would fire at once): wait in chunks.
        for (let left = wakeAt - Date.now(); left > 0; left = wakeAt - Date.now()) {
          await delay(Math.min(left, MAX_TIMER_MS), undefined, { signal: this.deps.signal });
        }
      } catch {
        throw new RunAbortedError(String(this.deps.signal.reason ?? 'run stopped'));
      }
      await this.deps.journal.finish({ ...call, status: 'finished', finishedAt: Date.now(), attempts: 1 }, []);
    } finally {
      this.inflight--;
    }
  }

  /**
   * A value the script reads synchronously — Date.now(), Math.random(), budget.spent() — journaled
   * at its place, so a replay sees what the first execution saw there. Committed with the next write.
   */
  value(scope: Scope, kind: 'clock' | 'random' | 'budget', produce: () => number): number {
    const ids = this.identity.identify(kind, {}, scope.name);
    const match = this.deps.journal.match(kind, ids);
    if (match.reuse) return match.reuse.result as number;
    const value = produce();
    const now = Date.now();
    this.deps.journal.addValue({
      ...this.record(kind, ids, null, null, null),
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
  const { steps: _steps, transcript: _transcript, ...rest } = detail;
  return rest;
}
