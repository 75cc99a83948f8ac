/**
 * @module The most a model request can cost, computed before it is sent: what a cap reservation
 * holds. It must be a true upper bound, or a cap could be passed by the difference.
 */
import { type PriceOverrides, worstCaseUsd } from './prices.js';

/**
 * Output tokens assumed when a request names no max_tokens (OpenAI requests may omit
 * `max_output_tokens`): the largest output limit of current models (128k, Claude Opus 4.x /
 * GPT-5 family). A client that wants a tighter hold names its own max_tokens.
 */
export const DEFAULT_MAX_OUTPUT_TOKENS = 128_000;

/** Input tokens the provider adds for tool use (its tool-use system prompt; a few hundred tokens), rounded up. */
export const TOOL_PROMPT_ALLOWANCE = 1_024;

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
 * The request's worst case: input bound (see inputTokenBound) × the highest input-side rate the
 * model can bill (a 1-hour cache write, at the long-context tier when the bound is above its
 * threshold) + max_tokens (DEFAULT_MAX_OUTPUT_TOKENS when absent) × that tier's output rate —
 * `worstCaseUsd` of the price sheet (src/budget/prices.ts), with the config's `prices` overrides.
 */
export function worstCaseOf(req: RequestShape, prices?: PriceOverrides): WorstCase {
  const inputTokens = inputTokenBound(req);
  const outputTokens = req.maxTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  return { model: req.model, inputTokens, outputTokens, usd: worstCaseUsd(req.model, inputTokens, outputTokens, prices) };
}
