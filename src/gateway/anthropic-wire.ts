import type { PlannedMessage } from './sim-engine.js';

/** Anthropic Messages wire format: the JSON message and its SSE event sequence. */

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

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Splits text into a few deltas so clients exercise their accumulation paths. */
function chunks(text: string, size = 48): string[] {
  if (text.length === 0) return [''];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
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
      for (const partial_json of chunks(JSON.stringify(block.input))) {
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
