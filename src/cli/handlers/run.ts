import { setFlagsFromString } from 'node:v8';
import type { ProviderName } from '../../agents/builtin/builtin-backend.js';
import type { PriceOverrides } from '../../budget/prices.js';
import type { Config } from '../../config/index.js';
import { InputError } from '../../core/errors.js';
import type { Store } from '../../store/types.js';
import type { ProgressListener } from '../../workflow/events.js';
import type { RunPlan } from '../../workflow/plan.js';
import type { RunSummary } from '../../workflow/run.js';
import { checkPoolName, queueRun, resumeRun, runWorkflow } from '../../workflow/run.js';
import { workspaceSandbox } from '../../workflow/run-sandbox.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, formatDuration, printJson } from '../output.js';
import { plainProgress } from '../progress.js';

// WebAssembly stays on V8's baseline compiler in `drover run`/`resume`. The model SDKs' fetch
// parses HTTP with undici's llhttp.wasm; after a few responses V8 re-compiles its main function
// with TurboFan in the background (0.3-0.6 s of CPU on a 2-core machine), and a process that has
// finished waits at exit for that compilation: `drover run` lingered up to a second after printing
// its result. The baseline code parses a model's replies fast enough. Set before the first request.
setFlagsFromString('--liftoff-only');

export interface RunFlags extends GlobalFlags {
  argsJson?: string;
  runId?: string;
  from?: string;
  backend?: string;
  provider?: string;
  model?: string;
  concurrency?: number;
  maxAgents?: number;
  budgetTokens?: number;
  /** Caps: run USD, run output tokens, USD per agent call. */
  maxUsd?: number;
  maxTokens?: number;
  maxUsdPerAgent?: number;
  gateway?: string;
  baseUrl?: string;
  sim?: string;
  record?: string;
  replay?: string;
  script?: string;
  taskList?: string;
  /** Print what would be reused and run, run nothing. */
  plan?: boolean;
  /** Exit 1 when any call failed, even if the run completed. */
  strict?: boolean;
  /** `resume --detach`: drive the run in a detached child process. */
  detach?: boolean;
  /** `--sandbox`: the working directory writable, no network (docs/sandbox.md). */
  sandbox?: boolean;
  /** `--queue [pool]`: store the run for workers instead of driving it (true: the default pool). */
  queue?: string | boolean;
  /** `--labels a,b`: what a worker needs to take the queued run. */
  labels?: string;
  /** The flag that named the pool (`--queue`, or `--pool` of `drover submit`), for error messages. */
  poolFlag?: string;
  /** `--agents-on <pool>`: the run's agent calls run on that pool's workers. */
  agentsOn?: string;
}

/** Tracing settings from the config file; the environment (DROVER_TRACING, OTEL_EXPORTER_OTLP_*) wins over it. */
function tracingOptions(config: {
  tracing: boolean | undefined;
  traceContent: boolean | undefined;
  otlpEndpoint: string | undefined;
  prices?: PriceOverrides;
}) {
  const env = process.env;
  return {
    ...(config.prices && Object.keys(config.prices).length > 0 ? { prices: config.prices } : {}),
    ...(config.tracing !== undefined && !env.DROVER_TRACING ? { tracing: config.tracing } : {}),
    ...(config.traceContent !== undefined && !env.DROVER_TRACE_CONTENT ? { traceContent: config.traceContent } : {}),
    ...(config.otlpEndpoint && !env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
      ? { otlpEndpoint: config.otlpEndpoint }
      : {}),
  };
}

/** What a new run takes from the config when a flag does not say. */
function runDefaults(config: Config) {
  return {
    backend: config.backend,
    ...(config.provider ? { provider: config.provider } : {}),
    model: config.model,
    ...(config.concurrency ? { concurrency: config.concurrency } : {}),
    ...(config.gateway ? { gateway: config.gateway } : {}),
  };
}

function parseArgsJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`--args-json: not valid JSON (${(err as Error).message})`);
  }
}

function overrides(flags: RunFlags) {
  return {
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.provider ? { provider: flags.provider as ProviderName } : {}),
    ...(flags.model ? { model: flags.model } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(flags.maxAgents !== undefined ? { maxAgents: flags.maxAgents } : {}),
    ...(flags.budgetTokens !== undefined ? { budgetTokens: flags.budgetTokens } : {}),
    ...(flags.maxUsd !== undefined ? { maxUsd: flags.maxUsd } : {}),
    ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
    ...(flags.maxUsdPerAgent !== undefined ? { maxUsdPerAgent: flags.maxUsdPerAgent } : {}),
    ...(flags.gateway || flags.baseUrl ? { gateway: flags.gateway ?? flags.baseUrl } : {}),
    ...(flags.sim ? { sim: flags.sim } : {}),
    ...(flags.agentsOn !== undefined ? { agentsOn: flags.agentsOn } : {}),
    ...(flags.record !== undefined ? { record: flags.record } : {}),
    ...(flags.replay !== undefined ? { replay: flags.replay } : {}),
    ...(flags.taskList ? { taskList: flags.taskList } : {}),
    ...(flags.sandbox ? { sandbox: workspaceSandbox() } : {}),
  };
}

/** A word as the shell reads it: quoted only when it has to be. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

/** The exact command that continues an interrupted run (with --store when one was given). */
export function resumeCommandLine(runId: string, flags: GlobalFlags): string {
  return ['drover', 'resume', shellWord(runId), ...(flags.store ? ['--store', shellWord(flags.store)] : [])].join(' ');
}

/** Drives a run with progress, prints the outcome, returns the exit code. */
async function drive(
  flags: RunFlags,
  go: (common: { onEvent: ProgressListener; signal: AbortSignal }) => Promise<RunSummary>,
): Promise<number> {
  const json = flags.json === true;
  const live = !json && process.stderr.isTTY === true && !process.env.CI;
  const progress = live
    ? (await import('../tty-progress.js')).ttyProgress()
    : plainProgress((line) => (json ? process.stderr : process.stdout).write(`${line}\n`));
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => controller.abort(sig === 'SIGINT' ? 'interrupted (Ctrl-C)' : `received ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let summary: RunSummary;
  try {
    summary = await go({ onEvent: progress.listener, signal: controller.signal });
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (json) {
    if (resumable(summary)) process.stderr.write(`continue it with: ${resumeCommandLine(summary.runId, flags)}\n`);
    printJson(summary);
  } else {
    const status =
      summary.status === 'completed'
        ? color.green(summary.status)
        : summary.status === 'waiting'
          ? color.yellow(summary.status)
          : color.red(summary.status);
    const c = summary.calls;
    const counts = [
      `${c.executed} executed`,
      `${c.reused} reused${c.moved ? ` (${c.moved} moved)` : ''}`,
      c.failed ? color.red(`${c.failed} failed`) : '0 failed',
      ...(c.unfinished ? [`${c.unfinished} unfinished`] : []),
    ].join(', ');
    process.stdout.write(
      `${status} ${summary.runId} in ${formatDuration(summary.durationMs)}: ${c.total} calls (${counts}), ${summary.usage.inputTokens + summary.usage.cacheReadTokens + summary.usage.cacheWriteTokens} input / ${summary.usage.outputTokens} output tokens\n`,
    );
    if (summary.error) process.stdout.write(`${color.red('error')}: ${summary.error.message}\n`);
    if (resumable(summary)) process.stdout.write(`continue it with: ${resumeCommandLine(summary.runId, flags)}\n`);
    for (const q of summary.questions ?? []) {
      process.stdout.write(
        `question ${q.id}: ${q.question}${q.choices ? ` [${q.choices.join(' | ')}]` : ''}\n  answer with: drover answer ${summary.runId} ${q.id} <text>, then drover resume ${summary.runId}\n`,
      );
    }
    if (summary.status === 'completed') process.stdout.write(`result: ${JSON.stringify(summary.result, null, 2)}\n`);
  }
  if (summary.status === 'completed') {
    if (flags.strict && summary.calls.failed > 0) {
      process.stderr.write(`--strict: ${summary.calls.failed} call${summary.calls.failed === 1 ? '' : 's'} failed\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  }
  if (summary.status === 'waiting') return EXIT.waiting;
  return resumable(summary) ? EXIT.interrupted : EXIT.failed;
}

/** Cut off (Ctrl-C) or stopped on request (`drover stop`): exit 130, and `drover resume` continues it. */
const resumable = (summary: RunSummary) => summary.error?.code === 'INTERRUPTED' || summary.status === 'stopped';

/** `--plan`: what a resume or `run --from` would reuse and run, printed; nothing runs and nothing is written. */
async function showPlan(flags: RunFlags, make: (plan: typeof import('../../workflow/plan.js'), store: Store) => Promise<RunPlan>) {
  const { store } = openStore(flags, { readOnly: true });
  try {
    const planning = await import('../../workflow/plan.js');
    const plan = await make(planning, store);
    if (flags.json) {
      for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
      printJson(plan);
    } else process.stdout.write(`${planning.formatPlan(plan).join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export async function runCommand(script: string, flags: RunFlags): Promise<number> {
  if (flags.plan) {
    if (!flags.from)
      throw new InputError('--plan shows what a run would reuse from --from <run>; give --from, or use drover resume <run> --plan');
    const fromRunId = flags.from;
    const args = parseArgsJson(flags.argsJson);
    return showPlan(flags, (p, store) => p.planFrom({ store, script, fromRunId, ...(args !== undefined ? { args } : {}) }));
  }
  if (flags.labels !== undefined && flags.queue === undefined)
    throw new InputError('--labels goes with --queue (labels a worker needs to take the run)');
  // Opened on first use: runWorkflow checks the script, the flags and the endpoint first, so a
  // refused run leaves no store behind (with --from, the store must already exist).
  const { config, store } = openStore(flags, { lazy: true, mustExist: flags.from !== undefined });
  try {
    const args = parseArgsJson(flags.argsJson);
    // What the run starts from, whether it is queued or driven here.
    const start = {
      store,
      script,
      ...(args !== undefined ? { args } : {}),
      ...(flags.runId !== undefined ? { runId: flags.runId } : {}),
      ...(flags.from ? { fromRunId: flags.from } : {}),
      ...overrides(flags),
      defaults: runDefaults(config),
    };
    if (flags.queue !== undefined) {
      const run = await queueRun({
        ...start,
        ...(typeof flags.queue === 'string' ? { pool: checkPoolName(flags.queue, flags.poolFlag ?? '--queue') } : {}),
        ...(flags.labels !== undefined ? { labels: flags.labels.split(',').map((l) => l.trim()) } : {}),
      });
      if (flags.json) printJson({ runId: run.id, status: run.status, pool: run.pool });
      else
        process.stdout.write(
          `${run.id} queued for pool ${run.pool} (drover worker --pool ${run.pool} drives it; drover status ${run.id})\n`,
        );
      return EXIT.ok;
    }
    return await drive(flags, (common) =>
      runWorkflow({
        ...start,
        ...(config.budget ? { dailyCaps: config.budget } : {}),
        ...tracingOptions(config),
        ...common,
      }),
    );
  } finally {
    await store.close();
  }
}

export async function resumeCommand(runId: string, flags: RunFlags): Promise<number> {
  if (flags.detach) {
    if (flags.plan) throw new InputError('--detach and --plan do not go together: --plan runs nothing');
    return (await import('./control.js')).resumeDetachedCommand(runId, flags);
  }
  if (flags.plan) return showPlan(flags, (p, store) => p.planResume({ store, runId, ...(flags.script ? { script: flags.script } : {}) }));
  const { config, store } = openStore(flags, { mustExist: true });
  try {
    return await drive(flags, (common) =>
      resumeRun({
        store,
        runId,
        ...(flags.script ? { script: flags.script } : {}),
        ...overrides(flags),
        ...(config.budget ? { dailyCaps: config.budget } : {}),
        ...tracingOptions(config),
        ...common,
      }),
    );
  } finally {
    await store.close();
  }
}
