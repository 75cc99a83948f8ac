import { z } from 'zod';
import type { PlannedMessage } from '../sim-engine.js';
import { agentOf, droverHeader, type HeaderBag, renderForCache, type SimRequest, textOf } from '../sim-request.js';
import { argumentsJson, chunks, sse, type WireAdapter } from './wire.js';

/** Anthropic Messages (`POST /v1/messages`): request normalization, JSON message and SSE event sequence. */

const MessagesBody = z
  .object({
    model: z.string().min(1),
    // Claude Code also sends `role: "system"` entries inside messages; any role string is accepted.
    messages: z.array(z.object({ role: z.string().min(1), content: z.unknown() }).passthrough()).min(1),
    system: z.unknown().optional(),
    tools: z.array(z.object({ name: z.string().optional() }).passthrough()).optional(),
    tool_choice: z.object({ type: z.string().optional(), name: z.string().optional() }).passthrough().optional(),
    max_tokens: z.number().int().positive().optional(),
    stream: z.boolean().optional(),
  })
  .passthrough();
type MessagesBody = z.infer<typeof MessagesBody>;

export function normalizeMessages(body: MessagesBody, headers: HeaderBag): SimRequest {
  const firstAssistant = body.messages.findIndex((m) => m.role === 'assistant');
  const lastAssistant = body.messages.findLastIndex((m) => m.role === 'assistant');
  const userText = (from: number, to: number) =>
    body.messages
      .slice(from, to)
      .filter((m) => m.role === 'user')
      .map((m) => textOf(m.content))
      .join('\n');
  return {
    wire: 'anthropic',
    model: body.model,
    stream: body.stream === true,
    system: textOf(body.system),
    prompt: userText(0, firstAssistant === -1 ? body.messages.length : firstAssistant),
    last: userText(lastAssistant + 1, body.messages.length),
    turnIndex: body.messages.filter((m) => m.role === 'assistant').length,
    tools: (body.tools ?? []).flatMap((t) => (t.name ? [{ name: t.name, kind: 'function' as const }] : [])),
    ...(body.tool_choice?.type === 'tool' && body.tool_choice.name ? { forcedTool: body.tool_choice.name } : {}),
    jsonText: false,
    agent: agentOf(headers, 'anthropic'),
    tag: droverHeader(headers, 'x-drover-call') ?? null,
    // Anthropic's cache order: tools, then system, then messages.
    rendered: [renderForCache(body.tools ?? []), renderForCache(body.system ?? ''), ...body.messages.map(renderForCache)].join('\n'),
  };
}

export const anthropicWire: WireAdapter<MessagesBody> = {
  name: 'anthropic',
  paths: ['/v1/messages'],
  schema: MessagesBody,
  normalize: normalizeMessages,
  json: (m) => messageJson(m),
  events: (m) => messageEvents(m),
  error: (type, message) => errorJson(type, message),
  requestIdHeader: (m) => ({ 'request-id': `req_${m.id}` }),
  responseId: (m) => m.id,
};

export function messageJson(m: PlannedMessage) {
  return {
    id: m.id,
    type: 'message',
    role: 'assistant',
    model: m.model,
    content: m.content,
    stop_reason: m.stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: m.usage.input_tokens,
      output_tokens: m.usage.output_tokens,
      cache_creation_input_tokens: m.usage.cache_creation_input_tokens,
      cache_read_input_tokens: m.usage.cache_read_input_tokens,
    },
  };
}

export function errorJson(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}

export function messageEvents(m: PlannedMessage): string[] {
  const full = messageJson(m);
  const events: string[] = [
    sse('message_start', {
      type: 'message_start',
      message: { ...full, content: [], stop_reason: null, usage: { ...full.usage, output_tokens: 1 } },
    }),
  ];
  m.content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      if (index === 0) events.push(sse('ping', { type: 'ping' }));
      for (const text of chunks(block.text)) {
        events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
      }
    } else {
      events.push(
        sse('content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
        }),
      );
      for (const partial_json of chunks(argumentsJson(block.input))) {
        events.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } }));
      }
    }
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
  });
  events.push(
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: m.stopReason, stop_sequence: null },
      usage: { output_tokens: m.usage.output_tokens },
    }),
  );
  events.push(sse('message_stop', { type: 'message_stop' }));
  return events;
}
