import { setMaxListeners } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AgentBackend, BackoffPolicy } from '../agents/index.js';
import { BACKEND_NAMES, defaultModelFor, PROVIDERS, type ProviderName } from '../agents/index.js';
import { type DailyCaps, mergeRunCaps, type RunCaps } from '../budget/index.js';
import type { PriceOverrides } from '../budget/prices.js';
import {
  DroverError,
  describeNonJson,
  errorMessage,
  InputError,
  isErrorLike,
  LeaseLostError,
  makeDirectory,
  NotFoundError,
  nestingDepth,
  newRunId,
  redactDeep,
  ScriptError,
  sha256Hex,
  validateRunId,
} from '../core/index.js';
import { loadScenario, runCassetteMode } from '../gateway/index.js';
import type { PolicyEngine } from '../policy/index.js';
import { refreshSecretEnv } from '../redact/index.js';
import type { SandboxSpec } from '../sandbox/index.js';
import type { QuestionRecord, RunPatch, RunRecord, RunSettings, RunStatus, Store, StoredError, UsageTotals } from '../store/index.js';
import { resolveTaskListId, TaskBoard } from '../tasks/index.js';
import type { OtlpReceiver, RunTracer } from '../telemetry/index.js';
import { JobOutcomes, PooledBackend } from '../worker/pooled-backend.js';
import { gitCommitOf } from '../worker/workspace.js';
import { RunBudget } from './budget.js';
import { RunAbortedError } from './errors.js';
import type { ProgressListener } from './events.js';
import { Journal } from './journal.js';
import { RunLease } from './lease.js';
import { DEFAULT_MAX_AGENTS, defaultConcurrency, maxResultBytes } from './limits.js';
import { type LoadedWorkflow, loadChildWorkflow, loadWorkflowFile, loadWorkflowSource } from './loader.js';
import { positionInStack } from './positions.js';
import { watchRateLimits } from './rate-limit-watch.js';
import { type RunGateway, USAGE_FROM_LEDGER } from './run-gateway.js';
import { loadRunPolicyEngine, RunPolicy } from './run-policy.js';
import { policySandbox, runSandboxSpec } from './run-sandbox.js';
import { localBackend, openRunGateway } from './run-services.js';
import { startTracing } from './run-tracing.js';
import { WorkflowRuntime } from './runtime.js';
import { STOP_REASON, StopWatch, stoppedEnd } from './stop-watch.js';
import { contentCaptureOn, TranscriptRecorder } from './transcripts.js';

export interface SettingsOverrides {
  backend?: string;
  /** Model API of the builtin backend. */
  provider?: ProviderName;
  model?: string;
  concurrency?: number;
  gateway?: string;
  sim?: string;
  /** `--record <dir>`: record the run's model traffic into cassettes. */
  record?: string;
  /** `--replay <dir>`: answer every model request from cassettes (no upstream, no key). */
  replay?: string;
  maxAgents?: number;
  budgetTokens?: number;
  /** Hard cap on the run's spend, USD (`--max-usd`). */
  maxUsd?: number;
  /** Hard cap on the run's output tokens (`--max-tokens`). */
  maxTokens?: number;
  /** Hard cap per agent call, USD (`--max-usd-per-agent`). */
  maxUsdPerAgent?: number;
  /** Task list for `tasks.*` (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch> of the workdir). */
  taskList?: string;
  /**
   * The OS sandbox for the run's processes (`sh`, the builtin agent's `bash`, nested workflows
   * included): wins over the script's `meta.sandbox`; stored with the run, so a resume keeps it.
   * See docs/sandbox.md.
   */
  sandbox?: SandboxSpec;
  /** `--agents-on <pool>`: every agent call runs on a `drover worker` of the pool (a call's own `pool` wins); stored with the run. */
  agentsOn?: string;
}

export interface DriveOptions {
  onEvent?: ProgressListener;
  signal?: AbortSignal;
  /** API key for the model endpoint; defaults to ANTHROPIC_API_KEY (a placeholder for sim gateways). */
  apiKey?: string;
  backoff?: Partial<BackoffPolicy>;
  /** Retries the agent CLIs (claude, codex) make themselves on failed model requests. */
  cliRetries?: number;
  /** One trace per run in the span store (default on; DROVER_TRACING=0 turns it off). */
  tracing?: boolean;
  /** Put prompts and answers (secrets redacted) on agent spans (default off; DROVER_TRACE_CONTENT=1). */
  traceContent?: boolean;
  /** Export drover's spans over OTLP/HTTP to this endpoint too (default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT). */
  otlpEndpoint?: string;
  /** The store's daily caps (config `budget`), read at each start: not stored with the run. */
  dailyCaps?: DailyCaps;
  /** Price overrides (drover.config.json `prices`) for the cost on spans. */
  prices?: PriceOverrides;
  /** Per-call usage from the ledger only: no usage rows of the agents' own (default: run-gateway.ts `USAGE_FROM_LEDGER`). */
  usageFromLedger?: boolean;
  /** The lease token to drive under: a worker's claim already gave the run this lease (src/worker). */
  leaseToken?: string;
  /** Lease length, ms (default DROVER_LEASE_TTL_MS); heartbeats renew it every third of it. */
  leaseTtlMs?: number;
  /** Working directory to use instead of the stored one (a worker's checkout of the run's commit); not stored. */
  workdirOverride?: string;
}

export interface RunWorkflowOptions extends SettingsOverrides, DriveOptions {
  store: Store;
  script: string;
  args?: unknown;
  runId?: string;
  /** Reuse finished calls of this earlier run. */
  fromRunId?: string;
  /** Working directory for agents and sh; defaults to the current directory. */
  workdir?: string;
  /** Defaults used when an option is not given (from resolved config). */
  defaults?: { backend?: string; provider?: ProviderName; model?: string | undefined; concurrency?: number; gateway?: string };
}

export interface ResumeOptions extends SettingsOverrides, DriveOptions {
  store: Store;
  runId: string;
  /** An edited script to continue with instead of the stored one. */
  script?: string;
}

/**
 * What one execution of a run did. `calls` counts this execution's calls (not clock, random or
 * budget values): `reused` were served from the journal (`moved`: agents found elsewhere in an
 * edited script), `executed` ran to a result, `failed` ran and failed (retries exhausted, schema
 * never satisfied, budget spent), `unfinished` were cut off (stop, Ctrl-C).
 */
export interface RunSummary {
  runId: string;
  status: RunStatus;
  result: unknown;
  calls: { total: number; executed: number; reused: number; failed: number; moved: number; unfinished: number };
  /**
   * From the run's ledger rows. `costUsd`: USD of the priced requests, null when none is priced;
   * `unpricedRequests`: requests with no price (tokens counted, not in `costUsd`); `cacheHitRatio`:
   * cache reads / all input-side tokens, null when no input.
   */
  usage: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens: number;
    cacheWriteTokens: number;
    costUsd: number | null;
    unpricedRequests: number;
    /** Requests drover's gateway refused before sending them (a cap or the policy; no cost). */
    refusedRequests: number;
    cacheHitRatio: number | null;
  };
  durationMs: number;
  error?: StoredError;
  questions?: { id: string; question: string; choices: string[] | null }[];
}

interface RunSettingsWithWorkdir extends RunSettings {
  workdir: string;
  sandbox?: SandboxSpec;
}

/** Deepest `args` accepted (levels of arrays and objects). */
const MAX_ARGS_DEPTH = 100;

/**
 * A run whose content retention dropped (`drover gc`) has calls without results: reusing them would hand
 * the script nulls. @throws InputError (`CONTENT_DROPPED`, exit 2).
 */
async function refuseDroppedContent(store: Store, runId: string): Promise<void> {
  const at = await store.retention.contentDroppedAt(runId);
  if (at !== null) {
    throw new InputError(
      `run ${runId}: its content was dropped by retention on ${new Date(at).toISOString()} (drover gc); its calls cannot be reused`,
      'CONTENT_DROPPED',
    );
  }
}

export async function runWorkflow(options: RunWorkflowOptions): Promise<RunSummary> {
  const { run, loaded, settings, policyEngine } = await createRunRecord(options);
  return driveRun(options.store, run, loaded, settings, 'started', options, false, policyEngine);
}

/** What `drover run --queue` / `drover submit` adds: the pool whose workers drive the run, and the labels they need. */
export interface QueueRunOptions extends RunWorkflowOptions {
  /** Worker pool (default `workers`). */
  pool?: string;
  /** Labels a worker must have to take the run (`drover worker --labels`). */
  labels?: string[];
}

/**
 * Checks and stores a run for `drover worker` processes to drive (status `queued`), exactly as
 * `runWorkflow` would start it (same settings, caps, policy and sandbox), plus the git commit of
 * its working directory so a worker on another machine can check it out (src/worker/workspace.ts).
 * @throws InputError (exit 2) for a bad pool or label name, and everything runWorkflow throws before a run exists
 */
export async function queueRun(options: QueueRunOptions): Promise<RunRecord> {
  const pool = checkPoolName(options.pool ?? DEFAULT_POOL, '--queue');
  const labels = (options.labels ?? []).map((l) => checkPoolName(l, '--labels'));
  const { run } = await createRunRecord(options, { pool, labels });
  return run;
}

/** The pool of `drover run --queue` and `drover worker` when none is named. */
export const DEFAULT_POOL = 'workers';

/** A pool or label name: letters, digits, `.`, `_`, `-` (1–64). @throws InputError naming the flag */
export function checkPoolName(name: string, flag: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new InputError(`${flag}: "${name}" must be 1–64 letters, digits, ".", "_" or "-"`);
  }
  return name;
}

/** The run's record, created after everything is checked (a bad script, flag or policy leaves no run behind). */
async function createRunRecord(
  options: RunWorkflowOptions,
  queue?: { pool: string; labels: string[] },
): Promise<{ run: RunRecord; loaded: LoadedWorkflow; settings: RunSettingsWithWorkdir; policyEngine: PolicyEngine }> {
  refreshSecretEnv(); // secret-named variables set in process before this run are redacted from its first write
  const { store } = options;
  // An empty --run-id is refused like any invalid one, never silently replaced.
  const runId = options.runId !== undefined ? validateRunId(options.runId) : newRunId();
  if (nestingDepth(options.args, MAX_ARGS_DEPTH) > MAX_ARGS_DEPTH) {
    throw new InputError(`--args-json: the value nests deeper than ${MAX_ARGS_DEPTH} levels`);
  }
  const d = options.defaults ?? {};
  // Everything is checked before the run exists: a typo or a bad scenario leaves no run behind
  // (and the store is first touched after the script loaded, so a bad script leaves no store either).
  const loaded = await loadWorkflowFile(options.script);
  if (options.fromRunId && !(await store.getRun(options.fromRunId))) throw new NotFoundError(`run ${options.fromRunId} (given to --from)`);
  if (options.fromRunId) await refuseDroppedContent(store, options.fromRunId);
  const source =
    options.fromRunId && options.sim === undefined && options.gateway === undefined ? await store.getRun(options.fromRunId) : undefined;
  const cassettes = cassetteSetting(options, undefined);
  const backend = options.backend ?? d.backend ?? 'builtin';
  const provider = options.provider ?? d.provider;
  const model = options.model ?? d.model;
  // The project's policies, checked before the run exists: a bad policy file leaves no run behind.
  const policyEngine = loadRunPolicyEngine(resolve(options.workdir ?? process.cwd()));
  const startPolicy = new RunPolicy(policyEngine, loaded.meta, resolve(options.workdir ?? process.cwd())).policy;
  const tierCaps = startPolicy.caps().value ?? undefined;
  const settings: RunSettingsWithWorkdir = {
    backend,
    ...(provider ? { provider } : {}),
    model: model ?? defaultModelFor(backend, provider),
    ...(model ? { modelExplicit: true } : {}),
    concurrency: options.concurrency ?? d.concurrency ?? defaultConcurrency(),
    maxAgents: options.maxAgents ?? DEFAULT_MAX_AGENTS,
    workdir: resolve(options.workdir ?? process.cwd()),
    taskList: resolveTaskListId({
      cwd: resolve(options.workdir ?? process.cwd()),
      ...(options.taskList ? { explicit: options.taskList } : {}),
    }),
    ...(options.budgetTokens !== undefined ? { budgetTokens: options.budgetTokens } : {}),
    ...withCaps(mergeRunCaps(flagCaps(options), loaded.meta.budget, tierCaps)),
    ...(source
      ? endpoint(source.settings.sim, source.settings.gateway ?? d.gateway)
      : endpoint(options.sim, options.gateway ?? (options.sim || options.replay !== undefined ? undefined : d.gateway))),
    ...cassettes,
    ...(loaded.meta.tier ? { tier: loaded.meta.tier } : {}),
    ...(loaded.meta.owner ? { owner: loaded.meta.owner } : {}),
    ...(queue ? { pool: queue.pool } : {}),
    ...(queue && queue.labels.length > 0 ? { labels: queue.labels } : {}),
    ...(options.agentsOn !== undefined ? { agentPool: checkPoolName(options.agentsOn, '--agents-on') } : {}),
  };
  // A tier that sandboxes sh and the bash tool does so whatever the flags or the script say.
  const sandbox = runSandboxSpec(policySandbox(startPolicy.sandbox()) ?? options.sandbox, loaded.meta.sandbox, settings.workdir);
  if (sandbox) settings.sandbox = sandbox;
  if (queue) {
    const repo = gitCommitOf(settings.workdir);
    if (repo) settings.repo = repo;
  }
  checkSettings(settings);
  if (await store.getRun(runId)) throw new InputError(`run ${runId} already exists; use drover resume ${runId}`, 'RUN_EXISTS');
  const run = await store.createRun(
    {
      id: runId,
      name: loaded.meta.name,
      description: loaded.meta.description,
      scriptPath: loaded.path,
      scriptSource: loaded.source,
      scriptHash: loaded.hash,
      scriptForm: loaded.form,
      // Stored and handed to the script redacted, so a resume sees exactly what the first execution saw.
      args: redactDeep(options.args ?? null),
      settings,
      fromRunId: options.fromRunId ?? null,
      ...(queue ? { pool: queue.pool } : {}),
    },
    Date.now(),
  );
  return { run, loaded, settings, policyEngine };
}

export async function resumeRun(options: ResumeOptions): Promise<RunSummary> {
  refreshSecretEnv();
  const { store } = options;
  const run = await store.getRun(options.runId);
  if (!run) throw new NotFoundError(`run ${options.runId}`);
  await refuseDroppedContent(store, run.id);
  const { loaded, replaced, note } = await scriptForResume(run, options.script);
  const stored = run.settings as RunSettingsWithWorkdir;
  const base: RunSettingsWithWorkdir = { ...stored, workdir: options.workdirOverride ?? stored.workdir ?? process.cwd() };
  const switchEndpoint = options.gateway !== undefined || options.sim !== undefined;
  const { gateway: _g, sim: _s, ...rest } = base;
  const settings: RunSettingsWithWorkdir = {
    ...(switchEndpoint ? rest : base),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.provider !== undefined ? { provider: options.provider } : {}),
    ...(options.model !== undefined ? { model: options.model, modelExplicit: true } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.maxAgents !== undefined ? { maxAgents: options.maxAgents } : {}),
    ...(options.budgetTokens !== undefined ? { budgetTokens: options.budgetTokens } : {}),
    // A cap flag on resume replaces the stored one (raise it to continue a run that hit it).
    ...withCaps(stored.caps || flagCaps(options) ? { ...stored.caps, ...flagCaps(options) } : undefined),
    ...(options.taskList !== undefined ? { taskList: resolveTaskListId({ explicit: options.taskList }) } : {}),
    ...(switchEndpoint ? endpoint(options.sim, options.gateway) : {}),
    ...cassetteSetting(options, switchEndpoint ? undefined : stored.cassettes),
    ...(options.sandbox ? { sandbox: runSandboxSpec(options.sandbox, undefined, base.workdir) } : {}),
    ...(options.agentsOn !== undefined ? { agentPool: checkPoolName(options.agentsOn, '--agents-on') } : {}),
  };
  checkSettings(settings);
  const policyEngine = loadRunPolicyEngine(settings.workdir);
  if (note) options.onEvent?.({ type: 'log', message: note, at: Date.now(), level: 'warning' });
  return driveRun(store, run, loaded, settings, 'resumed', options, replaced, policyEngine);
}

/**
 * The script a resume continues with: `--script` if given; else the file at the run's path
 * when it changed on disk since the run stored it (said in `note`: never silently another
 * script); else the stored copy (also when the file is gone, with a note).
 * @throws ScriptError when the chosen script does not load (file, line, column)
 */
export async function scriptForResume(
  run: RunRecord,
  script: string | undefined,
): Promise<{ loaded: LoadedWorkflow; replaced: boolean; note?: string }> {
  if (script !== undefined) return { loaded: await loadWorkflowFile(script), replaced: true };
  let onDisk: string | undefined;
  try {
    onDisk = readFileSync(run.scriptPath, 'utf8');
  } catch {
    onDisk = undefined;
  }
  if (onDisk === undefined) {
    return {
      loaded: await loadWorkflowSource(run.scriptPath, run.scriptSource, run.scriptForm),
      replaced: false,
      note: `${run.scriptPath} is gone: continuing with the copy stored when the run started`,
    };
  }
  if (sha256Hex(onDisk) === run.scriptHash)
    return { loaded: await loadWorkflowSource(run.scriptPath, onDisk, run.scriptForm), replaced: false };
  return {
    loaded: await loadWorkflowSource(run.scriptPath, onDisk, run.scriptForm),
    replaced: true,
    note: `${run.scriptPath} changed since this run stored it: continuing with the file on disk (calls whose inputs changed run again; \`drover resume ${run.id} --plan\` shows which)`,
  };
}

/**
 * The run's cassettes from `--record` / `--replay` (a resume keeps the stored ones unless it
 * switches endpoint or names its own).
 * @throws InputError (exit 2) when the flags contradict each other (see `runCassetteMode`)
 */
function cassetteSetting(o: SettingsOverrides, stored: RunSettings['cassettes']): Pick<RunSettings, 'cassettes'> {
  const asked = runCassetteMode({
    ...(o.record !== undefined ? { record: o.record } : {}),
    ...(o.replay !== undefined ? { replay: o.replay } : {}),
    ...(o.sim !== undefined ? { sim: o.sim } : {}),
    ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
  });
  if (asked) {
    const dir = resolve(asked.cassettes);
    // Checked before the run exists: a replay of nothing is bad input, not a failed run.
    if (asked.mode === 'replay' && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new InputError(`--replay: no cassette directory at ${dir} (record one with --record ${asked.cassettes})`, 'NO_CASSETTES');
    }
    if (asked.mode === 'record') makeDirectory(dir, '--record');
    return { cassettes: { mode: asked.mode, dir } };
  }
  return stored ? { cassettes: stored } : {};
}

/** The caps the flags set (`--max-usd`, `--max-tokens`, `--max-usd-per-agent`); undefined when none. */
function flagCaps(o: SettingsOverrides): RunCaps | undefined {
  const caps: RunCaps = {
    ...(o.maxUsd !== undefined ? { usd: o.maxUsd } : {}),
    ...(o.maxTokens !== undefined ? { tokens: o.maxTokens } : {}),
    ...(o.maxUsdPerAgent !== undefined ? { perAgentUsd: o.maxUsdPerAgent } : {}),
  };
  return Object.keys(caps).length > 0 ? caps : undefined;
}

function withCaps(caps: RunCaps | undefined): { caps?: RunCaps } {
  return caps && Object.keys(caps).length > 0 ? { caps } : {};
}

function endpoint(sim: string | undefined, gateway: string | undefined): { sim?: string; gateway?: string } {
  if (sim && gateway) throw new InputError('give either --gateway or --sim, not both');
  if (sim) {
    // Checked now, so a bad scenario is refused before the run exists.
    loadScenario(resolve(sim));
    return { sim: resolve(sim) };
  }
  if (gateway) {
    let url: URL | undefined;
    try {
      url = new URL(gateway);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new InputError(`--gateway: "${gateway}" is not an http(s) URL (example: http://127.0.0.1:8787)`);
    }
    return { gateway };
  }
  return {};
}

function checkSettings(s: RunSettings): void {
  if (!(BACKEND_NAMES as readonly string[]).includes(s.backend)) {
    throw new InputError(`--backend: "${s.backend}" is not a backend (available: ${BACKEND_NAMES.join(', ')})`);
  }
  if (s.provider !== undefined && !(PROVIDERS as readonly string[]).includes(s.provider)) {
    throw new InputError(`--provider: "${s.provider}" is not a provider (available: ${PROVIDERS.join(', ')})`);
  }
  if (!Number.isInteger(s.concurrency) || s.concurrency < 1)
    throw new InputError(`--concurrency: must be a positive integer, got ${s.concurrency}`);
  if (!Number.isInteger(s.maxAgents) || s.maxAgents < 1)
    throw new InputError(`--max-agents: must be a positive integer, got ${s.maxAgents}`);
  if (s.budgetTokens !== undefined && (!Number.isInteger(s.budgetTokens) || s.budgetTokens < 0)) {
    throw new InputError(`--budget-tokens: must be a whole number ≥ 0, got ${s.budgetTokens}`);
  }
  const usdOk = (n: number | undefined) => n === undefined || (Number.isFinite(n) && n > 0);
  if (!usdOk(s.caps?.usd)) throw new InputError(`--max-usd: must be an amount of USD > 0 (e.g. 5), got ${s.caps?.usd}`);
  if (!usdOk(s.caps?.perAgentUsd)) {
    throw new InputError(`--max-usd-per-agent: must be an amount of USD > 0 (e.g. 0.5), got ${s.caps?.perAgentUsd}`);
  }
  if (s.caps?.tokens !== undefined && !(Number.isInteger(s.caps.tokens) && s.caps.tokens >= 1)) {
    throw new InputError(`--max-tokens: must be a whole number of tokens ≥ 1 (e.g. 2M, 500k), got ${s.caps.tokens}`);
  }
}

function toStoredError(err: unknown, scriptPath: string): StoredError {
  if (err instanceof ScriptError) {
    return { code: err.code, message: err.message, ...(err.position ?? {}) };
  }
  const position = positionInStack(err, scriptPath);
  const name = isErrorLike(err) && !(err instanceof DroverError) ? `${err.name}: ` : '';
  const text = `${name}${errorMessage(err)}`;
  return {
    code: err instanceof DroverError ? err.code : 'SCRIPT_RUNTIME',
    message: position ? `${position.file}:${position.line}:${position.column}: ${text}` : text,
    ...(position ?? {}),
  };
}

async function driveRun(
  store: Store,
  run: RunRecord,
  loaded: LoadedWorkflow,
  settings: RunSettingsWithWorkdir,
  state: 'started' | 'resumed',
  options: DriveOptions,
  scriptReplaced: boolean,
  policyEngine: PolicyEngine,
): Promise<RunSummary> {
  const startedAt = Date.now();
  // The workflow's policy (its tier and owner from meta), enforced where agents act; nested workflows run under it too.
  const runPolicy = new RunPolicy(policyEngine, loaded.meta, settings.workdir);
  const abort = new AbortController();
  // Every in-flight request listens on the run's signal; hundreds at once are expected.
  setMaxListeners(0, abort.signal);
  const onOuterAbort = () => abort.abort(options.signal?.reason ?? 'interrupted');
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let leaseLost = false;
  const lease = new RunLease(store, run.id, options.leaseTtlMs, options.leaseToken);
  await lease.acquire(() => {
    leaseLost = true;
    abort.abort('another process took over this run');
  });
  // Every write of this execution carries the lease token: refused once another process holds the run.
  const fence = { runId: run.id, token: lease.token };
  let failScript: (err: unknown) => void = () => {};
  const untrap = trapRejections((reason) => failScript(reason));
  let gateway: RunGateway | undefined;
  let stopLimitWatch = () => {};
  let runtime: WorkflowRuntime | undefined;
  let journal: Journal | undefined;
  let tracer: RunTracer | undefined;
  let receiver: OtlpReceiver | undefined;
  let stopWatch: StopWatch | undefined;
  try {
    await store.updateRun(
      run.id,
      {
        status: 'running',
        error: null,
        finishedAt: null,
        // A worker's checkout is this drive's alone: the run keeps the directory it was started in.
        settings: options.workdirOverride ? { ...settings, workdir: (run.settings as RunSettingsWithWorkdir).workdir } : settings,
        ...(scriptReplaced
          ? {
              scriptPath: loaded.path,
              scriptSource: loaded.source,
              scriptHash: loaded.hash,
              name: loaded.meta.name,
              description: loaded.meta.description,
            }
          : {}),
      },
      Date.now(),
    );
    // A stop request from another process (drover stop, the dashboard) aborts the run like Ctrl-C; it ends `stopped`.
    stopWatch = await StopWatch.start(store, fence, () => abort.abort(STOP_REASON));
    const emit = options.onEvent ?? (() => {});
    emit({ type: 'run', runId: run.id, name: loaded.meta.name, state, at: Date.now() });
    journal = await Journal.open(store, run.id, run.fromRunId, fence);
    if (journal.legacyEntries > 0) {
      emit({
        type: 'log',
        level: 'warning',
        at: Date.now(),
        message: `${journal.legacyEntries} journal entries were written by an earlier drover (keyed by issue order): matched by those keys, and moved to structural keys as they are reused`,
      });
    }
    const capture = runPolicy.policy.capture().value;
    const tracing = await startTracing(store, run, loaded.meta.name, state, journal, settings, {
      ...options,
      ...(capture === 'off' ? { traceContent: false } : {}),
    });
    tracer = tracing.tracer;
    receiver = tracing.receiver;
    // Every model request of the run goes through its own gateway: one ledger row each, attributed to run and call.
    const runGateway = await openRunGateway({ store, runId: run.id, workflow: loaded.meta.name, settings, policy: runPolicy, options });
    gateway = runGateway;
    stopLimitWatch = watchRateLimits(runGateway.limits, emit);
    const backends = new Map<string, AgentBackend>();
    // One watcher of dispatched calls' outcomes for the whole run (src/worker/pooled-backend.ts).
    let outcomes: JobOutcomes | undefined;
    const before = await store.usageTotals(run.id);
    let rt: WorkflowRuntime | undefined;
    const budget = new RunBudget({
      store,
      runId: run.id,
      workflow: loaded.meta.name,
      caps: settings.caps,
      daily: options.dailyCaps,
      budgetTokens: settings.budgetTokens,
      legacySpent: () => before.outputTokens + (rt?.outputTokensNow ?? 0),
      warn: (message) => rt?.warn(message),
      onShare: (message, share) => emit({ type: 'budget', message, share, at: Date.now() }),
    });
    await budget.refresh();
    rt = new WorkflowRuntime({
      runId: run.id,
      store,
      journal,
      settings,
      workdir: settings.workdir,
      backend: (name, pool) => {
        if (pool) {
          const key = `${name}@${pool}`;
          let pooled = backends.get(key);
          if (!pooled) {
            outcomes ??= new JobOutcomes(store, run.id);
            pooled = new PooledBackend(name, {
              store,
              runId: run.id,
              runWorkdir: settings.workdir,
              outcomes,
              pool,
              ...(settings.labels ? { labels: settings.labels } : {}),
            });
            backends.set(key, pooled);
          }
          return pooled;
        }
        let b = backends.get(name);
        if (!b) {
          b = localBackend(name, settings, runGateway.url, options);
          backends.set(name, b);
        }
        return b;
      },
      emit,
      signal: abort.signal,
      spentBefore: before.outputTokens,
      budget,
      loadChild: loadChildWorkflow,
      tracing: tracing.calls,
      policy: runPolicy,
      storeAgentUsage: !(options.usageFromLedger ?? USAGE_FROM_LEDGER),
      transcripts: new TranscriptRecorder(store, contentCaptureOn(options.traceContent), (m) => rt?.warn(m)),
      ...(settings.sandbox ? { sandbox: settings.sandbox } : {}),
      ...(settings.taskList
        ? { taskBoard: new TaskBoard(store, settings.taskList, { name: `workflow:${loaded.meta.name}`, session: run.id }) }
        : {}),
    });
    runtime = rt;
    runPolicy.onAudit((e) => rt?.policyEvent(e));
    const outcome = await settle(rt, loaded, abort, store, run, (fail) => {
      failScript = fail;
    });
    await tracer?.finish(
      outcome.kind === 'done'
        ? { status: 'completed' }
        : outcome.kind === 'waiting'
          ? { status: 'waiting' }
          : stopWatch.stopped
            ? { status: 'stopped' }
            : { status: 'failed', error: toStoredError(outcome.error, loaded.path) },
    );
    tracer = undefined;
    if (leaseLost || (outcome.kind === 'error' && outcome.error instanceof LeaseLostError)) throw new LeaseLostError(run.id);
    await journal.flush();
    await store.appendEvents(rt.takeEvents(), fence);
    const now = Date.now();
    const update = (patch: RunPatch) => store.updateRun(run.id, patch, now, fence);
    if (outcome.kind === 'done') {
      let result: unknown;
      let error: StoredError | undefined;
      const limit = maxResultBytes();
      try {
        // A BigInt, a cycle, a function or a Symbol: named with where it sits, never dropped silently.
        const notJson = describeNonJson(outcome.value, "the workflow's return value");
        if (notJson) throw new Error(notJson);
        const json = outcome.value === undefined ? 'null' : JSON.stringify(outcome.value);
        if (json.length > limit) {
          error = {
            code: 'RESULT_TOO_LARGE',
            message: `the workflow's return value is ${json.length} bytes as JSON; the limit is ${limit} (DROVER_MAX_RESULT_BYTES): return a summary, write large data to files`,
          };
        } else result = redactDeep(JSON.parse(json));
      } catch (err) {
        error = { code: 'RESULT_NOT_JSON', message: errorMessage(err) };
      }
      if (error) {
        await update({ status: 'failed', error, finishedAt: now });
        return await summarize(store, run.id, 'failed', journal, startedAt, { error });
      }
      if (budget.exceeded) {
        // The script finished (it caught the refusal, or parallel turned it into null), but a cap stopped part of its work.
        const capError = { code: budget.exceeded.code, message: budget.exceeded.message };
        await update({ status: 'budget_exceeded', result, error: capError, finishedAt: now });
        return await summarize(store, run.id, 'budget_exceeded', journal, startedAt, { result, error: capError });
      }
      await update({ status: 'completed', result, error: null, finishedAt: now });
      return await summarize(store, run.id, 'completed', journal, startedAt, { result });
    }
    if (outcome.kind === 'waiting') {
      await update({ status: 'waiting' });
      const questions = [...rt.pendingAsks.values()].map((p) => ({
        id: p.question.id,
        question: p.question.question,
        choices: p.question.choices,
      }));
      return await summarize(store, run.id, 'waiting', journal, startedAt, { questions });
    }
    if (stopWatch.stopped) {
      const end = await stoppedEnd(store, fence, now);
      return await summarize(store, run.id, 'stopped', journal, startedAt, { error: end.error });
    }
    const error = toStoredError(outcome.error, loaded.path);
    // A refusal the script did not catch (or a failure after a run-wide cap refused): the run ends budget_exceeded.
    const status: RunStatus = error.code === 'BUDGET_EXCEEDED' || budget.exceeded ? 'budget_exceeded' : 'failed';
    await update({ status, error, finishedAt: now });
    return await summarize(store, run.id, status, journal, startedAt, { error });
  } catch (err) {
    if (leaseLost || err instanceof LeaseLostError) {
      // Another driver holds the run: nothing of this process may be written any more.
      leaseLost = true;
      abort.abort('lease lost');
      throw err instanceof LeaseLostError ? err : new LeaseLostError(run.id);
    }
    // Failures of drover itself (store, gateway start): record them if we still can.
    if (runtime) await store.appendEvents(runtime.takeEvents(), fence).catch(() => {});
    await tracer?.finish({ status: 'failed', error: toStoredError(err, loaded.path) }).catch(() => {});
    await journal?.flush().catch(() => {});
    const error = toStoredError(err, loaded.path);
    await store.updateRun(run.id, { status: 'failed', error, finishedAt: Date.now() }, Date.now(), fence).catch(() => {});
    throw err;
  } finally {
    // Whatever the script left running (calls fired without await) is stopped; their rejections
    // are still trapped while they settle, so none reaches Node's default handler.
    stopWatch?.close();
    abort.abort('the run ended');
    if (runtime) await drain(runtime, 5000);
    untrap();
    options.signal?.removeEventListener('abort', onOuterAbort);
    if (!leaseLost) await lease.release().catch(() => {});
    stopLimitWatch();
    await gateway?.close();
    await receiver?.close();
  }
}

type Outcome = { kind: 'done'; value: unknown } | { kind: 'error'; error: unknown } | { kind: 'waiting' };

/**
 * Runs being settled in this process. A promise the script rejects and nobody handles
 * (`Promise.reject()` left alone, `sh(123)` fired without await) is the script's failure:
 * it ends those runs as failed instead of Node's default handler killing the driver.
 */
const settling = new Set<(err: unknown) => void>();
function onUnhandledRejection(reason: unknown): void {
  for (const fail of settling) fail(reason);
}

/** Routes unhandled rejections to `fail` until the returned function is called. */
function trapRejections(fail: (err: unknown) => void): () => void {
  if (settling.size === 0) process.on('unhandledRejection', onUnhandledRejection);
  settling.add(fail);
  return () => {
    settling.delete(fail);
    if (settling.size === 0) process.off('unhandledRejection', onUnhandledRejection);
  };
}

/** Waits (at most `limitMs`) until the calls a stopped script left behind have settled. */
async function drain(rt: WorkflowRuntime, limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  do await new Promise((r) => setImmediate(r));
  while (rt.inflight > 0 && Date.now() < until);
  await new Promise((r) => setImmediate(r));
}

/** Polls (150 ms apart) with nothing in flight before a sandboxed script is judged unable to ever settle. */
const STUCK_POLLS = 3;

/**
 * Runs the script until it finishes, fails, is stopped, or can only wait for
 * answers: pending asks and no other work in flight for two polls in a row.
 * While it waits, answers given from another process are picked up.
 */
function settle(
  rt: WorkflowRuntime,
  loaded: LoadedWorkflow,
  abort: AbortController,
  store: Store,
  run: RunRecord,
  onRejection: (fail: (err: unknown) => void) => void,
): Promise<Outcome> {
  const { signal } = abort;
  return new Promise<Outcome>((resolveOutcome) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      signal.removeEventListener('abort', onAbort);
      resolveOutcome(o);
    };
    const onAbort = () => finish({ kind: 'error', error: new RunAbortedError(`run stopped: ${String(signal.reason ?? 'interrupted')}`) });
    signal.addEventListener('abort', onAbort, { once: true });
    let quietPolls = 0;
    let stuckPolls = 0;
    let flushing = false;
    onRejection((reason: unknown) =>
      finish({
        kind: 'error',
        error: isErrorLike(reason)
          ? reason
          : new ScriptError(`unhandled promise rejection in the script: ${String(reason)}`, undefined, 'SCRIPT_UNHANDLED_REJECTION'),
      }),
    );
    const timer = setInterval(async () => {
      if (flushing || done) return;
      flushing = true;
      try {
        await store.appendEvents(rt.takeEvents(), rt.fence);
        for (const [id, pending] of rt.pendingAsks) {
          const q: QuestionRecord | undefined = await store.getQuestion(run.id, id);
          if (q?.status === 'answered' && q.answer !== null) {
            rt.pendingAsks.delete(id);
            pending.resolve(q.answer);
          }
        }
        quietPolls = rt.pendingAsks.size > 0 && rt.inflight === 0 ? quietPolls + 1 : 0;
        if (quietPolls >= 2) finish({ kind: 'waiting' });
        // A sandboxed script reaches the world only through drover's globals, all tracked: with no call,
        // timer or question pending, what it awaits can never settle. (Module-form code may await its
        // own I/O, which drover cannot see, so it is not judged.)
        stuckPolls = loaded.form === 'claude-code' && rt.pendingAsks.size === 0 && rt.inflight === 0 ? stuckPolls + 1 : 0;
        if (stuckPolls >= STUCK_POLLS && !done) {
          finish({
            kind: 'error',
            error: new ScriptError(
              'the script awaits a promise that nothing can settle: no agent, sh, sleep, timer or question is pending',
              undefined,
              'SCRIPT_STUCK',
            ),
          });
        }
      } catch (err) {
        // A failed write (lost lease, full disk) ends the run; never an unhandled rejection.
        finish({ kind: 'error', error: err });
        abort.abort(errorMessage(err));
      } finally {
        flushing = false;
      }
    }, 150);
    Promise.resolve()
      .then(() => loaded.execute(rt.api({ name: null, depth: 0, args: run.args ?? undefined, scriptDir: dirname(loaded.path) }), rt))
      .then(
        // One event-loop turn later: a rejection the script left unhandled is reported after the
        // microtasks drain, and it must fail the run even when the script returned at once.
        (value) => setImmediate(() => finish({ kind: 'done', value })),
        (error) => finish({ kind: 'error', error }),
      );
  });
}

async function summarize(
  store: Store,
  runId: string,
  status: RunStatus,
  journal: Journal,
  startedAt: number,
  extra: { result?: unknown; error?: StoredError; questions?: RunSummary['questions'] },
): Promise<RunSummary> {
  const totals: UsageTotals = await store.usageTotals(runId);
  return {
    runId,
    status,
    result: extra.result ?? null,
    calls: {
      ...journal.counts,
      unfinished: journal.counts.total - journal.counts.executed - journal.counts.reused - journal.counts.failed,
    },
    usage: {
      inputTokens: totals.inputTokens,
      outputTokens: totals.outputTokens,
      cacheReadTokens: totals.cacheReadTokens,
      cacheWriteTokens: totals.cacheWriteTokens,
      costUsd: totals.costUsd,
      unpricedRequests: totals.unpricedRequests,
      refusedRequests: totals.refusedRequests,
      cacheHitRatio: totals.cacheHitRatio,
    },
    durationMs: Date.now() - startedAt,
    // What the caller prints (a CI log): redacted like the stored copy, so a key in a thrown error never shows.
    ...(extra.error ? { error: redactDeep(extra.error) } : {}),
    ...(extra.questions ? { questions: redactDeep(extra.questions) } : {}),
  };
}
