/**
 * @module Which caps apply to a request, from the run's limits (flags, script `meta.budget`)
 * and the store's daily limits (config `budget`); and the parsing of cap amounts.
 */
import type { Cap } from './caps-types.js';
import type { Attribution } from './ledger-types.js';

/** Limits of one run, as stored in its settings (`RunSettings.caps`) so `resume` keeps them. */
export interface RunCaps {
  /** USD for the whole run (`--max-usd`, `meta.budget.usd`). */
  usd?: number;
  /** Output tokens for the whole run (`--max-tokens`, `meta.budget.tokens`). */
  tokens?: number;
  /** USD per agent call (`--max-usd-per-agent`, `meta.budget.perAgentUsd`). */
  perAgentUsd?: number;
  /** Per phase title (`meta.budget.perPhase`). */
  perPhase?: Record<string, { usd?: number; tokens?: number }>;
}

/** The store's daily limits (config `budget`): per UTC day, for the store and per workflow. */
export interface DailyCaps {
  dailyUsd?: number;
  dailyTokens?: number;
  workflows?: Record<string, { dailyUsd?: number; dailyTokens?: number }>;
}

/** `YYYY-MM-DD` of `at` (ms since the epoch) in UTC. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

function cap(scope: Cap['scope'], key: string, usd: number | undefined, tokens: number | undefined): Cap[] {
  if (usd === undefined && tokens === undefined) return [];
  return [{ scope, key, ...(usd !== undefined ? { limitUsd: usd } : {}), ...(tokens !== undefined ? { limitTokens: tokens } : {}) }];
}

/**
 * Every cap that applies to a request with `attribution` at `now` (ms): run, phase and call caps
 * need the run (and phase / call key) to be known; the workflow's daily cap needs the workflow;
 * the store's daily cap applies to every request, unattributed ones included.
 */
export function capsFor(run: RunCaps | undefined, daily: DailyCaps | undefined, attribution: Attribution, now: number): Cap[] {
  const day = utcDay(now);
  const { runId, phase, callKey, workflow } = attribution;
  const out: Cap[] = [];
  if (runId && run) {
    out.push(...cap('run', runId, run.usd, run.tokens));
    const p = phase ? run.perPhase?.[phase] : undefined;
    if (phase && p) out.push(...cap('phase', `${runId}/${phase}`, p.usd, p.tokens));
    if (callKey) out.push(...cap('call', `${runId}/${callKey}`, run.perAgentUsd, undefined));
  }
  const w = workflow ? daily?.workflows?.[workflow] : undefined;
  if (workflow && w) out.push(...cap('workflow-day', `${workflow}/${day}`, w.dailyUsd, w.dailyTokens));
  if (daily) out.push(...cap('store-day', day, daily.dailyUsd, daily.dailyTokens));
  return out;
}

/** The tighter of two limits (either may be absent). */
function min(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** Combines limits from several sources (flags, script): where two set the same limit, the smaller wins. */
export function mergeRunCaps(...sources: (RunCaps | undefined)[]): RunCaps | undefined {
  let out: RunCaps = {};
  for (const s of sources) {
    if (!s) continue;
    const perPhase = { ...out.perPhase };
    for (const [title, p] of Object.entries(s.perPhase ?? {})) {
      const was = perPhase[title];
      const usd = min(was?.usd, p.usd);
      const tokens = min(was?.tokens, p.tokens);
      perPhase[title] = { ...(usd !== undefined ? { usd } : {}), ...(tokens !== undefined ? { tokens } : {}) };
    }
    const usd = min(out.usd, s.usd);
    const tokens = min(out.tokens, s.tokens);
    const perAgentUsd = min(out.perAgentUsd, s.perAgentUsd);
    out = {
      ...(usd !== undefined ? { usd } : {}),
      ...(tokens !== undefined ? { tokens } : {}),
      ...(perAgentUsd !== undefined ? { perAgentUsd } : {}),
      ...(Object.keys(perPhase).length > 0 ? { perPhase } : {}),
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * A token amount: a whole number, optionally with `k` (thousands) or `M` (millions), e.g. `2M`,
 * `500k`, `1.5M`, `20000`. Undefined when the text is not one (or not ≥ 1).
 */
export function parseTokenAmount(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text);
  if (!m) return undefined;
  const scale = m[2] === '' ? 1 : m[2]?.toLowerCase() === 'k' ? 1_000 : 1_000_000;
  const value = Number(m[1]) * scale;
  return Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}

/** Smallest USD amount a cap flag takes: a millionth of a dollar, the ledger's display precision. */
export const MIN_CAP_USD = 0.000001;

/** A USD amount: a number ≥ MIN_CAP_USD, optionally written with a leading `$` (`5`, `0.5`, `$5`). Undefined when it is not one. */
export function parseUsdAmount(text: string): number | undefined {
  const m = /^\s*\$?\s*(\d+(?:\.\d+)?|\.\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]);
  return Number.isFinite(value) && value >= MIN_CAP_USD ? value : undefined;
}
