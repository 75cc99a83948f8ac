/**
 * @module
 * Prices as data: src/budget/prices.json (USD per million tokens, keyed by exact model id and
 * dated aliases, each family citing its source) plus the user's overrides from
 * `drover.config.json` (`prices`). A model id that is in neither is unpriced: its tokens are
 * metered, its cost is null — never $0, never a guess from a prefix. See docs/budget.md.
 */
import type { UsageRecord } from '../store/index.js';
import type { ProviderName, TokenUsage } from './ledger-types.js';
import sheet from './prices.json' with { type: 'json' };

/** Rates of one tier, USD per million tokens. */
export interface TokenRates {
  input: number;
  output: number;
  /** Cache hits (Anthropic cache reads, OpenAI cached input). Default 0.1 × input. */
  cacheRead?: number;
  /** Anthropic 5-minute cache writes. Default 1.25 × input. */
  cacheWrite5m?: number;
  /** Anthropic 1-hour cache writes. Default 2 × input. */
  cacheWrite1h?: number;
}

/** A model's price: base rates, an optional long-context tier and per-use server tool prices. */
export interface ModelPrice extends TokenRates {
  provider?: ProviderName;
  /** Key into the sheet's `sources` (or free text for an override): where the numbers come from. */
  source?: string;
  /**
   * When a request's whole prompt (input + cache reads + cache writes, in tokens) is above
   * `aboveInputTokens`, all of its tokens bill at these rates instead (e.g. Sonnet 4/4.5 above 200k).
   */
  longContext?: TokenRates & { aboveInputTokens: number };
  /** USD per use of a server-side tool, keyed like `TokenUsage.serverToolUses` (`web_search_requests`). */
  perUse?: Record<string, number>;
}

/** `drover.config.json` `prices`: model id → its price, replacing the sheet's entry for that exact id. */
export type PriceOverrides = Record<string, ModelPrice>;

interface PriceSheet {
  checked: string;
  sources: Record<string, string>;
  models: Record<string, ModelPrice>;
  aliases: Record<string, string>;
}

const SHEET = sheet as PriceSheet;

/** The built-in sheet's entries by exact model id (aliases resolved), frozen. */
export const PRICES: Readonly<Record<string, ModelPrice>> = Object.freeze(
  Object.fromEntries([
    ...Object.entries(SHEET.models),
    ...Object.entries(SHEET.aliases).map(([alias, key]) => [alias, SHEET.models[key] as ModelPrice]),
  ]),
);

/** Where each family's prices come from (the sheet's `sources`) and the day they were checked. */
export const PRICE_SOURCES: Readonly<{ checked: string; sources: Record<string, string> }> = Object.freeze({
  checked: SHEET.checked,
  sources: SHEET.sources,
});

/** Claude Code's local 1M-context marker (`claude-sonnet-4-5[1m]`) is not part of the API's id. */
const bareId = (model: string) => model.replace(/\[1m\]$/i, '');

/**
 * The price of exactly `model` (an override first, then the sheet; dated aliases are listed
 * entries, not prefix matches); undefined when it has none.
 */
export function priceOf(model: string, overrides?: PriceOverrides): ModelPrice | undefined {
  const id = bareId(model);
  if (overrides && Object.hasOwn(overrides, id)) return overrides[id];
  return Object.hasOwn(PRICES, id) ? PRICES[id] : undefined;
}

type Rates = Required<TokenRates>;

/** Missing cache rates: Anthropic's multipliers; OpenAI has no cache-write class (a write would bill as input). */
const fill = (r: TokenRates, provider: ProviderName | undefined): Rates => ({
  input: r.input,
  output: r.output,
  cacheRead: r.cacheRead ?? r.input * 0.1,
  cacheWrite5m: r.cacheWrite5m ?? (provider === 'openai' ? r.input : r.input * 1.25),
  cacheWrite1h: r.cacheWrite1h ?? (provider === 'openai' ? r.input : r.input * 2),
});

/** Every input-side token of a request (what a long-context threshold is measured on). */
export const promptTokens = (u: Pick<TokenUsage, 'inputTokens' | 'cacheReadTokens' | 'cacheWrite5mTokens' | 'cacheWrite1hTokens'>) =>
  u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens;

const isLong = (p: ModelPrice, prompt: number) => p.longContext !== undefined && prompt > p.longContext.aboveInputTokens;

/** The rates a request of `prompt` input-side tokens bills at. */
function tierOf(p: ModelPrice, prompt: number): Rates {
  return fill(isLong(p, prompt) && p.longContext ? p.longContext : p, p.provider);
}

/** The provider whose price sheet and usage shape apply to `model`: the sheet's, else `claude-*` is Anthropic's, anything else OpenAI's. */
export function providerOfModel(model: string, overrides?: PriceOverrides): ProviderName {
  return priceOf(model, overrides)?.provider ?? (/^claude/i.test(model) ? 'anthropic' : 'openai');
}

/** One request's cost split by token class, USD. `unpricedTools` lists server tools used with no price. */
export interface CostBreakdown {
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  /** Output tokens, reasoning included (reasoning bills at the output rate). */
  output: number;
  /** Per server tool, USD for its uses. */
  serverTools: Record<string, number>;
  unpricedTools: string[];
  /** True when the long-context tier applied. */
  longContext: boolean;
}

const perToken = (usdPerMillion: number) => usdPerMillion / 1_000_000;

/** Cost of `usage` split by class at `price`'s rates. */
export function costBreakdown(price: ModelPrice, usage: TokenUsage): CostBreakdown {
  const prompt = promptTokens(usage);
  const r = tierOf(price, prompt);
  const serverTools: Record<string, number> = {};
  const unpricedTools: string[] = [];
  for (const [tool, uses] of Object.entries(usage.serverToolUses ?? {})) {
    if (!uses) continue;
    const each = price.perUse?.[tool];
    if (each === undefined) unpricedTools.push(tool);
    else serverTools[tool] = uses * each;
  }
  return {
    input: usage.inputTokens * perToken(r.input),
    cacheRead: usage.cacheReadTokens * perToken(r.cacheRead),
    cacheWrite5m: usage.cacheWrite5mTokens * perToken(r.cacheWrite5m),
    cacheWrite1h: usage.cacheWrite1hTokens * perToken(r.cacheWrite1h),
    output: usage.outputTokens * perToken(r.output),
    serverTools,
    unpricedTools,
    longContext: isLong(price, prompt),
  };
}

const usedNothing = (u: TokenUsage) =>
  u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens + u.outputTokens + u.reasoningTokens === 0 &&
  Object.values(u.serverToolUses).every((n) => n === 0);

const sumBreakdown = (b: CostBreakdown) =>
  b.input + b.cacheRead + b.cacheWrite5m + b.cacheWrite1h + b.output + Object.values(b.serverTools).reduce((a, c) => a + c, 0);

/**
 * Prices one request's usage: USD and the ledger's flag. The gateway calls this for every
 * ledger row. `unpriced` (costUsd null) when the model has no price, or when it used a server
 * tool that has none — never $0. A request that used nothing (refused before it was sent, a bad
 * body, an upstream error) is `priced` at $0 whatever its model: nothing was spent, so there is
 * nothing to price. `overrides`: `drover.config.json` `prices`.
 */
export function priceUsage(
  model: string,
  usage: TokenUsage,
  overrides?: PriceOverrides,
): { costUsd: number | null; priceFlag: 'priced' | 'unpriced' } {
  if (usedNothing(usage)) return { costUsd: 0, priceFlag: 'priced' };
  const price = priceOf(model, overrides);
  if (!price) return { costUsd: null, priceFlag: 'unpriced' };
  const b = costBreakdown(price, usage);
  if (b.unpricedTools.length > 0) return { costUsd: null, priceFlag: 'unpriced' };
  return { costUsd: sumBreakdown(b), priceFlag: 'priced' };
}

/**
 * The most a request can cost before it is sent, USD, for cap reservations: `inputTokens`
 * (counted) at the highest input-side rate they could bill at (a 1-hour cache write, of the
 * long-context tier when the prompt is above its threshold) plus `maxTokens` of output at that
 * tier's output rate. Per-use server tools are not included (their count is unknown in advance).
 * Null when the model has no price (a USD cap must refuse it).
 */
export function worstCaseUsd(model: string, inputTokens: number, maxTokens: number, overrides?: PriceOverrides): number | null {
  const price = priceOf(model, overrides);
  if (!price) return null;
  const r = tierOf(price, inputTokens);
  const inputRate = Math.max(r.input, r.cacheRead, r.cacheWrite5m, r.cacheWrite1h);
  return inputTokens * perToken(inputRate) + maxTokens * perToken(r.output);
}

/**
 * Cost of one usage row in USD, or null when the model has no price.
 * @deprecated Use `priceUsage` (it also prices server tools and says why a row is unpriced).
 */
export function costOf(
  u: Pick<UsageRecord, 'model' | 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWrite5mTokens' | 'cacheWrite1hTokens'>,
): number | null {
  return priceUsage(u.model, { ...u, reasoningTokens: 0, serverToolUses: {} }).costUsd;
}
