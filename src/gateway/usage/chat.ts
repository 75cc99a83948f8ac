/**
 * @module Usage of OpenAI Chat Completions answers: the last chunk of a stream, with
 * `choices: []` and `usage`, sent when the request has `stream_options.include_usage` (the proxy
 * adds it); a non-streamed answer has `usage` on the completion. `prompt_tokens` includes
 * `prompt_tokens_details.cached_tokens`; `completion_tokens` includes
 * `completion_tokens_details.reasoning_tokens`. Shapes: https://platform.openai.com/docs/api-reference/chat/streaming
 */

import { openAiUsage } from '../../budget/provider-usage.js';
import { BaseMeter, record, str } from './meter.js';
import type { SseEvent } from './sse.js';

function chatUsage(u: Record<string, unknown>) {
  return openAiUsage(
    u.prompt_tokens,
    record(u.prompt_tokens_details)?.cached_tokens,
    u.completion_tokens,
    record(u.completion_tokens_details)?.reasoning_tokens,
  );
}

/** True for the usage-only chunk that ends a stream with `include_usage` (no choices, a usage object). */
export function isUsageChunk(json: Record<string, unknown> | undefined): boolean {
  return !!json && Array.isArray(json.choices) && json.choices.length === 0 && !!record(json.usage);
}

/** A chunk that may end the answer: a finish reason or a usage object. */
const MAY_END = /"finish_reason"\s*:\s*"|"usage"\s*:\s*\{/;

export class ChatMeter extends BaseMeter {
  /** Chat chunks have no event names: once the id is known, a chunk that cannot end the answer is a delta. */
  protected override canDefer(e: SseEvent): boolean {
    return this.requestId !== null && e.data.startsWith('{') && !MAY_END.test(e.data);
  }

  protected onEvent(_e: SseEvent, json: Record<string, unknown> | undefined): void {
    if (!json) return;
    this.requestId = str(json.id) ?? this.requestId;
    for (const choice of Array.isArray(json.choices) ? json.choices : []) {
      const c = record(choice);
      const delta = record(c?.delta);
      const content = str(delta?.content) ?? str(delta?.reasoning_content);
      if (content) this.outputText += content;
      for (const call of Array.isArray(delta?.tool_calls) ? delta.tool_calls : []) {
        const args = str(record(record(call)?.function)?.arguments);
        if (args) this.outputText += args;
      }
      this.stopReason = str(c?.finish_reason) ?? this.stopReason;
    }
    const usage = record(json.usage);
    if (usage) {
      this.usage = chatUsage(usage);
      this.final = true;
    }
  }

  protected onJson(body: Record<string, unknown>): void {
    if (body.object !== 'chat.completion') return;
    this.requestId = str(body.id);
    const first = record(Array.isArray(body.choices) ? body.choices[0] : undefined);
    this.stopReason = str(first?.finish_reason);
    const usage = record(body.usage);
    if (!usage) return;
    this.usage = chatUsage(usage);
    this.final = true;
  }
}
