/** @module A run's cost tab: its model requests (the ledger, else priced usage rows) rolled up by phase, agent, model and token class, and spend over time. */
import type { Store } from '../store/index.js';
import { type RequestRow, runRequests } from './runs.js';

/** One roll-up bucket. Tokens are counts; USD null when nothing in it was priced. */
export interface CostBucket {
  key: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number | null;
  /** Requests in it whose cost is unknown (`unpriced`) or estimated. */
  unpriced: number;
  estimated: number;
}

export interface RunCost {
  runId: string;
  /** `ledger`: the gateway's ledger rows; `usage`: the journal's usage rows priced from the price table (runs before the ledger). */
  source: 'ledger' | 'usage' | 'none';
  total: CostBucket;
  byPhase: CostBucket[];
  byAgent: CostBucket[];
  byModel: CostBucket[];
  /** Tokens per class over the run, with each class's share of the priced cost unknown (the ledger keeps one cost per row). */
  byTokenClass: { class: string; tokens: number }[];
  /** Cumulative spend after each request (ms since the epoch, USD). */
  overTime: { at: number; usd: number }[];
  /** The run's caps, when it has them. */
  cap: { tokens: number | null };
}

function bucket(key: string): CostBucket {
  return {
    key,
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costUsd: null,
    unpriced: 0,
    estimated: 0,
  };
}

function add(b: CostBucket, r: RequestRow): void {
  b.requests++;
  b.inputTokens += r.inputTokens;
  b.outputTokens += r.outputTokens;
  b.cacheReadTokens += r.cacheReadTokens;
  b.cacheWriteTokens += r.cacheWrite5mTokens + r.cacheWrite1hTokens;
  if (r.costUsd !== null) b.costUsd = (b.costUsd ?? 0) + r.costUsd;
  if (r.priceFlag === 'unpriced') b.unpriced++;
  if (r.priceFlag === 'estimated') b.estimated++;
}

function groupBy(rows: RequestRow[], keyOf: (r: RequestRow) => string): CostBucket[] {
  const map = new Map<string, CostBucket>();
  for (const r of rows) {
    const k = keyOf(r);
    const b = map.get(k) ?? bucket(k);
    add(b, r);
    map.set(k, b);
  }
  return [...map.values()].sort((a, b) => (b.costUsd ?? 0) - (a.costUsd ?? 0) || b.requests - a.requests);
}

/** The cost tab of a run (an unknown run has no rows: source `none`). */
export async function runCost(store: Store, runId: string): Promise<RunCost> {
  const [rows, run] = await Promise.all([runRequests(store, runId), store.getRun(runId)]);
  const total = bucket('total');
  for (const r of rows) add(total, r);
  let usd = 0;
  const overTime = [...rows]
    .sort((a, b) => a.endedAt - b.endedAt)
    .map((r) => {
      usd += r.costUsd ?? 0;
      return { at: r.endedAt, usd };
    });
  let reasoning = 0;
  let cache5m = 0;
  let cache1h = 0;
  for (const r of rows) {
    reasoning += r.reasoningTokens;
    cache5m += r.cacheWrite5mTokens;
    cache1h += r.cacheWrite1hTokens;
  }
  return {
    runId,
    source: rows.length === 0 ? 'none' : (rows[0] as RequestRow).source,
    total,
    byPhase: groupBy(rows, (r) => r.phase ?? '(no phase)'),
    byAgent: groupBy(rows, (r) => r.agentLabel ?? '(unattributed)'),
    byModel: groupBy(rows, (r) => r.model),
    byTokenClass: [
      { class: 'input', tokens: total.inputTokens },
      { class: 'output', tokens: total.outputTokens },
      { class: 'reasoning (of output)', tokens: reasoning },
      { class: 'cache read', tokens: total.cacheReadTokens },
      { class: 'cache write 5m', tokens: cache5m },
      { class: 'cache write 1h', tokens: cache1h },
    ],
    overTime,
    cap: { tokens: run?.settings.budgetTokens ?? null },
  };
}
