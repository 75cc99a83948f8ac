/** @module One usage meter per wire API, and the estimate for answers that never reported usage. */
import type { LedgerWire, TokenUsage } from '../../budget/ledger-types.js';
import { renderForCache } from '../sim-request.js';
import { countTokens } from '../tokens.js';
import { AnthropicMeter } from './anthropic.js';
import { ChatMeter } from './chat.js';
import type { PartialUsage, WireMeter } from './meter.js';
import { fullUsage } from './meter.js';
import { ResponsesMeter } from './responses.js';

export { anthropicUsage } from './anthropic.js';
export { isUsageChunk } from './chat.js';
export type { MeteredUsage, PartialUsage, WireMeter } from './meter.js';
export { openAiUsage } from './responses.js';
export { type SseEvent, SseSplitter } from './sse.js';

const METERS: Record<LedgerWire, new (contentType: string) => WireMeter> = {
  anthropic: AnthropicMeter,
  responses: ResponsesMeter,
  chat: ChatMeter,
};

/** A meter for an answer on `wire` whose Content-Type is `contentType` (SSE or JSON). */
export function meterFor(wire: LedgerWire, contentType: string): WireMeter {
  return new METERS[wire](contentType);
}

/** The request's prompt as a tokenizer sees it: tools, system / instructions, then messages / input. */
function requestText(body: Record<string, unknown>): string {
  return [body.tools, body.system, body.instructions, body.messages, body.input]
    .filter((v) => v !== undefined && v !== null)
    .map((v) => (typeof v === 'string' ? v : renderForCache(v)))
    .join('\n');
}

/**
 * Usage of an answer that ended before the provider reported it (a cut stream): classes the
 * provider did report are kept (Anthropic's input side from `message_start`); the rest are
 * counted with drover's tokenizer (src/gateway/tokens.ts, an open BPE: close to, not equal to,
 * the provider's count) — input from the request's prompt, output from the deltas received.
 * The token counter must be loaded (`loadTokenCounter`).
 */
export function estimateUsage(body: Record<string, unknown>, seen: PartialUsage): TokenUsage {
  const counted = countTokens(seen.outputText);
  const reportedInput =
    seen.usage.inputTokens !== undefined || seen.usage.cacheReadTokens !== undefined || seen.usage.cacheWrite5mTokens !== undefined;
  const usage = fullUsage(seen.usage);
  usage.inputTokens = reportedInput ? (seen.usage.inputTokens ?? 0) : countTokens(requestText(body));
  usage.outputTokens = Math.max(counted, seen.usage.outputTokens ?? 0);
  return usage;
}
