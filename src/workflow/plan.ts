/** @module `--plan`: what a resume (or `run --from`) would reuse and run, without running anything. */
import { dirname, resolve } from 'node:path';
import { InputError, NotFoundError } from '../core/index.js';
import type { CallKind, CallRecord, RunRecord, RunSettings, Store } from '../store/index.js';
import { type ExecuteReason, Journal, type ReuseVia } from './journal.js';
import { isHolderGone } from './lease.js';
import { DEFAULT_MAX_AGENTS } from './limits.js';
import { type LoadedWorkflow, loadChildWorkflow, loadWorkflowFile } from './loader.js';
import { scriptForResume } from './run.js';
import { type PlanRecorder, WorkflowRuntime } from './runtime.js';
import { CallTracing } from './tracing.js';

/** One call the plan met: served from the journal, or the first call of its branch that would run. */
export type PlanEntry =
  | { action: 'reuse'; kind: CallKind; label: string; branch: string; via: ReuseVia }
  | { action: 'run'; kind: CallKind; label: string; branch: string; reason: ExecuteReason };

/**
 * What a resume would do. Calls after the first that would run in a branch depend on its
 * result, so they are not known: `blockedBranches` counts the branches that stop at a call to run.
 */
export interface RunPlan {
  runId: string | null;
  script: string;
  /** The script differs from the one the run stored (`--script`, or the file changed on disk). */
  scriptChanged: boolean;
  entries: PlanEntry[];
  /** Journal entries no call of the script reaches any more (their results stay in the store); listed only when `complete`. */
  notReached: { kind: CallKind; label: string }[];
  blockedBranches: number;
  /** The script would finish from the journal alone: nothing would run. */
  complete: boolean;
  /** The script fails while replaying (before anything would run). */
  error: string | null;
  /**
   * Said before trusting the plan: the run (or the `--from` run) is being driven by a live process
   * right now, so its journal is still growing and the plan may change while it runs.
   */
  warnings: string[];
}

/** A warning when a live process is driving `run` now (its lease is unexpired and its holder not gone). */
function liveDriverWarning(run: RunRecord, now = Date.now()): string[] {
  const lease = run.lease;
  if (run.status !== 'running' || !lease || lease.expiresAt <= now || isHolderGone(lease)) return [];
  return [
    `run ${run.id} is being driven right now (pid ${lease.pid} on ${lease.host}): its journal is still growing, so this plan may change while it runs`,
  ];
}

/**
 * Plans `drover resume <run> [--script]`.
 * @throws NotFoundError (`NOT_FOUND`) for an unknown run; ScriptError when the script does not load
 */
export async function planResume(options: { store: Store; runId: string; script?: string }): Promise<RunPlan> {
  const run = await options.store.getRun(options.runId);
  if (!run) throw new NotFoundError(`run ${options.runId}`);
  const { loaded, replaced } = await scriptForResume(run, options.script);
  const journal = await Journal.open(options.store, run.id, run.fromRunId);
  return { ...(await plan(options.store, run.id, loaded, replaced, journal, run.settings, run.args)), warnings: liveDriverWarning(run) };
}

/**
 * Plans `drover run <script> --from <run>`: which of that run's finished calls a new run would reuse.
 * @throws NotFoundError for an unknown `--from` run; ScriptError when the script does not load
 */
export async function planFrom(options: { store: Store; script: string; fromRunId: string; args?: unknown }): Promise<RunPlan> {
  const source = await options.store.getRun(options.fromRunId);
  if (!source) throw new NotFoundError(`run ${options.fromRunId} (given to --from)`);
  const loaded = await loadWorkflowFile(options.script);
  // A run id that cannot exist: the journal holds nothing of its own, only what --from lends.
  const journal = await Journal.open(options.store, '(plan)', source.id);
  const changed = resolve(options.script) !== source.scriptPath;
  return {
    ...(await plan(options.store, null, loaded, changed, journal, source.settings, options.args)),
    warnings: liveDriverWarning(source),
  };
}

async function plan(
  store: Store,
  runId: string | null,
  loaded: LoadedWorkflow,
  scriptChanged: boolean,
  journal: Journal,
  settings: RunSettings,
  args: unknown,
): Promise<Omit<RunPlan, 'warnings'>> {
  const entries: PlanEntry[] = [];
  let blocked = 0;
  const recorder: PlanRecorder = {
    reused: (call: CallRecord, via, branch) =>
      entries.push({ action: 'reuse', kind: call.kind, label: call.label ?? call.kind, branch: branch || '/', via }),
    wouldRun: (kind, label, reason, branch) => entries.push({ action: 'run', kind, label, branch: branch || '/', reason }),
    block: () => {
      blocked++;
      return new Promise<never>(() => {});
    },
  };
  const workdir = (settings as RunSettings & { workdir?: string }).workdir ?? process.cwd();
  const rt = new WorkflowRuntime({
    runId: runId ?? '(plan)',
    store,
    journal,
    settings: { ...settings, maxAgents: settings.maxAgents ?? DEFAULT_MAX_AGENTS },
    workdir,
    backend: () => {
      throw new InputError('--plan runs no agent');
    },
    emit: () => {},
    signal: new AbortController().signal,
    spentBefore: (await store.usageTotals(runId ?? '(plan)')).outputTokens,
    tracing: new CallTracing(undefined, { childOtlpEnv: {}, captureContent: false }),
    loadChild: loadChildWorkflow,
    plan: recorder,
  });
  let settled: { ok: boolean; error?: unknown } | undefined;
  loaded.execute(rt.api({ name: null, depth: 0, args: args ?? undefined, scriptDir: dirname(loaded.path) }), rt).then(
    () => {
      settled = { ok: true };
    },
    (error: unknown) => {
      settled = { ok: false, error };
    },
  );
  // Replayed calls settle in microtasks; host work (loading a nested workflow, a timer) is tracked
  // as in flight. The plan is complete when the script ended, or when every branch waits on a call
  // to run and nothing else is pending for two event-loop turns.
  let quiet = 0;
  let seen = -1;
  while (!settled && quiet < 2) {
    await new Promise((r) => setImmediate(r));
    const progress = entries.length + blocked;
    // A call the plan parks never settles (and is not in flight): only other host work (a nested
    // workflow loading, a timer) keeps the plan waiting.
    quiet = rt.inflight === 0 && progress === seen ? quiet + 1 : 0;
    seen = progress;
  }
  return {
    runId,
    script: loaded.path,
    scriptChanged,
    entries,
    // Known only when the script finished from the journal: past a call that would run, anything may still be reached.
    notReached: settled?.ok === true ? journal.unmatched().map((c) => ({ kind: c.kind, label: c.label ?? c.kind })) : [],
    blockedBranches: blocked,
    complete: settled?.ok === true,
    error: settled && !settled.ok ? String((settled.error as Error)?.message ?? settled.error) : null,
  };
}

/** The plan as lines for a terminal: reused, moved, to run (with why), no longer reached. */
export function formatPlan(p: RunPlan): string[] {
  const why: Record<ExecuteReason, string> = {
    new: 'new call',
    'earlier-call-changed': 'an earlier call in its branch changed',
    'failed-before': 'failed before',
    unfinished: 'never finished',
  };
  const lines = [`plan for ${p.runId ?? 'a new run'} with ${p.script}${p.scriptChanged ? ' (changed script)' : ''}`];
  for (const w of p.warnings) lines.push(`  warning: ${w}`);
  const reused = p.entries.filter((e) => e.action === 'reuse');
  const moved = reused.filter((e) => e.via === 'moved');
  lines.push(`  reuse ${reused.length} call${reused.length === 1 ? '' : 's'} (${moved.length} moved)`);
  for (const e of moved) lines.push(`    moved  ${e.kind} ${e.label}  → ${e.branch}`);
  for (const e of p.entries) if (e.action === 'run') lines.push(`  run    ${e.kind} ${e.label}  (${why[e.reason]}; branch ${e.branch})`);
  if (p.blockedBranches > 0)
    lines.push(`  … and whatever follows those ${p.blockedBranches} call${p.blockedBranches === 1 ? '' : 's'} (depends on their results)`);
  for (const e of p.notReached) lines.push(`  no longer reached: ${e.kind} ${e.label}`);
  if (p.complete) lines.push('  the script finishes from the journal: nothing runs');
  if (p.error) lines.push(`  the script fails while replaying: ${p.error}`);
  return lines;
}
