import { request } from 'node:http';
import * as zlib from 'node:zlib';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { gateway } from './helpers.js';

const SCENARIO = `
rules:
  - name: codex-only
    match: { agent: '^codex', prompt: 'who' }
    turns: [{ text: 'codex asked' }]
  - name: tools
    match: { prompt: 'fix the file' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'cat a.txt' } }
      - tool_use: { name: apply_patch, input: "*** Begin Patch\\n*** End Patch" }
      - text: 'done after {{prompt}}'
  - name: structured
    match: { prompt: 'classify' }
    turns: [{ json: { kind: bug } }]
  - name: busy
    match: { prompt: 'busy' }
    faults: [{ status: 429, retry_after_s: 0 }]
    turns: [{ text: 'ok' }]
  - name: who
    match: { prompt: 'who' }
    turns: [{ text: 'someone else asked ({{prompt}})' }]
`;

function client(url: string, headers: Record<string, string> = {}) {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'test', maxRetries: 0, defaultHeaders: headers });
}

describe('sim gateway: OpenAI Responses', () => {
  it('answers non-streamed and streamed requests the SDK reads, with usage', async () => {
    const gw = await gateway(SCENARIO);
    const c = client(gw.url);
    const plain = await c.responses.create({ model: 'gpt-5.5', input: 'who are you' });
    expect(plain.output_text).toBe('someone else asked (who are you)');
    expect(plain.usage?.input_tokens).toBeGreaterThan(0);
    const stream = c.responses.stream({ model: 'gpt-5.5', input: 'who are you' });
    const deltas: string[] = [];
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('someone else asked (who are you)');
    expect(deltas.join('')).toBe(final.output_text);
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
  });

  it('scripts multi-turn tool use: function and custom tool calls, results in the next request', async () => {
    const gw = await gateway(SCENARIO);
    const c = client(gw.url);
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'exec_command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } }, strict: false },
      { type: 'custom', name: 'apply_patch' },
    ];
    const input: OpenAI.Responses.ResponseInputItem[] = [{ role: 'user', content: 'fix the file' }];
    const first = await c.responses.stream({ model: 'gpt-5.5', input, tools }).finalResponse();
    const call = first.output[0];
    expect(call?.type).toBe('function_call');
    if (call?.type !== 'function_call') throw new Error('no call');
    expect(JSON.parse(call.arguments)).toEqual({ cmd: 'cat a.txt' });
    input.push(call, { type: 'function_call_output', call_id: call.call_id, output: 'contents' });
    const second = await c.responses.stream({ model: 'gpt-5.5', input, tools }).finalResponse();
    const patch = second.output[0];
    expect(patch?.type).toBe('custom_tool_call');
    if (patch?.type !== 'custom_tool_call') throw new Error('no custom call');
    expect(patch.input).toContain('*** Begin Patch');
    input.push(patch, { type: 'custom_tool_call_output', call_id: patch.call_id, output: 'patched' });
    const third = await c.responses.create({ model: 'gpt-5.5', input, tools });
    expect(third.output_text).toBe('done after fix the file');
    const log = gw.stats().log;
    expect(log.map((l) => [l.wire, l.turn])).toEqual([
      ['responses', 0],
      ['responses', 1],
      ['responses', 2],
    ]);
    expect(log[1]?.last).toBe('contents');
    // Each request extends the previous one, so most of it is a cacheable prefix.
    expect(log[2]?.cacheableTokens).toBeGreaterThan((log[2]?.inputTokens ?? 0) * 0.5);
  });

  it('answers a json turn as JSON text when the request asks for a json_schema format', async () => {
    const gw = await gateway(SCENARIO);
    const res = await client(gw.url).responses.create({
      model: 'gpt-5.5',
      input: 'classify this',
      text: { format: { type: 'json_schema', name: 'r', schema: { type: 'object' }, strict: false } },
    });
    expect(JSON.parse(res.output_text)).toEqual({ kind: 'bug' });
  });

  it('matches on which agent asks and accepts zstd bodies (as Codex sends)', async () => {
    const gw = await gateway(SCENARIO);
    const body = zstdLike(JSON.stringify({ model: 'gpt-5.5', input: 'who is it', stream: false }));
    const status = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${gw.url}/v1/responses`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-encoding': body.encoding, 'user-agent': 'codex_exec/0.169.0' },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body.data);
    });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text).output[0].content[0].text).toBe('codex asked');
    const viaHeader = await client(gw.url, { 'x-drover-agent': 'codex' }).responses.create({ model: 'm', input: 'who' });
    expect(viaHeader.output_text).toBe('codex asked');
  });

  it('refuses a malformed body with 400 naming the field, and a bad zstd body with 400', async () => {
    const gw = await gateway(SCENARIO);
    await expect(client(gw.url).responses.create({ model: 'm' } as never)).rejects.toMatchObject({ status: 400 });
    const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { 'content-encoding': 'zstd' }, body: 'not zstd' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('zstd');
  });
});

describe('sim gateway: OpenAI Chat Completions', () => {
  it('answers streamed and plain completions with tool calls and usage', async () => {
    const gw = await gateway(SCENARIO);
    const c = client(gw.url);
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'exec_command', parameters: { type: 'object' } } },
    ];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'fix the file' }];
    const first = await c.chat.completions.create({ model: 'local', messages, tools });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ cmd: 'cat a.txt' });
    messages.push(first.choices[0]?.message as OpenAI.Chat.ChatCompletionMessageParam, {
      role: 'tool',
      tool_call_id: call?.id ?? '',
      content: 'contents',
    });
    const stream = c.chat.completions.stream({ model: 'local', messages, tools, stream_options: { include_usage: true } });
    const second = await stream.finalChatCompletion();
    // apply_patch is not offered here as a custom tool, so its text input arrives as { input }.
    const patch = second.choices[0]?.message.tool_calls?.[0];
    expect(patch?.type === 'function' && JSON.parse(patch.function.arguments).input).toContain('Begin Patch');
    expect(second.usage?.prompt_tokens).toBeGreaterThan(0);
    const busy = c.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'busy' }] });
    await expect(busy).rejects.toMatchObject({ status: 429 });
  });
});

/** zstd is in Node's zlib from 22.15; on Node 20 the test builds a raw zstd frame by hand. */
function zstdLike(text: string): { data: Buffer; encoding: string } {
  const compress = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
  if (typeof compress === 'function') return { data: compress(Buffer.from(text)), encoding: 'zstd' };
  return { data: ZSTD_FRAME(text), encoding: 'zstd' };
}

/** A raw zstd frame with one uncompressed block: valid zstd that any decoder must read. */
function ZSTD_FRAME(text: string): Buffer {
  const content = Buffer.from(text);
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
  // Frame header: descriptor with single-segment flag and 4-byte content size.
  const fhd = Buffer.from([0b1010_0000]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(content.length);
  // Block header: last block, raw type, 21-bit size.
  const header = (content.length << 3) | 1;
  const block = Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]);
  return Buffer.concat([magic, fhd, size, block, content]);
}
