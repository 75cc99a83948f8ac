/**
 * @module The dashboard's views of runs: the paged runs list, a run's header, its phase → agent
 * tree, one agent's drill-down and its call graph. Read-only; built on the store's public
 * interface and workflow/inspect.ts (`runState`, `describeRun`), so the page and `drover status` agree.
 */

import { type LedgerEntry, priceUsage } from '../budget/index.js';
import { NotFoundError } from '../core/index.js';
import type { CallRecord, RunListing, Store, UsageRecord } from '../store/index.js';
import { describeRun, type RunState, runState } from '../workflow/inspect.js';
import { runActions } from './control.js';

/** One row of the runs list. Times in ms since the epoch; spend in USD (null: nothing priced). */
export interface RunRow {
  id: string;
  name: string;
  status: RunState;
  createdAt: number;
  finishedAt: number | null;
  /** Wall time so far (running) or in all (finished), ms. */
  durationMs: number;
  agents: { total: number; done: number; failed: number; running: number };
  spendUsd: number | null;
  /** The run's USD cap (`--max-usd`, `meta.budget.usd`), when it has one. */
  capUsd: number | null;
  /** The run's token cap (`--max-tokens`, `meta.budget.tokens`, else the legacy `budgetTokens`), when it has one. */
  capTokens: number | null;
  tokens: number;
}

export interface RunsQuery {
  /** A shown state (`interrupted` included). */
  status?: string;
  /** Exact workflow name. */
  workflow?: string;
  /** Case-insensitive text in the id, name or description. */
  text?: string;
  offset?: number;
  limit?: number;
}

export interface RunsPage {
  total: number;
  offset: number;
  limit: number;
  runs: RunRow[];
  /** Every workflow name in the store, for the filter. */
  workflows: string[];
}

/**
 * The runs list, newest first, filtered and paged. Only the page's rows are summarised (their
 * calls and spend read), so a store with many runs stays cheap.
 */
export async function listRunsPage(store: Store, query: RunsQuery, now = Date.now()): Promise<RunsPage> {
  const all = await store.listRuns({ limit: Number.MAX_SAFE_INTEGER });
  const text = query.text?.trim().toLowerCase();
  const matching = all.filter(
    (r) =>
      (!query.status || runState(r, now) === query.status) &&
      (!query.workflow || r.name === query.workflow) &&
      (!text || `${r.id}\n${r.name}\n${r.description}`.toLowerCase().includes(text)),
  );
  const offset = Math.max(0, query.offset ?? 0);
  const limit = Math.min(500, Math.max(1, query.limit ?? 50));
  const runs = await Promise.all(matching.slice(offset, offset + limit).map((r) => summarizeRun(store, r, now)));
  return { total: matching.length, offset, limit, runs, workflows: [...new Set(all.map((r) => r.name))].sort() };
}

async function summarizeRun(store: Store, run: RunListing, now: number): Promise<RunRow> {
  const [calls, usage] = await Promise.all([store.listCalls(run.id), store.usageTotals(run.id)]);
  const spend = await runSpend(store, run.id, calls);
  const status = runState(run, now);
  const agents = calls.filter((c) => c.kind === 'agent');
  return {
    id: run.id,
    name: run.name,
    status,
    createdAt: run.createdAt,
    finishedAt: run.finishedAt,
    durationMs: (run.finishedAt ?? (status === 'running' ? now : run.updatedAt)) - run.createdAt,
    agents: {
      total: agents.length,
      done: agents.filter((c) => c.status === 'finished').length,
      failed: agents.filter((c) => c.status === 'failed').length,
      running: status === 'running' ? agents.filter((c) => c.status === 'started').length : 0,
    },
    spendUsd: spend.usd,
    capUsd: run.settings.caps?.usd ?? null,
    capTokens: run.settings.caps?.tokens ?? run.settings.budgetTokens ?? null,
    tokens: usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens,
  };
}

/**
 * One model request as the drill-down and the cost tab show it: a ledger row when the gateway
 * wrote one, else the journal's usage row priced from the price table (`source: 'usage'`).
 */
export interface RequestRow {
  source: 'ledger' | 'usage';
  callKey: string | null;
  agentLabel: string | null;
  phase: string | null;
  model: string;
  requestId: string | null;
  /** HTTP status (ledger rows only; usage rows are answered requests, 200). */
  status: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  reasoningTokens: number;
  costUsd: number | null;
  priceFlag: string;
  /** ms since the epoch; `endedAt` for usage rows is when the row was written. */
  startedAt: number | null;
  endedAt: number;
  latencyMs: number | null;
  ttfbMs: number | null;
  stopReason: string | null;
}

const fromLedger = (e: LedgerEntry): RequestRow => ({
  source: 'ledger',
  callKey: e.callKey,
  agentLabel: e.agentLabel,
  phase: e.phase,
  model: e.model,
  requestId: e.requestId,
  status: e.status,
  inputTokens: e.inputTokens,
  outputTokens: e.outputTokens,
  cacheReadTokens: e.cacheReadTokens,
  cacheWrite5mTokens: e.cacheWrite5mTokens,
  cacheWrite1hTokens: e.cacheWrite1hTokens,
  reasoningTokens: e.reasoningTokens,
  costUsd: e.costUsd,
  priceFlag: e.priceFlag,
  startedAt: e.startedAt,
  endedAt: e.endedAt,
  latencyMs: e.endedAt - e.startedAt,
  ttfbMs: e.ttfbMs,
  stopReason: e.stopReason,
});

function fromUsage(u: UsageRecord, calls: Map<string, CallRecord>): RequestRow {
  const call = calls.get(u.callKey);
  const price = priceUsage(u.model, { ...u, reasoningTokens: 0, serverToolUses: {} });
  return {
    source: 'usage',
    callKey: u.callKey,
    agentLabel: call?.label ?? null,
    phase: call?.phase ?? null,
    model: u.model,
    requestId: u.requestId,
    status: 200,
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    cacheReadTokens: u.cacheReadTokens,
    cacheWrite5mTokens: u.cacheWrite5mTokens,
    cacheWrite1hTokens: u.cacheWrite1hTokens,
    reasoningTokens: 0,
    costUsd: price.costUsd,
    priceFlag: price.priceFlag,
    startedAt: null,
    endedAt: u.createdAt,
    latencyMs: null,
    ttfbMs: null,
    stopReason: u.stopReason,
  };
}

/**
 * Every model request of a run: the ledger's rows when it has any (the ledger is the truth about
 * money), else the journal's usage rows, priced. `calls` saves a read when the caller has them.
 */
export async function runRequests(store: Store, runId: string, calls?: CallRecord[]): Promise<RequestRow[]> {
  const ledger = await store.ledger.listByRun(runId);
  if (ledger.length > 0) return ledger.map(fromLedger);
  const byKey = new Map((calls ?? (await store.listCalls(runId))).map((c) => [c.key, c]));
  return (await store.listUsage(runId)).map((u) => fromUsage(u, byKey));
}

/** Total USD of a run's requests; null when none was priced. */
async function runSpend(store: Store, runId: string, calls?: CallRecord[]): Promise<{ usd: number | null }> {
  let usd: number | null = null;
  for (const r of await runRequests(store, runId, calls)) if (r.costUsd !== null) usd = (usd ?? 0) + r.costUsd;
  return { usd };
}

/** Per-agent roll-up of its requests. */
interface Rollup {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number | null;
  models: string[];
}

function rollup(rows: RequestRow[]): Rollup {
  const r: Rollup = { requests: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: null, models: [] };
  for (const x of rows) {
    r.requests++;
    r.inputTokens += x.inputTokens;
    r.outputTokens += x.outputTokens;
    r.cacheReadTokens += x.cacheReadTokens;
    r.cacheWriteTokens += x.cacheWrite5mTokens + x.cacheWrite1hTokens;
    if (x.costUsd !== null) r.costUsd = (r.costUsd ?? 0) + x.costUsd;
    if (!r.models.includes(x.model)) r.models.push(x.model);
  }
  return r;
}

/** A journaled call as the tree shows it (no prompt or result: those are in the drill-down). */
export interface CallNode extends Rollup {
  key: string;
  kind: string;
  label: string;
  phase: string | null;
  /** `waiting`: an unanswered `ask` of a run that waits for it. */
  state: 'running' | 'done' | 'failed' | 'interrupted' | 'waiting';
  model: string | null;
  backend: string | null;
  turns: number | null;
  toolCalls: number | null;
  attempts: number;
  reused: boolean;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  error: string | null;
}

/** The run's calls grouped by phase, in the order phases began; `phase: null` holds calls outside any phase. */
export interface CallTree {
  runId: string;
  status: RunState;
  phases: { title: string | null; calls: CallNode[]; done: number; failed: number; running: number; costUsd: number | null }[];
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function callNode(c: CallRecord, run: RunState, rows: RequestRow[], now: number): CallNode {
  const inputs = (c.inputs ?? {}) as Record<string, unknown>;
  const detail = c.detail ?? {};
  const state: CallNode['state'] =
    c.status === 'finished'
      ? 'done'
      : c.status === 'failed'
        ? 'failed'
        : run === 'running'
          ? 'running'
          : run === 'waiting' && c.kind === 'ask'
            ? 'waiting'
            : 'interrupted';
  return {
    key: c.key,
    kind: c.kind,
    label: c.label ?? (c.kind === 'agent' ? 'agent' : c.kind),
    phase: c.phase,
    state,
    model: str(inputs.model) ?? rows[0]?.model ?? null,
    backend: str(inputs.backend),
    turns: num(detail.turns),
    toolCalls: num(detail.toolCalls) ?? (Array.isArray(detail.toolCalls) ? detail.toolCalls.length : null),
    attempts: c.attempts,
    reused: c.reusedFrom !== null,
    startedAt: c.startedAt,
    finishedAt: c.finishedAt,
    durationMs: c.finishedAt !== null ? c.finishedAt - c.startedAt : state === 'running' ? now - c.startedAt : null,
    error: c.error?.message ?? null,
    ...rollup(rows),
  };
}

/** Kinds shown in the tree: calls that do something (clock, random and budget reads are values, not calls). */
const SHOWN = new Set(['agent', 'sh', 'step', 'ask', 'sleep', 'task']);

/** The phase → call tree of a run, with each call's state, model, tokens, cost and duration. Throws NotFoundError for an unknown run. */
export async function callTree(store: Store, runId: string, now = Date.now()): Promise<CallTree> {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  const status = runState(run, now);
  const calls = (await store.listCalls(runId)).filter((c) => SHOWN.has(c.kind)).sort((a, b) => a.startedAt - b.startedAt);
  const requests = await runRequests(store, runId, calls);
  const byCall = new Map<string, RequestRow[]>();
  for (const r of requests) if (r.callKey) byCall.set(r.callKey, [...(byCall.get(r.callKey) ?? []), r]);
  const events = await store.listEvents(runId);
  // Phases in the order they began: a `phase()` event or a call naming the phase, whichever came first
  // (a phase set only per call — `agent(…, { phase })` — began with its first call).
  const began = new Map<string | null, number>();
  const begin = (title: string | null, at: number) => began.set(title, Math.min(began.get(title) ?? at, at));
  for (const e of events) if (e.type === 'phase') begin(String(e.data.title), e.ts);
  for (const c of calls) begin(c.phase, c.startedAt);
  const order = [...began.entries()].sort((a, b) => a[1] - b[1]).map(([title]) => title);
  const phases = order.map((title) => {
    const mine = calls.filter((c) => c.phase === title).map((c) => callNode(c, status, byCall.get(c.key) ?? [], now));
    let cost: number | null = null;
    for (const c of mine) if (c.costUsd !== null) cost = (cost ?? 0) + c.costUsd;
    return {
      title,
      calls: mine,
      done: mine.filter((c) => c.state === 'done').length,
      failed: mine.filter((c) => c.state === 'failed').length,
      running: mine.filter((c) => c.state === 'running').length,
      costUsd: cost,
    };
  });
  return { runId, status, phases: phases.filter((p) => p.calls.length > 0 || p.title !== null) };
}

/** One call in full: its inputs (the prompt), result or error, what it did, and each of its model requests. */
export interface CallDetail {
  call: CallNode;
  inputs: unknown;
  result: unknown;
  error: CallRecord['error'];
  detail: Record<string, unknown> | null;
  reusedFrom: string | null;
  requests: RequestRow[];
}

/** Throws NotFoundError when the run or the call is unknown. */
export async function callDetail(store: Store, runId: string, key: string, now = Date.now()): Promise<CallDetail> {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  const calls = await store.listCalls(runId);
  const call = calls.find((c) => c.key === key);
  if (!call) throw new NotFoundError(`call ${key} of run ${runId}`);
  const requests = (await runRequests(store, runId, calls)).filter((r) => r.callKey === key);
  return {
    call: callNode(call, runState(run, now), requests, now),
    inputs: call.inputs,
    result: call.result,
    error: call.error,
    detail: call.detail ?? null,
    reusedFrom: call.reusedFrom,
    requests,
  };
}

/** The run's header: what `drover status --json` says, plus its args, spend and the questions count. */
export async function runHeader(store: Store, runId: string) {
  const [d, run] = await Promise.all([describeRun(store, runId), store.getRun(runId)]);
  const spend = await runSpend(store, runId);
  const { agents: _agents, ...rest } = d;
  return {
    ...rest,
    args: run?.args ?? null,
    scriptForm: run?.scriptForm ?? null,
    agentsTotal: d.agents.length,
    agentsDone: d.agents.filter((a) => a.state === 'done').length,
    spendUsd: spend.usd,
    capUsd: d.settings.caps?.usd ?? null,
    capTokens: d.settings.caps?.tokens ?? d.settings.budgetTokens ?? null,
    /** What the page offers (control.ts): stop a live run, resume one nobody drives. */
    actions: runActions(d.status),
    stopRequestedAt: await store.control.stopRequestedAt(runId),
  };
}

/** The script as the run stored it. Throws NotFoundError for an unknown run. */
export async function runScript(store: Store, runId: string) {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  return { path: run.scriptPath, form: run.scriptForm, hash: run.scriptHash, source: run.scriptSource };
}

/** The run's events (phases, logs, warnings), oldest first. Throws NotFoundError for an unknown run. */
export async function runEvents(store: Store, runId: string) {
  if (!(await store.getRun(runId))) throw new NotFoundError(`run ${runId}`);
  return (await store.listEvents(runId)).map((e) => ({ ts: e.ts, type: e.type, data: e.data }));
}
