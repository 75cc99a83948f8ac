import { beforeAll, describe, expect, it } from 'vitest';
import type { LedgerWire, TokenUsage } from '../src/budget/ledger-types.js';
import { UsageChunkFilter } from '../src/gateway/sources/proxy.js';
import { countTokens, loadTokenCounter } from '../src/gateway/tokens.js';
import { estimateUsage, meterFor, SseSplitter } from '../src/gateway/usage/index.js';

/**
 * Usage meters on real SSE bytes in the providers' documented shapes, fed whole, split at every
 * byte boundary, byte by byte, and with CRLF line ends. Sources of the shapes:
 * Anthropic https://docs.anthropic.com/en/api/messages-streaming (usage, cache_creation, server_tool_use);
 * OpenAI https://platform.openai.com/docs/api-reference/responses-streaming and /chat/streaming.
 */

const sse = (event: string | null, data: unknown) =>
  `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

const ANTHROPIC_STREAM = [
  sse('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-opus-4-1-20250805',
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: 12,
        cache_creation_input_tokens: 3000,
        cache_read_input_tokens: 5000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
        output_tokens: 1,
        service_tier: 'standard',
      },
    },
  }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('ping', { type: 'ping' }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Héllo — wörld ✓' } }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    // Cumulative: repeats the input side (without the 5m/1h split) and adds server tools.
    usage: {
      input_tokens: 12,
      cache_creation_input_tokens: 3000,
      cache_read_input_tokens: 5000,
      output_tokens: 510,
      server_tool_use: { web_search_requests: 2 },
    },
  }),
  sse('message_stop', { type: 'message_stop' }),
].join('');

const ANTHROPIC_EXPECTED: TokenUsage = {
  inputTokens: 12,
  cacheReadTokens: 5000,
  cacheWrite5mTokens: 1000,
  cacheWrite1hTokens: 2000,
  outputTokens: 510,
  reasoningTokens: 0,
  serverToolUses: { web_search_requests: 2 },
};

const RESPONSES_STREAM = [
  sse('response.created', {
    type: 'response.created',
    sequence_number: 0,
    response: { id: 'resp_67ccd2bed1ec8190b14f964abc054267', object: 'response', status: 'in_progress', usage: null },
  }),
  sse('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', delta: 'Hi ' }),
  sse('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', delta: 'there' }),
  sse('response.completed', {
    type: 'response.completed',
    sequence_number: 3,
    response: {
      id: 'resp_67ccd2bed1ec8190b14f964abc054267',
      object: 'response',
      status: 'completed',
      incomplete_details: null,
      usage: {
        input_tokens: 1200,
        input_tokens_details: { cached_tokens: 1024 },
        output_tokens: 300,
        output_tokens_details: { reasoning_tokens: 256 },
        total_tokens: 1500,
      },
    },
  }),
].join('');

const RESPONSES_EXPECTED: TokenUsage = {
  inputTokens: 176,
  cacheReadTokens: 1024,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 300,
  reasoningTokens: 256,
  serverToolUses: {},
};

const chatChunk = (extra: Record<string, unknown>) => ({
  id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
  object: 'chat.completion.chunk',
  created: 1741570283,
  model: 'gpt-4o-2024-08-06',
  ...extra,
});
const CHAT_USAGE = {
  prompt_tokens: 2006,
  completion_tokens: 300,
  total_tokens: 2306,
  prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 64, audio_tokens: 0 },
};
const CHAT_STREAM_PARTS = [
  sse(null, chatChunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null })),
  sse(null, chatChunk({ choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }], usage: null })),
  sse(null, chatChunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null })),
];
const CHAT_USAGE_CHUNK = sse(null, chatChunk({ choices: [], usage: CHAT_USAGE }));
const CHAT_STREAM = [...CHAT_STREAM_PARTS, CHAT_USAGE_CHUNK, sse(null, '[DONE]')].join('');
const CHAT_EXPECTED: TokenUsage = {
  inputTokens: 86,
  cacheReadTokens: 1920,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 300,
  reasoningTokens: 64,
  serverToolUses: {},
};

const CASES: { wire: LedgerWire; stream: string; usage: TokenUsage; requestId: string; stopReason: string }[] = [
  {
    wire: 'anthropic',
    stream: ANTHROPIC_STREAM,
    usage: ANTHROPIC_EXPECTED,
    requestId: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    stopReason: 'end_turn',
  },
  {
    wire: 'responses',
    stream: RESPONSES_STREAM,
    usage: RESPONSES_EXPECTED,
    requestId: 'resp_67ccd2bed1ec8190b14f964abc054267',
    stopReason: 'completed',
  },
  { wire: 'chat', stream: CHAT_STREAM, usage: CHAT_EXPECTED, requestId: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG', stopReason: 'stop' },
];

function meterChunks(wire: LedgerWire, chunks: Uint8Array[], contentType = 'text/event-stream; charset=utf-8') {
  const meter = meterFor(wire, contentType);
  for (const c of chunks) meter.observe(c);
  return meter;
}

/** Every way of cutting the bytes in two, plus byte by byte. */
function splits(bytes: Buffer): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Uint8Array.of(b)));
  return out;
}

beforeAll(() => loadTokenCounter());

describe('usage meters read each wire exactly, at any chunk boundary', () => {
  for (const c of CASES) {
    it(`${c.wire}: streamed usage, id and stop reason, whole and split anywhere (LF and CRLF)`, () => {
      for (const text of [c.stream, c.stream.replace(/\n/g, '\r\n')]) {
        const bytes = Buffer.from(text);
        for (const chunks of [[bytes], ...splits(bytes)]) {
          const result = meterChunks(c.wire, chunks).finish();
          expect(result).toEqual({ usage: c.usage, requestId: c.requestId, stopReason: c.stopReason });
        }
      }
    });
  }

  it('non-streamed JSON bodies of the three wires', () => {
    const anthropic = {
      id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hi' }],
      stop_reason: 'max_tokens',
      usage: { input_tokens: 2095, output_tokens: 503, cache_creation_input_tokens: 40, cache_read_input_tokens: 7 },
    };
    const json = Buffer.from(JSON.stringify(anthropic));
    expect(meterChunks('anthropic', [json.subarray(0, 9), json.subarray(9)], 'application/json').finish()).toEqual({
      usage: {
        inputTokens: 2095,
        cacheReadTokens: 7,
        cacheWrite5mTokens: 40,
        cacheWrite1hTokens: 0,
        outputTokens: 503,
        reasoningTokens: 0,
        serverToolUses: {},
      },
      requestId: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
      stopReason: 'max_tokens',
    });
    const response = {
      id: 'resp_1',
      object: 'response',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      usage: {
        input_tokens: 50,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 9,
        output_tokens_details: { reasoning_tokens: 9 },
      },
    };
    expect(meterChunks('responses', [Buffer.from(JSON.stringify(response))], 'application/json').finish()).toMatchObject({
      usage: { inputTokens: 50, outputTokens: 9, reasoningTokens: 9 },
      requestId: 'resp_1',
      stopReason: 'max_output_tokens',
    });
    const chat = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: 'length' }],
      usage: CHAT_USAGE,
    };
    expect(meterChunks('chat', [Buffer.from(JSON.stringify(chat))], 'application/json').finish()).toEqual({
      usage: CHAT_EXPECTED,
      requestId: 'chatcmpl-1',
      stopReason: 'length',
    });
  });

  it('an error body, a body without usage and an HTML page give no usage', () => {
    const error = Buffer.from(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    expect(meterChunks('anthropic', [error], 'application/json').finish()).toBeNull();
    expect(
      meterChunks('chat', [Buffer.from('{"id":"x","object":"chat.completion","choices":[]}')], 'application/json').finish(),
    ).toBeNull();
    expect(meterChunks('responses', [Buffer.from('<html>bad gateway</html>')], 'text/html').finish()).toBeNull();
  });

  it('Anthropic without a 5m/1h split counts cache_creation_input_tokens as 5-minute writes', () => {
    const stream = ANTHROPIC_STREAM.replace(/,"cache_creation":\{[^}]*\}/, '');
    const result = meterChunks('anthropic', [Buffer.from(stream)]).finish();
    expect(result?.usage).toMatchObject({ cacheWrite5mTokens: 3000, cacheWrite1hTokens: 0 });
  });
});

describe('a stream cut before its usage', () => {
  it('gives no usage; the estimate keeps what the provider reported and counts the rest', () => {
    const cutAt = ANTHROPIC_STREAM.indexOf('event: message_delta');
    const meter = meterChunks('anthropic', [Buffer.from(ANTHROPIC_STREAM.slice(0, cutAt + 5))]);
    expect(meter.finish()).toBeNull();
    const body = { model: 'claude-opus-4-1', messages: [{ role: 'user', content: 'Say hello to the world please' }] };
    const usage = estimateUsage(body, meter.partial());
    // Input side from message_start (exact); output counted from the text received.
    expect(usage).toMatchObject({ inputTokens: 12, cacheReadTokens: 5000, cacheWrite1hTokens: 2000 });
    expect(usage.outputTokens).toBe(countTokens('Héllo — wörld ✓'));
    expect(meter.partial().requestId).toBe('msg_01XFDUDYJgAACzvnptvVoYEL');
  });

  it('OpenAI: input counted from the request, output from the deltas', () => {
    const cutAt = RESPONSES_STREAM.indexOf('event: response.completed');
    const meter = meterChunks('responses', [Buffer.from(RESPONSES_STREAM.slice(0, cutAt))]);
    expect(meter.finish()).toBeNull();
    const body = { model: 'gpt-5', input: 'a prompt of several words' };
    const usage = estimateUsage(body, meter.partial());
    expect(usage.outputTokens).toBe(countTokens('Hi there'));
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.inputTokens).toBe(estimateUsage(body, { requestId: null, stopReason: null, usage: {}, outputText: '' }).inputTokens);
  });
});

describe('the Chat usage chunk the proxy asked for on the client’s behalf', () => {
  it('is removed, every other byte passing unchanged, at any chunk boundary', () => {
    const bytes = Buffer.from(CHAT_STREAM);
    const expected = Buffer.from([...CHAT_STREAM_PARTS, sse(null, '[DONE]')].join(''));
    for (const chunks of [[bytes], ...splits(bytes)]) {
      const filter = new UsageChunkFilter();
      const out = Buffer.concat([...chunks.map((c) => filter.push(c)), filter.end()]);
      expect(out.equals(expected)).toBe(true);
    }
  });

  it('passes comments and a cut tail through', () => {
    const filter = new UsageChunkFilter();
    const out = Buffer.concat([filter.push(Buffer.from(': keep-alive\n\ndata: {"id":"x"')), filter.end()]);
    expect(out.toString()).toBe(': keep-alive\n\ndata: {"id":"x"');
  });
});

describe('SseSplitter', () => {
  it('returns events whose raw bytes add up to the input, with names and joined data lines', () => {
    const text = 'event: a\ndata: 1\ndata: 2\n\n: c\n\ndata: x\r\n\r\nevent: tail\ndata: y';
    const s = new SseSplitter();
    const events = [...Buffer.from(text)].flatMap((b) => s.push(Uint8Array.of(b)));
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['a', '1\n2'],
      [null, ''],
      [null, 'x'],
    ]);
    expect(Buffer.concat([...events.map((e) => e.raw), s.rest()]).toString()).toBe(text);
  });

  it('names an event by its last `event:` field, with or without a space, on \n or \r\n lines', () => {
    const text = 'event: a\nevent: b\ndata: 1\n\nevent:c\r\ndata: 2\r\n\r\nevent: d\n: note\ndata: 3\n\nevent: é\n\ndata: 4\nevent: e\n\n';
    const events = new SseSplitter().push(Buffer.from(text));
    expect(events.map((e) => e.event)).toEqual(['b', 'c', 'd', 'é', 'e']);
    expect(events.map((e) => e.data)).toEqual(['1', '2', '3', '', '4']);
  });
});
