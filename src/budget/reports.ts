/**
 * @module
 * Spend reports, read from the ledger only (one row per model request): `drover cost <run>` and
 * `drover usage`. An unpriced row is counted in tokens and in `unpricedRequests`, never as $0:
 * a total is the sum of the priced (and estimated) rows, and is null when no row has a price.
 */
import { NotFoundError } from '../core/errors.js';
import type { LedgerGroupSum, Store } from '../store/index.js';
import { BILLED_MODES, LEDGER_MODES, type LedgerEntry, type LedgerMode } from './ledger-types.js';
import { costBreakdown, type PriceOverrides, priceOf } from './prices.js';

/** How `drover cost` breaks a run's spend down. */
export const COST_GROUPINGS = ['phase', 'agent', 'model', 'token-class', 'request'] as const;
export type CostGrouping = (typeof COST_GROUPINGS)[number];

/** How `drover usage` breaks spend over a time window down. */
export const USAGE_GROUPINGS = ['workflow', 'day', 'model'] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

/**
 * One group of requests (a phase, agent call, model, workflow or day): the store's sums for the group
 * (tokens are integers, USD a sum of rows), with what to show — the agent's label for `agent`, else
 * the key (or `(none)`).
 */
export interface CostLine extends Omit<LedgerGroupSum, 'label'> {
  label: string;
}

/** Token classes of `--by token-class`; `server:<tool>` lines count uses, not tokens. */
export type TokenClass = 'input' | 'cacheRead' | 'cacheWrite5m' | 'cacheWrite1h' | 'output' | `server:${string}`;

/** One token class of a run: how many tokens (or server-tool uses) and what they cost. */
export interface TokenClassLine {
  class: TokenClass;
  /** Tokens of the class (uses, for `server:` lines), priced or not. */
  tokens: number;
  /** Of `tokens`, those of unpriced requests (not in `costUsd`). */
  unpricedTokens: number;
  /** For `output`: of its tokens, the reasoning ones (billed at the output rate, included above). */
  reasoningTokens?: number;
  /** USD at the class's rate (the sheet and overrides as they are now); null when every token of it is unpriced. */
  costUsd: number | null;
}

/** One model request of a run (`--by request`). */
export interface RequestLine {
  id: number;
  requestId: string | null;
  callKey: string | null;
  agent: string | null;
  phase: string | null;
  model: string;
  status: number;
  /** Set when drover's gateway refused the request before sending it (`budget`: a cap; `policy`). */
  refusedBy: LedgerEntry['refusedBy'];
  priceFlag: LedgerEntry['priceFlag'];
  mode: LedgerEntry['mode'];
  startedAt: string;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  serverToolUses: Record<string, number>;
  costUsd: number | null;
}

interface Totals {
  /** USD of every priced and estimated request; null when there are requests and none is priced. */
  totalUsd: number | null;
  requests: number;
  /** Requests whose model (or a server tool it used) has no price: in tokens, not in `totalUsd`. */
  unpricedRequests: number;
  /** Requests counted with the tokenizer because their stream was cut before the provider's usage. */
  estimatedRequests: number;
  /**
   * Of `requests`, those drover's gateway refused before sending them (a cap or the policy): rows
   * at no cost that no provider saw. `requests - refusedRequests` is what reached the provider.
   */
  refusedRequests: number;
}

/** `drover cost <run> --json`. */
export type CostReport = Totals & { runId: string } & (
    | { by: 'phase' | 'agent' | 'model'; breakdown: CostLine[] }
    | { by: 'token-class'; breakdown: TokenClassLine[] }
    | { by: 'request'; breakdown: RequestLine[] }
  );

/**
 * `drover usage --json`: spend of every request that ended in `[since, until)` in `modes`;
 * `notCounted` sums the window's requests in the other modes (simulated and replayed requests are
 * priced like real ones, but nobody pays for them).
 */
export type UsageReport = Totals & {
  since: string;
  until: string;
  by: UsageGrouping;
  modes: LedgerMode[];
  breakdown: CostLine[];
  notCounted: { modes: LedgerMode[]; requests: number; costUsd: number | null };
};

const line = (g: LedgerGroupSum): CostLine => ({ ...g, label: g.label ?? g.key ?? '(none)' });

type Countable = Pick<Totals, 'requests' | 'unpricedRequests' | 'estimatedRequests' | 'refusedRequests'> & { costUsd: number | null };

function totalsOf(lines: Countable[]): Totals {
  const requests = lines.reduce((n, l) => n + l.requests, 0);
  const unpricedRequests = lines.reduce((n, l) => n + l.unpricedRequests, 0);
  const priced = lines.filter((l) => l.costUsd !== null);
  return {
    totalUsd: requests > 0 && unpricedRequests === requests ? null : priced.reduce((n, l) => n + (l.costUsd ?? 0), 0),
    requests,
    unpricedRequests,
    estimatedRequests: lines.reduce((n, l) => n + l.estimatedRequests, 0),
    refusedRequests: lines.reduce((n, l) => n + l.refusedRequests, 0),
  };
}

function rowTotals(rows: LedgerEntry[]): Totals {
  return totalsOf(
    rows.map((r) => ({
      requests: 1,
      costUsd: r.costUsd,
      unpricedRequests: r.priceFlag === 'unpriced' ? 1 : 0,
      estimatedRequests: r.priceFlag === 'estimated' ? 1 : 0,
      refusedRequests: r.refusedBy ? 1 : 0,
    })),
  );
}

/**
 * Splits a run's rows by token class. Each priced row's split comes from the price sheet (and
 * `overrides`) as they are now; the report's `totalUsd` is always the rows' own recorded costs.
 */
function tokenClasses(rows: LedgerEntry[], overrides?: PriceOverrides): TokenClassLine[] {
  const lines = new Map<TokenClass, TokenClassLine>();
  const add = (cls: TokenClass, tokens: number, cost: number | null) => {
    const l = lines.get(cls) ?? { class: cls, tokens: 0, unpricedTokens: 0, costUsd: null };
    l.tokens += tokens;
    if (cost === null) l.unpricedTokens += tokens;
    else l.costUsd = (l.costUsd ?? 0) + cost;
    lines.set(cls, l);
  };
  for (const r of rows) {
    const price = r.priceFlag === 'unpriced' ? undefined : priceOf(r.model, overrides);
    const b = price ? costBreakdown(price, r) : undefined;
    add('input', r.inputTokens, b ? b.input : null);
    add('cacheRead', r.cacheReadTokens, b ? b.cacheRead : null);
    add('cacheWrite5m', r.cacheWrite5mTokens, b ? b.cacheWrite5m : null);
    add('cacheWrite1h', r.cacheWrite1hTokens, b ? b.cacheWrite1h : null);
    add('output', r.outputTokens, b ? b.output : null);
    for (const [tool, uses] of Object.entries(r.serverToolUses)) add(`server:${tool}`, uses, b?.serverTools[tool] ?? null);
  }
  const output = lines.get('output');
  if (output) output.reasoningTokens = rows.reduce((n, r) => n + r.reasoningTokens, 0);
  return [...lines.values()].filter((l) => l.tokens > 0 || l.class === 'input' || l.class === 'output');
}

const requestLine = (r: LedgerEntry): RequestLine => ({
  id: r.id ?? 0,
  requestId: r.requestId,
  callKey: r.callKey,
  agent: r.agentLabel,
  phase: r.phase,
  model: r.model,
  status: r.status,
  refusedBy: r.refusedBy ?? null,
  priceFlag: r.priceFlag,
  mode: r.mode,
  startedAt: new Date(r.startedAt).toISOString(),
  inputTokens: r.inputTokens,
  cacheReadTokens: r.cacheReadTokens,
  cacheWrite5mTokens: r.cacheWrite5mTokens,
  cacheWrite1hTokens: r.cacheWrite1hTokens,
  outputTokens: r.outputTokens,
  reasoningTokens: r.reasoningTokens,
  serverToolUses: r.serverToolUses,
  costUsd: r.costUsd,
});

/**
 * What a run's model requests cost, broken down `by` phase, agent call, model, token class or
 * request. Throws NotFoundError (`NOT_FOUND`) when the store has neither the run nor ledger rows for it.
 * `overrides` (drover.config.json `prices`) only shape the token-class split.
 */
export async function costReport(store: Store, runId: string, by: CostGrouping, overrides?: PriceOverrides): Promise<CostReport> {
  // A run id the ledger knows but the store has no run for (a standalone gateway's `x-drover-run`) is reported too.
  const rows = await store.ledger.listByRun(runId);
  if (rows.length === 0 && !(await store.getRun(runId))) throw new NotFoundError(`run ${runId}`);
  if (by === 'token-class' || by === 'request') {
    const totals = rowTotals(rows);
    return by === 'request'
      ? { runId, by, ...totals, breakdown: rows.map(requestLine) }
      : { runId, by, ...totals, breakdown: tokenClasses(rows, overrides) };
  }
  const breakdown = (await store.ledger.sumsByRun(runId, by)).map(line);
  return { runId, by, ...totalsOf(breakdown), breakdown };
}

/**
 * Spend of every request that ended in `[since, until)` (ms since the epoch), across runs, `by`
 * workflow, UTC day or model; only requests written in `modes` (default `BILLED_MODES`).
 */
export async function usageReport(
  store: Store,
  window: { since: number; until: number },
  by: UsageGrouping,
  modes: readonly LedgerMode[] = BILLED_MODES,
): Promise<UsageReport> {
  const breakdown = (await store.ledger.sumsInWindow({ ...window, modes }, by)).map(line);
  const others = LEDGER_MODES.filter((m) => !modes.includes(m));
  const left = others.length ? totalsOf((await store.ledger.sumsInWindow({ ...window, modes: others }, 'model')).map(line)) : totalsOf([]);
  return {
    since: new Date(window.since).toISOString(),
    until: new Date(window.until).toISOString(),
    by,
    modes: [...modes],
    ...totalsOf(breakdown),
    breakdown,
    notCounted: { modes: others, requests: left.requests, costUsd: left.totalUsd },
  };
}

/** USD for people: `$0.006345`, `$0.30`, `$12.34`; `unpriced` for null, never `$0`. */
export function formatUsd(usd: number | null): string {
  if (usd === null) return 'unpriced';
  if (usd === 0) return '$0';
  // Whole cents (a cap of 0.3) read as money; smaller amounts keep 4 significant digits.
  if (Math.abs(usd) >= 1 || Math.abs(usd * 100 - Math.round(usd * 100)) < 1e-9) return `$${usd.toFixed(2)}`;
  return `$${usd.toPrecision(4).replace(/0+$/, '').replace(/\.$/, '')}`;
}
