import { describe, expect, it } from 'vitest';
import { usageOf } from '../src/agents/builtin/providers/anthropic.js';
import { StreamJsonReader } from '../src/agents/claude-code/stream-json.js';
import { meterFor } from '../src/gateway/usage/index.js';

const sse = (events: [string | null, unknown][]) =>
  Buffer.from(events.map(([name, data]) => `${name ? `event: ${name}\n` : ''}data: ${JSON.stringify(data)}\n\n`).join(''));

/** Feeds bytes in awkward pieces (mid-line, mid-UTF-8) as a network would. */
function feed(meter: ReturnType<typeof meterFor>, bytes: Buffer, size = 7): void {
  for (let i = 0; i < bytes.length; i += size) meter.observe(bytes.subarray(i, i + size));
}

describe('usage meters: deltas are parsed only when an estimate needs them', () => {
  it('anthropic: a finished stream reports usage; a cut one still counts every delta received', () => {
    const start: [string, unknown] = ['message_start', { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 9 } } }];
    const deltas: [string, unknown][] = ['héllo ', 'wörld', '{"a":1}'].map((t, i) => [
      'content_block_delta',
      {
        type: 'content_block_delta',
        index: 0,
        delta: i === 2 ? { type: 'input_json_delta', partial_json: t } : { type: 'text_delta', text: t },
      },
    ]);
    const end: [string, unknown] = [
      'message_delta',
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } },
    ];
    const done = meterFor('anthropic', 'text/event-stream');
    feed(done, sse([start, ['ping', { type: 'ping' }], ...deltas, end]));
    expect(done.finish()).toMatchObject({ requestId: 'msg_1', stopReason: 'end_turn', usage: { inputTokens: 9, outputTokens: 4 } });
    const cut = meterFor('anthropic', 'text/event-stream');
    feed(cut, sse([start, ...deltas]));
    expect(cut.finish()).toBeNull();
    const seen = cut.partial();
    expect(seen).toMatchObject({ requestId: 'msg_1', usage: { inputTokens: 9 }, outputText: 'héllo wörld{"a":1}' });
    expect(cut.partial().outputText).toBe('héllo wörld{"a":1}'); // asked twice: the same answer
  });

  it('responses: deltas of every kind are counted on a cut; the final event gives usage', () => {
    const created: [string, unknown] = ['response.created', { type: 'response.created', response: { id: 'resp_1' } }];
    const deltas: [string, unknown][] = [
      ['response.output_text.delta', { type: 'response.output_text.delta', delta: 'abc' }],
      ['response.function_call_arguments.delta', { type: 'response.function_call_arguments.delta', delta: '{"x":2}' }],
    ];
    const cut = meterFor('responses', 'text/event-stream');
    feed(cut, sse([created, ...deltas]));
    expect(cut.finish()).toBeNull();
    expect(cut.partial()).toMatchObject({ requestId: 'resp_1', outputText: 'abc{"x":2}' });
    const done = meterFor('responses', 'text/event-stream');
    const completed: [string, unknown] = [
      'response.completed',
      { type: 'response.completed', response: { id: 'resp_1', status: 'completed', usage: { input_tokens: 10, output_tokens: 3 } } },
    ];
    feed(done, sse([created, ...deltas, completed]));
    expect(done.finish()).toMatchObject({ requestId: 'resp_1', usage: { inputTokens: 10, outputTokens: 3 } });
  });

  it('chat: chunks without names are deferred only when they cannot end the answer', () => {
    const chunk = (delta: unknown, extra: Record<string, unknown> = {}) =>
      [null, { id: 'chatcmpl-1', choices: [{ index: 0, delta, finish_reason: null }], ...extra }] as [null, unknown];
    const body = [chunk({ content: 'one ' }), chunk({ content: 'two' }), chunk({ tool_calls: [{ function: { arguments: '{}' } }] })];
    const finish: [null, unknown] = [null, { id: 'chatcmpl-1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }];
    const usage: [null, unknown] = [null, { id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 7, completion_tokens: 2 } }];
    const done = meterFor('chat', 'text/event-stream');
    feed(done, sse([...body, finish, usage]));
    expect(done.finish()).toMatchObject({ requestId: 'chatcmpl-1', stopReason: 'stop', usage: { inputTokens: 7, outputTokens: 2 } });
    const cut = meterFor('chat', 'text/event-stream');
    feed(cut, sse([...body, finish]));
    expect(cut.finish()).toBeNull();
    expect(cut.partial()).toMatchObject({ requestId: 'chatcmpl-1', stopReason: 'stop', outputText: 'one two{}' });
  });
});

describe('one mapping of an Anthropic usage object for every reader', () => {
  it('the gateway meter, the builtin agent and the Claude Code reader agree, 1-hour cache writes apart', () => {
    const usage = {
      input_tokens: 12,
      output_tokens: 34,
      cache_read_input_tokens: 500,
      cache_creation_input_tokens: 300,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
    };
    const message = {
      id: 'msg_u',
      type: 'message',
      model: 'claude-sonnet-5',
      role: 'assistant',
      content: [],
      stop_reason: 'end_turn',
      usage,
    };
    const expected = { inputTokens: 12, outputTokens: 34, cacheReadTokens: 500, cacheWrite5mTokens: 100, cacheWrite1hTokens: 200 };
    const meter = meterFor('anthropic', 'application/json');
    meter.observe(Buffer.from(JSON.stringify(message)));
    expect(meter.finish()?.usage).toMatchObject(expected);
    expect(usageOf(message as unknown as Parameters<typeof usageOf>[0])).toMatchObject(expected);
    const reader = new StreamJsonReader();
    reader.read({ type: 'assistant', message });
    expect(reader.reportedUsage()).toEqual([expect.objectContaining({ requestId: 'msg_u', ...expected })]);
  });
});
