/**
 * @module Usage of Anthropic Messages answers: `message_start` carries the message id and the
 * input side (input_tokens excludes cache reads and writes), each `message_delta` carries the
 * cumulative usage so far (the last one is final); a non-streamed answer has `usage` on the message.
 * Shapes: https://docs.anthropic.com/en/api/messages-streaming and /en/api/messages (usage object).
 */
import { anthropicUsage } from '../../budget/provider-usage.js';
import { BaseMeter, merge, record, str } from './meter.js';
import type { SseEvent } from './sse.js';

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

export { anthropicUsage };
