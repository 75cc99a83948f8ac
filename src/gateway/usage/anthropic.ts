/**
 * @module Usage of Anthropic Messages answers: `message_start` carries the message id and the
 * input side (input_tokens excludes cache reads and writes), each `message_delta` carries the
 * cumulative usage so far (the last one is final); a non-streamed answer has `usage` on the message.
 * Shapes: https://docs.anthropic.com/en/api/messages-streaming and /en/api/messages (usage object).
 */
import type { TokenUsage } from '../../budget/ledger-types.js';
import { BaseMeter, count, merge, record, str } from './meter.js';
import type { SseEvent } from './sse.js';

/**
 * Anthropic's `usage` object in the ledger's classes. Cache writes: the
 * `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` split when given,
 * else `cache_creation_input_tokens` counted as 5-minute writes (the default TTL).
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

export class AnthropicMeter extends BaseMeter {
  protected override canDefer(e: SseEvent): boolean {
    return e.event === 'content_block_delta' || e.event === 'ping';
  }

  protected onEvent(_e: SseEvent, json: Record<string, unknown> | undefined): void {
    if (!json) return;
    switch (json.type) {
      case 'message_start': {
        const message = record(json.message);
        this.requestId = str(message?.id) ?? this.requestId;
        const usage = record(message?.usage);
        if (usage) merge(this.usage, anthropicUsage(usage));
        return;
      }
      case 'content_block_delta': {
        const delta = record(json.delta);
        const text = str(delta?.text) ?? str(delta?.partial_json) ?? str(delta?.thinking);
        if (text) this.outputText += text;
        return;
      }
      case 'message_delta': {
        const usage = record(json.usage);
        if (usage) {
          const next = anthropicUsage(usage);
          // A delta that repeats the cache-write total without the split keeps message_start's split.
          const known = (this.usage.cacheWrite5mTokens ?? 0) + (this.usage.cacheWrite1hTokens ?? 0);
          if (!record(usage.cache_creation) && this.usage.cacheWrite5mTokens !== undefined && next.cacheWrite5mTokens === known) {
            delete next.cacheWrite5mTokens;
            delete next.cacheWrite1hTokens;
          }
          merge(this.usage, next);
          this.final = this.usage.outputTokens !== undefined;
        }
        this.stopReason = str(record(json.delta)?.stop_reason) ?? this.stopReason;
        return;
      }
    }
  }

  protected onJson(body: Record<string, unknown>): void {
    if (body.type !== 'message') return;
    this.requestId = str(body.id);
    this.stopReason = str(body.stop_reason);
    const usage = record(body.usage);
    if (!usage) return;
    merge(this.usage, anthropicUsage(usage));
    this.final = true;
  }
}
