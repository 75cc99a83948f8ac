import type { UsageRecord } from '../store/index.js';
import type { TokenUsage } from './ledger-types.js';

/**
 * USD per million tokens. A data table, matched by model-id prefix (longest first).
 * The claude-opus-4-8 row is the one Claude Code itself reports (reference/claude-code.md);
 * the others are the providers' list prices for those families. Unknown models cost 0
 * and are flagged, never guessed.
 */
export interface ModelPrice {
  input: number;
  output: number;
  /** Cache reads; default 10% of input. */
  cacheRead?: number;
  /** 5-minute cache writes; default 125% of input. */
  cacheWrite5m?: number;
  /** 1-hour cache writes; default 200% of input. */
  cacheWrite1h?: number;
}

export const PRICES: Record<string, ModelPrice> = {
  'claude-opus-4': { input: 5, output: 25 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-sonnet-5': { input: 3, output: 15 },
  'claude-haiku-4': { input: 1, output: 5 },
  'gpt-5': { input: 1.25, output: 10, cacheRead: 0.125, cacheWrite5m: 1.25, cacheWrite1h: 1.25 },
};

const PREFIXES = Object.keys(PRICES).sort((a, b) => b.length - a.length);

export function priceOf(model: string): ModelPrice | undefined {
  const bare = model.replace(/\[.*\]$/, '');
  const key = PREFIXES.find((p) => bare === p || bare.startsWith(`${p}-`) || bare.startsWith(`${p}.`) || bare.startsWith(p));
  return key ? PRICES[key] : undefined;
}

/** Cost of one request's usage in USD, or null when the model has no price. */
export function costOf(
  u: Pick<UsageRecord, 'model' | 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWrite5mTokens' | 'cacheWrite1hTokens'>,
): number | null {
  const p = priceOf(u.model);
  if (!p) return null;
  const perToken = (usdPerMillion: number) => usdPerMillion / 1_000_000;
  return (
    u.inputTokens * perToken(p.input) +
    u.outputTokens * perToken(p.output) +
    u.cacheReadTokens * perToken(p.cacheRead ?? p.input * 0.1) +
    u.cacheWrite5mTokens * perToken(p.cacheWrite5m ?? p.input * 1.25) +
    u.cacheWrite1hTokens * perToken(p.cacheWrite1h ?? p.input * 2)
  );
}

/**
 * Prices one request's usage: USD and the ledger's flag. `unpriced` (costUsd null) when the model
 * has no price — never $0. (Interim on the prefix table; the prices-as-data change replaces the lookup.)
 */
export function priceUsage(model: string, usage: TokenUsage): { costUsd: number | null; priceFlag: 'priced' | 'unpriced' } {
  const cost = costOf({ model, ...usage });
  return cost === null ? { costUsd: null, priceFlag: 'unpriced' } : { costUsd: cost, priceFlag: 'priced' };
}
