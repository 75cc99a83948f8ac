/**
 * @module The most a model request can cost, computed before it is sent: what a cap reservation
 * holds. It must be a true upper bound, or a cap could be passed by the difference.
 */
import { priceOf } from './prices.js';

/**
 * Output tokens assumed when a request names no max_tokens (OpenAI requests may omit
 * `max_output_tokens`): the largest output limit of current models (128k, Claude Opus 4.x /
 * GPT-5 family). A client that wants a tighter hold names its own max_tokens.
 */
export const DEFAULT_MAX_OUTPUT_TOKENS = 128_000;

/** Input tokens the provider adds for tool use (its tool-use system prompt; a few hundred tokens), rounded up. */
export const TOOL_PROMPT_ALLOWANCE = 1_024;

/** Anthropic's long-context tier starts above this many input tokens (input ×2, output ×1.5). */
const LONG_CONTEXT_TOKENS = 200_000;

export interface WorstCase {
  model: string;
  /** Upper bound of billed input tokens (uncached + cache reads + cache writes). */
  inputTokens: number;
  /** Most output tokens the request can produce (max_tokens, reasoning included). */
  outputTokens: number;
  /** USD; null when the model has no price. */
  usd: number | null;
}

/** The request fields the bound reads (a subset of GatewayRequest). */
export interface RequestShape {
  model: string;
  /** The exact bytes the client sent. */
  rawBody: Buffer;
  body: Record<string, unknown>;
  maxTokens: number | null;
}

/**
 * Upper bound of a request's input tokens: its body's size in UTF-8 bytes, plus the tool-use
 * allowance when it declares tools. Every token of a byte-level BPE tokenizer (Anthropic's and
 * OpenAI's are) stands for at least one byte of text, and the JSON around each message and
 * tool (`{"role":"user","content":…}`) is longer than the few tokens the provider's chat
 * template adds — so this is ≥ the billed count. drover's own tokenizer (src/gateway/tokens.ts)
 * is not used for the bound: it is another vocabulary and can count fewer tokens than the provider.
 * Not covered: input a server-side tool fetches (web search / fetch results).
 */
export function inputTokenBound(req: Pick<RequestShape, 'rawBody' | 'body'>): number {
  const tools = Array.isArray(req.body.tools) && req.body.tools.length > 0;
  return req.rawBody.length + (tools ? TOOL_PROMPT_ALLOWANCE : 0);
}

/**
 * Worst-case USD of `inputTokens` in and `maxTokens` out: every input token at the highest
 * input-side rate the request can be billed (cache write 1h when it asks for a 1-hour cache,
 * else cache write 5m when it uses `cache_control`, else input), every output token at the
 * output rate, both at the long-context tier once the input may exceed 200k tokens.
 * null when the model is unpriced.
 * TODO(ledger branch): replace with `worstCaseUsd` of src/budget/prices.ts once prices are data.
 */
export function worstCaseUsd(model: string, inputTokens: number, maxTokens: number, cache: 'none' | '5m' | '1h' = 'none'): number | null {
  const p = priceOf(model);
  if (!p) return null;
  let inputRate = p.input;
  if (cache !== 'none') inputRate = Math.max(inputRate, p.cacheWrite5m ?? p.input * 1.25);
  if (cache === '1h') inputRate = Math.max(inputRate, p.cacheWrite1h ?? p.input * 2);
  let outputRate = p.output;
  if (inputTokens > LONG_CONTEXT_TOKENS) {
    inputRate *= 2;
    outputRate *= 1.5;
  }
  return (inputTokens * inputRate + maxTokens * outputRate) / 1_000_000;
}

/** Which cache-write rate a request can be billed at, from its body. */
export function cacheWriteClass(rawBody: Buffer): 'none' | '5m' | '1h' {
  const text = rawBody.toString('utf8');
  if (!text.includes('"cache_control"')) return 'none';
  return /"ttl"\s*:\s*"1h"/.test(text) ? '1h' : '5m';
}

/**
 * The request's worst case: input bound (see inputTokenBound) × the highest input-side rate +
 * max_tokens (DEFAULT_MAX_OUTPUT_TOKENS when absent) × the output rate.
 */
export function worstCaseOf(req: RequestShape): WorstCase {
  const inputTokens = inputTokenBound(req);
  const outputTokens = req.maxTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  return {
    model: req.model,
    inputTokens,
    outputTokens,
    usd: worstCaseUsd(req.model, inputTokens, outputTokens, cacheWriteClass(req.rawBody)),
  };
}
