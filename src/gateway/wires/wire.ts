import type { z } from 'zod';
import type { PlannedMessage } from '../sim-engine.js';
import type { HeaderBag, SimRequest, WireName } from '../sim-request.js';

/** One wire API the sim gateway speaks: how to read its requests and write its answers. */
export interface WireAdapter<Body> {
  readonly name: WireName;
  readonly paths: readonly string[];
  readonly schema: z.ZodType<Body>;
  normalize(body: Body, headers: HeaderBag): SimRequest;
  json(message: PlannedMessage, req: SimRequest): unknown;
  /** The SSE stream, one string per event, ready to write. */
  events(message: PlannedMessage, req: SimRequest): string[];
  error(type: string, message: string, status: number): unknown;
  requestIdHeader(message: PlannedMessage): Record<string, string>;
  /** The id the client sees for this answer (message id, response id, completion id). */
  responseId(message: PlannedMessage): string;
}

export function sse(event: string | null, data: unknown): string {
  const payload = typeof data === 'string' ? data : JSON.stringify(data);
  return event === null ? `data: ${payload}\n\n` : `event: ${event}\ndata: ${payload}\n\n`;
}

/** Splits text into a few deltas so clients exercise their accumulation paths. */
export function chunks(text: string, size = 48): string[] {
  if (text.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** A tool call's JSON arguments; free-form (custom-tool) text goes to a function tool as `{ input }`. */
export function argumentsJson(input: Record<string, unknown> | string): string {
  return JSON.stringify(typeof input === 'string' ? { input } : input);
}

/** Plain usage numbers in the OpenAI shape: input includes cached tokens. */
export function openAiUsage(m: PlannedMessage) {
  const cached = m.usage.cache_read_input_tokens;
  const input = m.usage.input_tokens + cached + m.usage.cache_creation_input_tokens;
  return { input, cached, output: m.usage.output_tokens };
}
