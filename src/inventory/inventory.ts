/**
 * @module The workflow inventory (`drover workflows`): every workflow name the store's runs hold,
 * with its tier (what its runs declare, and what a promotion recorded), owner, runs, success rate,
 * spend over 7 and 30 days (the ledger), last run, policy denials and the gate for the next tier.
 * Also the gate checks themselves, attachments and promotions (`attach`, `promote`), each audited.
 */

import { dirname, resolve } from 'node:path';
import { diffGolden, evaluateSpec, loadGolden, loadSpec, toGolden } from '../assert/index.js';
import { BILLED_MODES } from '../budget/ledger-types.js';
import { findProjectRoot } from '../config/index.js';
import { actorName } from '../core/actor.js';
import { DroverError, InputError, NotFoundError } from '../core/errors.js';
import { effectivePolicy, loadPolicyEngine, TIERS, type Tier, WorkflowPolicy } from '../policy/index.js';
import type { Store, WorkflowRecord, WorkflowRunSummary } from '../store/index.js';
import { loadSpans } from '../telemetry/trace-source.js';
import { type GateItem, type GateStatus, nextTier, TIER_GATES, tierRank } from './gates.js';

const DAY_MS = 86_400_000;

/** Spend of a workflow in a window: USD of its priced ledger rows (null: rows, none priced), and its requests. */
export interface WindowSpend {
  usd: number | null;
  requests: number;
}

/** One workflow as `drover workflows` lists it. Times are ISO 8601 strings. */
export interface WorkflowInventoryEntry {
  name: string;
  /** The tier the latest run declared (`meta.tier`; unclassified = `personal`): what runs enforce. */
  tier: Tier;
  /** The tier the last granted promotion recorded (`drover workflows promote`); null: never promoted. */
  promotedTier: Tier | null;
  /** The latest run's `meta.owner`, or null. */
  owner: string | null;
  runs: number;
  completed: number;
  failed: number;
  /** completed / (completed + failed), 0..1; null when no run has ended. */
  successRate: number | null;
  spend: { last7d: WindowSpend; last30d: WindowSpend };
  lastRun: { id: string; status: string; at: string };
  /** Policy denials recorded in its runs (`drover status` shows each). */
  policyDenials: number;
  /** The attached evaluation (absolute paths), if any. */
  attached: { spec: string | null; golden: string | null };
  /** The gate for the tier above the promoted one (personal when never promoted); null at the top. */
  gate: GateStatus | null;
}

/** Who an attachment or promotion is recorded under (core/actor.ts). */
export const inventoryActor = (): string => actorName();

interface LatestSettings {
  tier?: unknown;
  owner?: unknown;
  caps?: { usd?: unknown; tokens?: unknown };
  workdir?: unknown;
}

const asTier = (t: unknown): Tier => (typeof t === 'string' && tierRank(t) >= 0 ? (t as Tier) : 'personal');

/** Policy engines by project root, loaded once per listing. */
type EngineCache = Map<string, ReturnType<typeof loadPolicyEngine>>;

/** The approvals a tier's effective policy requires, for the workflow's project (its latest run's workdir). */
function approvalsItem(summary: WorkflowRunSummary, tier: Tier, engines: EngineCache): GateItem {
  const s = (summary.latest.settings ?? {}) as LatestSettings;
  const workdir = typeof s.workdir === 'string' ? s.workdir : dirname(summary.latest.scriptPath);
  let engine: ReturnType<typeof loadPolicyEngine>;
  try {
    const root = findProjectRoot(workdir);
    engine = engines.get(root) ?? loadPolicyEngine({ root });
    engines.set(root, engine);
  } catch (err) {
    if (!(err instanceof DroverError)) throw err;
    return { id: 'approvals', ok: false, detail: `the project's policy does not load: ${err.message}` };
  }
  const owner = typeof s.owner === 'string' ? s.owner : undefined;
  const policy = new WorkflowPolicy(engine, { name: summary.name, tier, ...(owner ? { owner } : {}) }, resolve(workdir));
  const e = effectivePolicy(policy, [], engine.files);
  const needed = [
    ...e.approvals.commands.filter((c) => c.allowed).map((c) => `sh "${c.name}" [${c.rules.join(', ')}]`),
    ...(e.approvals.agentResults.value ? [`agent results [${e.approvals.agentResults.rules.join(', ')}]`] : []),
  ];
  return needed.length
    ? { id: 'approvals', ok: true, detail: `the ${tier} policy requires approval of: ${needed.join('; ')}` }
    : {
        id: 'approvals',
        ok: false,
        detail: `the ${tier} policy requires no approval of anything (add a requireApproval policy in .drover/policy/, see docs/governance.md)`,
      };
}

/** The attached spec / golden checked against the newest `n` completed runs' traces. */
async function evaluationItem(store: Store, name: string, record: WorkflowRecord | undefined, n: number): Promise<GateItem> {
  const attach = `drover workflows attach ${name} --spec <spec.yaml> | --golden <golden.json>`;
  if (!record?.specPath && !record?.goldenPath) {
    return { id: 'evaluation', ok: false, detail: `no assert spec or golden trace attached (${attach})` };
  }
  let spec: ReturnType<typeof loadSpec> | undefined;
  let golden: ReturnType<typeof loadGolden> | undefined;
  try {
    spec = record.specPath ? loadSpec(record.specPath) : undefined;
    golden = record.goldenPath ? loadGolden(record.goldenPath) : undefined;
  } catch (err) {
    if (!(err instanceof DroverError)) throw err;
    return { id: 'evaluation', ok: false, detail: `the attached evaluation does not load: ${err.message}` };
  }
  const what = [record.specPath ? `spec ${record.specPath}` : '', record.goldenPath ? `golden ${record.goldenPath}` : '']
    .filter(Boolean)
    .join(' and ');
  const ids = await store.workflows.completedRuns(name, n);
  const runs: NonNullable<GateItem['runs']> = [];
  for (const runId of ids) {
    let spans: Awaited<ReturnType<typeof loadSpans>>;
    try {
      spans = await loadSpans(store, { run: runId });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      runs.push({ runId, passed: false, failures: ['no trace (the run ran with tracing off, or its spans were removed)'] });
      continue;
    }
    const failures: string[] = [];
    if (spec) for (const r of evaluateSpec(spec, spans).results) if (!r.passed) failures.push(`${r.name}: ${r.failures.join('; ')}`);
    if (golden) {
      const diff = diffGolden(golden, toGolden(spans));
      if (diff.length) failures.push(`differs from the golden trace (${diff.length} line${diff.length === 1 ? '' : 's'}): ${diff[0]}`);
    }
    runs.push({ runId, passed: failures.length === 0, failures });
  }
  const failing = runs.filter((r) => !r.passed);
  if (ids.length < n) {
    return {
      id: 'evaluation',
      ok: false,
      detail: `${what} must pass on the last ${n} completed runs; only ${ids.length} completed run${ids.length === 1 ? '' : 's'} so far`,
      runs,
    };
  }
  if (failing.length) {
    return {
      id: 'evaluation',
      ok: false,
      detail: `${what} fails on ${failing.length} of the last ${n} completed runs: ${failing.map((r) => `${r.runId} (${r.failures.join('; ')})`).join(', ')}`,
      runs,
    };
  }
  return { id: 'evaluation', ok: true, detail: `${what} passes on the last ${n} completed runs`, runs };
}

/** The gate of `tier` for a workflow, from its latest run, its stored row and the project's policy. */
async function gateFor(
  store: Store,
  summary: WorkflowRunSummary,
  record: WorkflowRecord | undefined,
  tier: Tier,
  engines: EngineCache = new Map(),
): Promise<GateStatus> {
  const gate = TIER_GATES[tier];
  const s = (summary.latest.settings ?? {}) as LatestSettings;
  const latest = `the latest run (${summary.latest.id})`;
  const items: GateItem[] = [];
  if (gate.owner) {
    items.push(
      typeof s.owner === 'string' && s.owner
        ? { id: 'owner', ok: true, detail: `owner ${s.owner}` }
        : { id: 'owner', ok: false, detail: `no owner: ${latest} declared no meta.owner` },
    );
  }
  if (gate.caps) {
    const caps = s.caps ?? {};
    const set = [caps.usd !== undefined ? `usd ${caps.usd}` : '', caps.tokens !== undefined ? `tokens ${caps.tokens}` : ''].filter(Boolean);
    items.push(
      set.length
        ? { id: 'caps', ok: true, detail: `run caps ${set.join(', ')}` }
        : {
            id: 'caps',
            ok: false,
            detail: `no caps: ${latest} had no run cap in USD or tokens (meta.budget.usd / .tokens, or --max-usd / --max-tokens)`,
          },
    );
  }
  if (gate.evaluationRuns > 0) items.push(await evaluationItem(store, summary.name, record, gate.evaluationRuns));
  if (gate.approvals) items.push(approvalsItem(summary, tier, engines));
  const missing = items.filter((i) => !i.ok);
  return { tier, passed: missing.length === 0, items, missing };
}

async function summaryOf(store: Store, name: string): Promise<WorkflowRunSummary> {
  const summary = (await store.workflows.summaries()).find((s) => s.name === name);
  if (!summary) throw new NotFoundError(`workflow ${name} (the store has no run of it; \`drover workflows\` lists those it has)`);
  return summary;
}

const parseTier = (tier: string): Tier => {
  if (tierRank(tier) < 0) throw new InputError(`--tier "${tier}" is not a tier (one of ${TIERS.join(', ')})`, 'INVALID_TIER');
  return tier as Tier;
};

/**
 * Every workflow the store's runs name, by name. `now`: ms since the epoch the 7/30-day windows end at.
 * The gate shown is the one for the tier above the promoted one (checking it runs the attached
 * evaluation over stored traces).
 */
export async function workflowInventory(store: Store, options: { now?: number } = {}): Promise<WorkflowInventoryEntry[]> {
  const now = options.now ?? Date.now();
  const spendIn = async (days: number) =>
    new Map(
      // Spend is money: billed modes only, as `drover usage` counts it (sims and replays cost nothing).
      (await store.ledger.sumsInWindow({ since: now - days * DAY_MS, until: now + 1, modes: BILLED_MODES }, 'workflow')).map((g) => [
        g.key,
        { usd: g.costUsd, requests: g.requests },
      ]),
    );
  const [week, month] = [await spendIn(7), await spendIn(30)];
  const records = new Map((await store.workflows.list()).map((r) => [r.name, r]));
  const engines: EngineCache = new Map();
  const out: WorkflowInventoryEntry[] = [];
  for (const summary of await store.workflows.summaries()) {
    const s = (summary.latest.settings ?? {}) as LatestSettings;
    const record = records.get(summary.name);
    const promoted = record?.tier && tierRank(record.tier) >= 0 ? (record.tier as Tier) : null;
    const next = nextTier(promoted ?? 'personal');
    const ended = summary.completed + summary.failed;
    out.push({
      name: summary.name,
      tier: asTier(s.tier),
      promotedTier: promoted,
      owner: typeof s.owner === 'string' ? s.owner : null,
      runs: summary.runs,
      completed: summary.completed,
      failed: summary.failed,
      successRate: ended ? summary.completed / ended : null,
      spend: {
        last7d: week.get(summary.name) ?? { usd: 0, requests: 0 },
        last30d: month.get(summary.name) ?? { usd: 0, requests: 0 },
      },
      lastRun: { id: summary.latest.id, status: summary.latest.status, at: new Date(summary.latest.createdAt).toISOString() },
      policyDenials: summary.policyDenials,
      attached: { spec: record?.specPath ?? null, golden: record?.goldenPath ?? null },
      gate: next ? await gateFor(store, summary, record, next, engines) : null,
    });
  }
  return out;
}

/**
 * The gate of `tier` for workflow `name`, without recording anything.
 * @throws NotFoundError (`NOT_FOUND`, exit 2) when the store has no run of `name`; InputError (`INVALID_TIER`) for an unknown tier
 */
export async function checkGate(store: Store, name: string, tier: string): Promise<GateStatus> {
  const t = parseTier(tier);
  return gateFor(store, await summaryOf(store, name), await store.workflows.get(name), t);
}

/** What `promoteWorkflow` decided: granted (the stored row) or refused (the gate's missing items). */
export interface PromotionResult {
  name: string;
  from: Tier;
  to: Tier;
  granted: boolean;
  gate: GateStatus;
  /** The stored row after a granted promotion. */
  workflow?: WorkflowRecord;
}

/**
 * Checks the gate of `tier` for `name` and records the outcome: a granted promotion stores the tier
 * (with owner, time and actor) and a `promote` event; a refused one a `refused` event naming every
 * missing item. `actor`: who asked (default {@link inventoryActor}).
 * @throws NotFoundError (`NOT_FOUND`, exit 2) when the store has no run of `name`; InputError
 *   (`INVALID_TIER`, exit 2) for an unknown tier, (`PROMOTION_NOT_UPWARD`, exit 2) when `tier` is not
 *   above the tier already recorded (personal when none)
 */
export async function promoteWorkflow(
  store: Store,
  name: string,
  tier: string,
  options: { now?: number; actor?: string } = {},
): Promise<PromotionResult> {
  const to = parseTier(tier);
  const summary = await summaryOf(store, name);
  const record = await store.workflows.get(name);
  const from = record?.tier && tierRank(record.tier) >= 0 ? (record.tier as Tier) : 'personal';
  if (tierRank(to) <= tierRank(from)) {
    throw new InputError(
      `workflow ${name} is already recorded at ${from}; promotion goes only upward (${TIERS.slice(tierRank(from) + 1).join(', ') || 'no tier is above it'})`,
      'PROMOTION_NOT_UPWARD',
    );
  }
  const gate = await gateFor(store, summary, record, to);
  const now = options.now ?? Date.now();
  const actor = options.actor ?? inventoryActor();
  if (!gate.passed) {
    await store.workflows.refused(name, { from, to, missing: gate.missing.map((m) => ({ id: m.id, detail: m.detail })) }, now, actor);
    return { name, from, to, granted: false, gate };
  }
  const owner = (summary.latest.settings as LatestSettings | null)?.owner;
  const workflow = await store.workflows.promote(name, { tier: to, owner: typeof owner === 'string' ? owner : '', from }, now, actor);
  return { name, from, to, granted: true, gate, workflow };
}

/**
 * Records the assert spec (`spec`) and/or golden trace (`golden`) the gates evaluate `name`'s runs
 * with: the file must load now (as `drover assert` would read it); its absolute path is stored.
 * @throws InputError (exit 2) when neither is given or a file does not load (SpecError `INVALID_SPEC`
 *   for a bad spec); NotFoundError (`NOT_FOUND`, exit 2) when the store has no run of `name`
 */
export async function attachEvaluation(
  store: Store,
  name: string,
  files: { spec?: string; golden?: string },
  options: { now?: number; actor?: string } = {},
): Promise<WorkflowRecord> {
  if (files.spec === undefined && files.golden === undefined)
    throw new InputError('give --spec <spec.yaml>, --golden <golden.json>, or both');
  await summaryOf(store, name);
  const specPath = files.spec !== undefined ? resolve(files.spec) : undefined;
  const goldenPath = files.golden !== undefined ? resolve(files.golden) : undefined;
  if (specPath) loadSpec(specPath);
  if (goldenPath) loadGolden(goldenPath);
  return store.workflows.attach(
    name,
    { ...(specPath ? { specPath } : {}), ...(goldenPath ? { goldenPath } : {}) },
    options.now ?? Date.now(),
    options.actor ?? inventoryActor(),
  );
}
