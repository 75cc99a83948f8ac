/**
 * @module The providers' usage objects in the ledger's token classes — one mapping per provider
 * shape, used by the gateway's meters, the builtin agent's providers and the Claude Code
 * backend alike, so no two readers of the same object can disagree.
 * Shapes: Anthropic https://docs.anthropic.com/en/api/messages (usage object);
 * OpenAI https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
 * and /chat/object#chat/object-usage.
 */
import type { TokenUsage } from './ledger-types.js';

/** A non-negative integer field, else undefined. */
export function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined;
}

/** A plain object field, else undefined. */
export function record(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * Anthropic's `usage` object in the ledger's classes; only the classes it names (a streamed
 * `message_delta` may name only `output_tokens`). `input_tokens` excludes cache reads and writes.
 * Cache writes: the `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`
 * split when given, else `cache_creation_input_tokens` counted as 5-minute writes (the default TTL).
 * `server_tool_use` counts (e.g. `web_search_requests`) are copied as they are.
 */
export function anthropicUsage(u: Record<string, unknown>): Partial<TokenUsage> {
  const out: Partial<TokenUsage> = {};
  const set = (key: keyof TokenUsage, v: number | undefined) => {
    if (v !== undefined) (out as Record<string, unknown>)[key] = v;
  };
  set('inputTokens', count(u.input_tokens));
  set('cacheReadTokens', count(u.cache_read_input_tokens));
  set('outputTokens', count(u.output_tokens));
  const split = record(u.cache_creation);
  if (split && (count(split.ephemeral_5m_input_tokens) !== undefined || count(split.ephemeral_1h_input_tokens) !== undefined)) {
    out.cacheWrite5mTokens = count(split.ephemeral_5m_input_tokens) ?? 0;
    out.cacheWrite1hTokens = count(split.ephemeral_1h_input_tokens) ?? 0;
  } else if (count(u.cache_creation_input_tokens) !== undefined) {
    out.cacheWrite5mTokens = count(u.cache_creation_input_tokens) as number;
    out.cacheWrite1hTokens = 0;
  }
  const tools = record(u.server_tool_use);
  if (tools) {
    const uses: Record<string, number> = {};
    for (const [k, v] of Object.entries(tools)) {
      const n = count(v);
      if (n !== undefined && n > 0) uses[k] = n;
    }
    out.serverToolUses = uses;
  }
  return out;
}

/**
 * OpenAI's usage (Responses or Chat Completions names) in the ledger's classes. Its input count
 * includes the cached tokens, so uncached input = input − cached; output includes reasoning.
 */
export function openAiUsage(input: unknown, cached: unknown, output: unknown, reasoning: unknown): TokenUsage {
  const total = count(input) ?? 0;
  const hit = Math.min(count(cached) ?? 0, total);
  return {
    inputTokens: total - hit,
    cacheReadTokens: hit,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: count(output) ?? 0,
    reasoningTokens: count(reasoning) ?? 0,
    serverToolUses: {},
  };
}
