/**
 * @module Usage of OpenAI Responses answers: the final `response.completed` (or
 * `response.incomplete` / `response.failed`) event's `response.usage`; a non-streamed answer is
 * the response object itself. `input_tokens` includes the cached tokens
 * (`input_tokens_details.cached_tokens`); `output_tokens` includes
 * `output_tokens_details.reasoning_tokens`. Shapes: https://platform.openai.com/docs/api-reference/responses
 */
import type { TokenUsage } from '../../budget/ledger-types.js';
import { openAiUsage } from '../../budget/provider-usage.js';
import { BaseMeter, record, str } from './meter.js';
import type { SseEvent } from './sse.js';

function responsesUsage(u: Record<string, unknown>): TokenUsage {
  return openAiUsage(
    u.input_tokens,
    record(u.input_tokens_details)?.cached_tokens,
    u.output_tokens,
    record(u.output_tokens_details)?.reasoning_tokens,
  );
}

const DELTAS = new Set([
  'response.output_text.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_summary_text.delta',
  'response.reasoning_text.delta',
  'response.refusal.delta',
]);

export class ResponsesMeter extends BaseMeter {
  protected override canDefer(e: SseEvent): boolean {
    return e.event !== null && DELTAS.has(e.event);
  }

  protected onEvent(_e: SseEvent, json: Record<string, unknown> | undefined): void {
    if (!json) return;
    const type = str(json.type) ?? '';
    if (DELTAS.has(type)) {
      const delta = str(json.delta);
      if (delta) this.outputText += delta;
      return;
    }
    const response = record(json.response);
    if (!response) return;
    this.requestId = str(response.id) ?? this.requestId;
    if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') this.take(response);
  }

  protected onJson(body: Record<string, unknown>): void {
    if (body.object !== 'response') return;
    this.requestId = str(body.id);
    this.take(body);
  }

  private take(response: Record<string, unknown>): void {
    this.stopReason = str(record(response.incomplete_details)?.reason) ?? str(response.status);
    const usage = record(response.usage);
    if (!usage) return;
    this.usage = responsesUsage(usage);
    this.final = true;
  }
}

export { openAiUsage };
