import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { BudgetExceededError } from '../src/budget/caps-types.js';
import type { LedgerEntry } from '../src/budget/ledger-types.js';
import { storeIdentity } from '../src/gateway/identity.js';
import { withRateLimits } from '../src/gateway/rate-limit/with-rate-limits.js';
import { type Gateway, type GatewayOptions, startGateway } from '../src/gateway/server.js';
import { ProxySource } from '../src/gateway/sources/proxy.js';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { cli, gateway, onCleanup, spawnCli, tempDir, tempStore, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: held
    match: { prompt: 'hold me' }
    hold: first-bytes
    hold_after_events: 2
    usage: { input_tokens: 21, output_tokens: 8 }
    turns: [{ text: 'an answer that waits for the gate before its end' }]
  - name: cut
    match: { prompt: 'cut me' }
    faults: [{ cut_after_events: 4 }]
    turns: [{ text: 'a long answer that will be cut in the middle of its stream, long enough to span several deltas of text' }]
  - name: overloaded
    match: { prompt: 'overloaded' }
    faults: [{ status: 529 }]
    turns: [{ text: recovered }]
  - name: fixed
    match: { prompt: '.' }
    usage: { input_tokens: 120, output_tokens: 30, cache_read_input_tokens: 40, cache_creation_input_tokens: 10 }
    turns: [{ text: 'the answer is {{prompt}}' }]
`;

const PLANTED_KEY = 'sk-ant-planted-0123456789abcdefSECRET';
const CLIENT_KEY = 'sk-client-own-key-9876543210zyxwvu';

async function proxyChain(
  extra: Partial<GatewayOptions> = {},
  env: Record<string, string> = { ANTHROPIC_API_KEY: PLANTED_KEY, OPENAI_API_KEY: PLANTED_KEY },
) {
  const sim = await gateway(SCENARIO);
  const dir = tempDir();
  const { store, path } = tempStore(dir);
  const gw = await startGateway({
    mode: 'proxy',
    source: new ProxySource({ anthropic: sim.url, openai: `${sim.url}/v1`, env }),
    ledger: store.ledger,
    storeId: storeIdentity(store),
    ...extra,
  });
  onCleanup(() => gw.close());
  return { sim, gw, store, path };
}

async function rows(gw: Gateway, store: Store, runId: string): Promise<LedgerEntry[]> {
  await gw.idle();
  return store.ledger.listByRun(runId);
}

const anthropic = (url: string, headers: Record<string, string> = {}, apiKey = 'drover') =>
  new Anthropic({ baseURL: url, apiKey, maxRetries: 0, defaultHeaders: headers });
const openai = (url: string, headers: Record<string, string> = {}, apiKey = 'drover') =>
  new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, defaultHeaders: headers });

const RUN = { 'x-drover-run': 'run-1', 'x-drover-call': 'call-a', 'x-drover-label': 'fix the “login” bug', 'x-drover-phase': 'build' };
const encoded = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, encodeURIComponent(v)]));

describe('proxy mode: the official SDKs through the gateway to an upstream', () => {
  it('Anthropic Messages streamed: the SDK gets the message; one exact ledger row, attributed by headers', async () => {
    const { sim, gw, store } = await proxyChain();
    const stream = anthropic(gw.url, encoded(RUN)).messages.stream({
      model: 'claude-opus-4-1',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'ping' }],
    });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const message = await stream.finalMessage();
    expect(message.content).toEqual([{ type: 'text', text: 'the answer is ping' }]);
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    const served = sim.stats().log.at(-1);
    expect(served?.requestId).toBe(message.id);
    const [row, ...more] = await rows(gw, store, 'run-1');
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      runId: 'run-1',
      callKey: 'call-a',
      agentLabel: 'fix the “login” bug',
      phase: 'build',
      session: null,
      provider: 'anthropic',
      wire: 'anthropic',
      mode: 'proxy',
      model: 'claude-opus-4-1',
      requestId: message.id,
      status: 200,
      stopReason: 'end_turn',
      inputTokens: 120,
      cacheReadTokens: 40,
      cacheWrite5mTokens: 10,
      cacheWrite1hTokens: 0,
      outputTokens: 30,
      reasoningTokens: 0,
      priceFlag: 'priced',
    });
    // Priced from the provider's usage: 120 in + 30 out + 40 read + 10 5m-writes at the model's rates.
    expect(row?.costUsd).toBeGreaterThan(0);
    expect(row?.ttfbMs).not.toBeNull();
    // The sim upstream is itself a drover gateway (it answers with x-drover-gateway): attribution is forwarded to it.
    expect(served?.tag).toBe('call-a');
  });

  it('OpenAI Responses streamed and not: usage with cached input split out', async () => {
    const { gw, store } = await proxyChain();
    const client = openai(`${gw.url}/r/run-2/c/call-b`);
    const streamed = await client.responses.stream({ model: 'gpt-5', input: 'alpha' }).finalResponse();
    expect(streamed.output_text).toBe('the answer is alpha');
    const plain = await client.responses.create({ model: 'gpt-5', input: 'beta' });
    expect(plain.output_text).toBe('the answer is beta');
    const got = await rows(gw, store, 'run-2');
    // The sim's OpenAI usage: input = 120 + 40 cached + 10 written; cached 40 → uncached 130.
    const expected = {
      runId: 'run-2',
      callKey: 'call-b',
      wire: 'responses',
      provider: 'openai',
      status: 200,
      inputTokens: 130,
      cacheReadTokens: 40,
      cacheWrite5mTokens: 0,
      outputTokens: 30,
    };
    expect(got).toMatchObject([
      { ...expected, requestId: streamed.id },
      { ...expected, requestId: plain.id },
    ]);
  });

  it('Chat Completions streamed without include_usage: the client gets no usage chunk, the ledger gets the usage', async () => {
    const { gw, store } = await proxyChain({ runId: 'run-3' });
    const client = openai(gw.url);
    const stream = await client.chat.completions.create({ model: 'gpt-5', stream: true, messages: [{ role: 'user', content: 'gamma' }] });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('the answer is gamma');
    expect(chunks.some((c) => c.choices.length === 0 || (c as { usage?: unknown }).usage)).toBe(false);
    // Asked for: the client still gets the usage chunk.
    const asked = await client.chat.completions.create({
      model: 'gpt-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'delta' }],
    });
    const withUsage = [];
    for await (const c of asked) withUsage.push(c);
    expect(withUsage.at(-1)?.usage?.prompt_tokens).toBe(170);
    const got = await rows(gw, store, 'run-3');
    expect(got.map((r) => [r.wire, r.status, r.inputTokens, r.cacheReadTokens, r.outputTokens, r.callKey])).toEqual([
      ['chat', 200, 130, 40, 30, null],
      ['chat', 200, 130, 40, 30, null],
    ]);
  });

  it('forwards the first bytes while the upstream is still held (time to first byte is not buffered away)', async () => {
    const { sim, gw, store } = await proxyChain({ runId: 'run-ttfb' });
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hold me' }] }),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while (!seen.includes('event: content_block_start')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString();
    }
    // The upstream has sent its first events and now waits at the gate: the client already has them.
    expect(seen).toContain('event: message_start');
    expect(seen).not.toContain('message_stop');
    expect(sim.stats().log).toHaveLength(0);
    sim.gates.open('first-bytes');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString();
    }
    expect(seen).toContain('event: message_stop');
    const [row] = await rows(gw, store, 'run-ttfb');
    expect(row).toMatchObject({ status: 200, inputTokens: 21, outputTokens: 8, priceFlag: 'priced' });
    expect(row?.ttfbMs).toBeLessThanOrEqual((row?.endedAt ?? 0) - (row?.startedAt ?? 0));
  });

  it('a client that hangs up mid-stream: the upstream request is dropped, both gateways write a 499 row, the slot is free', async () => {
    const sim = await gateway(SCENARIO);
    const { store } = tempStore();
    const source = withRateLimits(new ProxySource({ anthropic: sim.url, env: {} }));
    const gw = await startGateway({ mode: 'proxy', source, ledger: store.ledger, runId: 'run-hangup' });
    onCleanup(() => gw.close());
    const hangUp = new AbortController();
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hold me' }] }),
      signal: hangUp.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while (!seen.includes('event: content_block_start')) seen += Buffer.from((await reader.read()).value ?? []).toString();
    // The upstream waits at its gate (never opened): the client leaves mid-answer.
    expect(source.snapshot()[0]?.inFlight).toBe(1);
    hangUp.abort();
    await gw.idle();
    const [row] = await store.ledger.listByRun('run-hangup');
    expect(row).toMatchObject({ status: 499 });
    expect(source.snapshot()[0]?.inFlight).toBe(0);
    // The proxy dropped its upstream request: the sim saw its client go too.
    await vi.waitFor(() => expect(sim.entries().map((e) => e.status)).toEqual([499]), { timeout: 30_000 });
  });

  it('a stream cut before its usage is recorded as estimated, with the tokens counted', async () => {
    const { gw, store } = await proxyChain({ runId: 'run-cut' });
    const err = await anthropic(gw.url)
      .messages.stream({ model: 'claude-opus-4-1', max_tokens: 100, messages: [{ role: 'user', content: 'cut me' }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const [row] = await rows(gw, store, 'run-cut');
    expect(row).toMatchObject({ status: 0, priceFlag: 'estimated', stopReason: null });
    // message_start came through (the sim counts input itself); the output is counted from the deltas received.
    expect(row?.inputTokens).toBeGreaterThan(0);
    expect(row?.outputTokens).toBeGreaterThan(0);
    expect(row?.costUsd).toBeGreaterThan(0);
  });

  it('upstream errors pass through in their own shape and leave a 0-token row', async () => {
    const { gw, store } = await proxyChain({ runId: 'run-err' });
    const err = (await anthropic(gw.url)
      .messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'overloaded' }] })
      .catch((e: unknown) => e)) as { status: number; error: { error: { type: string } } };
    expect(err.status).toBe(529);
    expect(err.error.error.type).toBe('overloaded_error');
    const [row] = await rows(gw, store, 'run-err');
    expect(row).toMatchObject({ status: 529, inputTokens: 0, outputTokens: 0, costUsd: 0, priceFlag: 'priced' });
  });
});

describe('attribution', () => {
  it('headers, path prefix, client session, else unattributed', async () => {
    const { gw } = await proxyChain();
    const ask = (c: Anthropic, content: string) =>
      c.messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content }] });
    await ask(anthropic(gw.url, { 'x-drover-run': 'r-h', 'x-drover-call': 'c-h', 'x-drover-workflow': 'wf' }), 'one');
    await ask(anthropic(`${gw.url}/r/r-p/c/c-p`), 'two');
    await ask(anthropic(`${gw.url}/r/r-only`), 'three');
    await ask(anthropic(gw.url, { 'x-claude-code-session-id': 'sess-1' }), 'four');
    await ask(anthropic(gw.url), 'five');
    await gw.idle();
    expect(gw.entries().map((e) => [e.runId, e.callKey, e.workflow, e.session])).toEqual([
      ['r-h', 'c-h', 'wf', null],
      ['r-p', 'c-p', null, null],
      ['r-only', null, null, null],
      [null, null, null, 'sess-1'],
      [null, null, null, null],
    ]);
  });

  it('an in-process gateway attributes requests that name no run to its run', async () => {
    const { gw, store } = await proxyChain({ runId: 'the-run' });
    await anthropic(gw.url, { 'x-drover-call': 'k1' }).messages.create({
      model: 'm',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect((await rows(gw, store, 'the-run')).map((r) => r.callKey)).toEqual(['k1']);
  });
});

/** An upstream that records what it was sent and answers with fixed bytes, written in the given pieces. */
async function rawUpstream(pieces: string[], contentType = 'text/event-stream') {
  const seen: { url: string; headers: IncomingHttpHeaders; body: string; port: number | undefined }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen.push({ url: req.url ?? '', headers: req.headers, body, port: req.socket.remotePort });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': contentType, 'request-id': 'req_raw' });
    for (const p of pieces) res.write(p);
    res.end();
  });
  /** Connections the upstream accepted, each with a promise of its close. */
  const connections: Promise<void>[] = [];
  server.on('connection', (socket) => connections.push(new Promise((r) => socket.once('close', () => r()))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, connections, server };
}

const CHAT_PIECES = [
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null}\n\n',
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\ndata: {"id":"chatcmpl-1","object":"chat.com',
  'pletion.chunk","created":1,"model":"gpt-5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n',
  'data: [DONE]\n\n',
];

describe('what the provider sees and what the client gets', () => {
  it('bytes pass unchanged; keys: the client’s own, else drover’s env; x-drover-* never reach a provider', async () => {
    const anthropicBytes = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_raw","type":"message","role":"assistant","content":[],"model":"claude-opus-4-1","usage":{"input_tokens":7,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hé',
      'llo"}}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    ];
    const up = await rawUpstream(anthropicBytes);
    const { store } = tempStore();
    const gw = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: up.url, env: { ANTHROPIC_API_KEY: PLANTED_KEY } }),
      ledger: store.ledger,
      storeId: storeIdentity(store),
    });
    onCleanup(() => gw.close());
    const body = JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 9, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const send = (headers: Record<string, string>) =>
      fetch(`${gw.url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const placeholder = await send({ 'x-api-key': 'drover-sim', 'x-drover-run': 'rk', 'x-drover-call': 'ck' });
    expect(await placeholder.text()).toBe(anthropicBytes.join(''));
    const own = await send({ 'x-api-key': CLIENT_KEY, 'x-drover-run': 'rk' });
    expect(await own.text()).toBe(anthropicBytes.join(''));
    const posts = up.seen.filter((s) => s.url.startsWith('/v1/messages'));
    expect(posts.map((s) => s.url)).toEqual(['/v1/messages?beta=true', '/v1/messages?beta=true']);
    expect(posts.map((s) => s.headers['x-api-key'])).toEqual([PLANTED_KEY, CLIENT_KEY]);
    expect(posts.every((s) => s.body === body)).toBe(true);
    expect(posts.flatMap((s) => Object.keys(s.headers).filter((h) => h.startsWith('x-drover')))).toEqual([]);
    await gw.idle();
    const got = await store.ledger.listByRun('rk');
    expect(got.map((r) => [r.callKey, r.requestId, r.inputTokens, r.outputTokens])).toEqual([
      ['ck', 'msg_raw', 7, 3],
      [null, 'msg_raw', 7, 3],
    ]);
  });

  it('keeps one upstream connection for requests in a row (no new handshake per request) and closes it with the gateway', async () => {
    const up = await rawUpstream(['event: message_stop\ndata: {"type":"message_stop"}\n\n']);
    // No idle timeout on either side: only the gateway's close can end the connection.
    up.server.keepAliveTimeout = 0;
    const gw = await startGateway({ mode: 'proxy', source: new ProxySource({ anthropic: up.url, env: {}, idleConnectionMs: 0 }) });
    const body = JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 9, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(up.seen.map((s) => s.url)).toEqual(['/', '/v1/messages', '/v1/messages', '/v1/messages']);
    // The three requests share one connection (the `HEAD /` probe may still hold its own when the first is sent).
    expect(new Set(up.seen.slice(1).map((s) => s.port)).size).toBe(1);
    await gw.close();
    await Promise.all(up.connections);
  });

  it('Chat: asks the provider for include_usage and drops only that chunk from the client’s bytes', async () => {
    const up = await rawUpstream(CHAT_PIECES);
    const gw = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ openai: up.url, env: { OPENAI_API_KEY: PLANTED_KEY } }),
      runId: 'rc',
    });
    onCleanup(() => gw.close());
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ model: 'gpt-5', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    const all = CHAT_PIECES.join('');
    const usageChunk = all.slice(
      all.indexOf('data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[],'),
      all.indexOf('data: [DONE]'),
    );
    expect(text).toBe(all.replace(usageChunk, ''));
    const post = up.seen.find((s) => s.url === '/v1/chat/completions');
    expect(JSON.parse(post?.body ?? '{}').stream_options).toEqual({ include_usage: true });
    expect(post?.headers.authorization).toBe(`Bearer ${CLIENT_KEY}`);
    await gw.idle();
    expect(gw.entries().map((e) => [e.inputTokens, e.outputTokens, e.priceFlag])).toEqual([[9, 2, 'priced']]);
  });

  it('an unreachable upstream is a 502 in the wire’s shape and a row', async () => {
    const gw = await startGateway({ mode: 'proxy', source: new ProxySource({ openai: 'http://127.0.0.1:1' }), runId: 'r502' });
    onCleanup(() => gw.close());
    const err = (await openai(gw.url)
      .responses.create({ model: 'gpt-5', input: 'x' })
      .catch((e: unknown) => e)) as { status: number; error: { type: string; message: string } };
    expect(err.status).toBe(502);
    expect(err.error.message).toMatch(/^drover gateway: could not reach openai at http:\/\/127\.0\.0\.1:1 \(/);
    await gw.idle();
    expect(gw.entries().map((e) => [e.status, e.outputTokens])).toEqual([[502, 0]]);
  });
});

describe('caps and policy refuse before anything is sent', () => {
  it('a BudgetExceededError becomes a 402 budget_exceeded in each wire’s shape and a 0-token row', async () => {
    const cap = { scope: 'run' as const, key: 'r-cap', limitUsd: 1 };
    const reservations = {
      reserve: async () => {
        throw new BudgetExceededError(cap, { usd: 1.2, tokens: 0 }, 'run cap 1 USD reached: 1.20 USD spent');
      },
    };
    const { sim, gw, store } = await proxyChain({ reservations, runId: 'r-cap' });
    const a = (await anthropic(gw.url)
      .messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as { status: number; error: { error: { type: string; message: string } } };
    expect(a.status).toBe(402);
    expect(a.error.error).toEqual({ type: 'budget_exceeded', message: 'run cap 1 USD reached: 1.20 USD spent' });
    const o = (await openai(gw.url)
      .responses.create({ model: 'gpt-5', input: 'x' })
      .catch((e: unknown) => e)) as { status: number; error: { type: string; message: string } };
    expect(o.status).toBe(402);
    expect(o.error).toMatchObject({ type: 'budget_exceeded', message: 'run cap 1 USD reached: 1.20 USD spent' });
    expect(sim.stats().requests).toBe(0);
    expect((await rows(gw, store, 'r-cap')).map((r) => [r.status, r.inputTokens, r.outputTokens, r.costUsd, r.refusedBy])).toEqual([
      [402, 0, 0, 0, 'budget'],
      [402, 0, 0, 0, 'budget'],
    ]);
  });

  it('the policy hook refuses with a 403; a hold is settled with the real row', async () => {
    const settled: LedgerEntry[] = [];
    const reservations = { reserve: async () => ({ settle: async (e: LedgerEntry) => void settled.push(e) }) };
    const policy = { check: async (r: { model: string }) => (r.model === 'forbidden' ? 'model forbidden by policy' : null) };
    const { gw } = await proxyChain({ reservations, policy, runId: 'r-pol' });
    const err = (await anthropic(gw.url)
      .messages.create({ model: 'forbidden', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as { status: number };
    expect(err.status).toBe(403);
    await anthropic(gw.url).messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    await gw.idle();
    expect(settled.map((e) => [e.status, e.outputTokens])).toEqual([[200, 30]]);
    expect(gw.entries().map((e) => [e.status, e.refusedBy])).toEqual([
      [403, 'policy'],
      [200, null],
    ]);
  });
});

describe('two drover gateways in a chain', () => {
  it('sharing one store: one ledger row per request, written by the upstream gateway with the forwarded attribution', async () => {
    const sim = await gateway(SCENARIO);
    const { store, path } = tempStore();
    const id = storeIdentity(store);
    const upstream = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: sim.url, openai: sim.url }),
      ledger: store.ledger,
      storeId: id,
    });
    onCleanup(() => upstream.close());
    const inProcess = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: upstream.url, openai: upstream.url }),
      ledger: store.ledger,
      storeId: storeIdentity({ kind: 'sqlite', location: path }),
      runId: 'chain-run',
    });
    onCleanup(() => inProcess.close());
    await anthropic(inProcess.url, { 'x-drover-call': 'c1', 'x-drover-label': 'one' }).messages.create({
      model: 'claude-opus-4-1',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    await openai(inProcess.url, { 'x-drover-call': 'c2' }).responses.create({ model: 'gpt-5', input: 'y' });
    await inProcess.idle();
    await upstream.idle();
    const got = await store.ledger.listByRun('chain-run');
    expect(got.map((r) => [r.callKey, r.agentLabel, r.wire, r.outputTokens])).toEqual([
      ['c1', 'one', 'anthropic', 30],
      ['c2', null, 'responses', 30],
    ]);
    // The in-process gateway still knows the usage (for the call's report) but wrote nothing.
    expect(inProcess.entries()).toHaveLength(2);
    expect(upstream.entries()).toHaveLength(2);
  });

  it('on different stores: each store gets its own row', async () => {
    const sim = await gateway(SCENARIO);
    const a = tempStore();
    const b = tempStore();
    const upstream = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: sim.url }),
      ledger: b.store.ledger,
      storeId: storeIdentity(b.store),
    });
    onCleanup(() => upstream.close());
    const front = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: upstream.url }),
      ledger: a.store.ledger,
      storeId: storeIdentity(a.store),
      runId: 'rr',
    });
    onCleanup(() => front.close());
    await anthropic(front.url).messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    await front.idle();
    await upstream.idle();
    expect(await a.store.ledger.listByRun('rr')).toHaveLength(1);
    expect(await b.store.ledger.listByRun('rr')).toHaveLength(1);
  });
});

describe('secrets', () => {
  it('a planted key (client header and env) never reaches the store file', async () => {
    const { gw, store, path } = await proxyChain({ runId: 'r-keys' }, { ANTHROPIC_API_KEY: PLANTED_KEY, OPENAI_API_KEY: PLANTED_KEY });
    await anthropic(gw.url, {}, CLIENT_KEY).messages.create({
      model: 'claude-opus-4-1',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    await anthropic(gw.url).messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'y' }] });
    await openai(gw.url).chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'z' }] });
    expect(await rows(gw, store, 'r-keys')).toHaveLength(3);
    await store.close();
    const bytes = Buffer.concat(
      [path, `${path}-wal`].flatMap((p) => {
        try {
          return [readFileSync(p)];
        } catch {
          return [];
        }
      }),
    );
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from('r-keys'))).toBe(true);
    for (const key of [PLANTED_KEY, CLIENT_KEY]) expect(bytes.includes(Buffer.from(key))).toBe(false);
  });
});

describe('drover gateway --mode proxy (a process of its own)', () => {
  it('meters into the store named by --store, and says what a refused mode or URL is', async () => {
    const sim = await gateway(SCENARIO);
    const dir = tempDir();
    const storePath = join(dir, 'team.db');
    const child = spawnCli(['gateway', '--mode', 'proxy', '--upstream-anthropic', sim.url, '--port', '0', '--json', '--store', storePath]);
    onCleanup(() => child.kill('SIGKILL'));
    const started = await new Promise<{ url: string; mode: string; storeId: string }>((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0] as string));
      });
      child.done.then((r) => reject(new Error(`gateway exited: ${r.stderr}`)));
    });
    expect(started.mode).toBe('proxy');
    const message = await anthropic(started.url, { 'x-drover-run': 'cli-run' }).messages.create({
      model: 'claude-opus-4-1',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    child.kill('SIGTERM');
    expect((await child.done).code).toBe(0);
    const store = createStore(storePath);
    onCleanup(() => store.close());
    expect(storeIdentity(store)).toBe(started.storeId);
    expect((await store.ledger.listByRun('cli-run')).map((r) => [r.requestId, r.mode, r.outputTokens])).toEqual([
      [message.id, 'proxy', 30],
    ]);

    const record = await cli(['gateway', '--mode', 'record', '--store', join(dir, 'x.db')]);
    expect(record.code).toBe(2);
    expect(record.stderr).toMatch(/--cassettes <dir> is required with --mode record/);
    const badMode = await cli(['gateway', '--mode', 'mirror']);
    expect(badMode.code).toBe(2);
    const badUrl = await cli(['gateway', '--mode', 'proxy', '--upstream-openai', 'ftp://x', '--store', join(dir, 'y.db')]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/--upstream-openai: "ftp:\/\/x" is not an http\(s\) URL \(example: https:\/\/api\.openai\.com\)/);
    const route = await cli([
      'gateway',
      '--mode',
      'proxy',
      '--upstream-anthropic',
      'http://127.0.0.1:9/v1/messages',
      '--store',
      join(dir, 'y.db'),
    ]);
    expect(route.code).toBe(2);
    expect(route.stderr).toContain('names an API route (/v1/messages); give the base URL without it');
    // Options another mode reads are refused, not ignored; a port past 65535 is named.
    const stray = await cli(['gateway', '--mode', 'proxy', '--scenario', 'x.yaml', '--store', join(dir, 'z.db')]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--scenario is for --mode sim \(this is --mode proxy\)/);
    const strayTapes = await cli(['gateway', '--mode', 'sim', '--cassettes', 'tapes', '--store', join(dir, 'z.db')]);
    expect(strayTapes.stderr).toMatch(/--cassettes is for --mode record or replay/);
    const port = await cli(['gateway', '--mode', 'proxy', '--port', '99999']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--port must be a whole number from 0 to 65535/);
  });
});

describe('daily caps are money', () => {
  it('a sim gateway is not held to the store’s daily cap; a proxy’s billed requests are, and sim rows do not use it up', async () => {
    const dir = tempDir();
    const storePath = join(dir, 'team.db');
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    // 0.001 USD a day: less than one claude-opus-4-1 request of the `fixed` rule (120 in, 30 out).
    write(dir, 'drover.config.json', JSON.stringify({ budget: { dailyUsd: 0.001 } }));
    const start = async (args: string[]) => {
      const child = spawnCli(['gateway', ...args, '--port', '0', '--json', '--store', storePath], { cwd: dir });
      onCleanup(() => child.kill('SIGKILL'));
      return new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout?.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve((JSON.parse(buf.split('\n')[0] as string) as { url: string }).url);
        });
        child.done.then((r) => reject(new Error(`gateway exited: ${r.stderr}`)));
      });
    };
    const simUrl = await start(['--mode', 'sim', '--scenario', scenario]);
    const ask = (url: string) =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 30, messages: [{ role: 'user', content: 'x' }] }),
      });
    for (let i = 0; i < 3; i++) expect((await ask(simUrl)).status).toBe(200);
    // The proxy's first request fits (the sim rows count for nothing), and is refused only once billed spend is past the cap.
    const proxyUrl = await start(['--mode', 'proxy', '--upstream-anthropic', 'http://127.0.0.1:9']);
    const refused = await ask(proxyUrl);
    expect(refused.status).toBe(402);
    expect(await refused.text()).toContain('0 USD spent');
  });
});

describe('drover gateway --mode record, then --mode replay (processes)', () => {
  async function serve(args: string[]) {
    const child = spawnCli(['gateway', ...args, '--port', '0', '--json']);
    onCleanup(() => child.kill('SIGKILL'));
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0] as string).url);
      });
      child.done.then((r) => reject(new Error(`gateway exited: ${r.stderr}`)));
    });
    return {
      url,
      stop: async () => {
        child.kill('SIGTERM');
        return (await child.done).code;
      },
    };
  }

  it('records through the upstream and replays the same stream with no upstream; both metered into the ledger', async () => {
    const sim = await gateway(SCENARIO);
    const dir = tempDir();
    const storePath = join(dir, 'cas.db');
    const cassettes = join(dir, 'cassettes');
    const ask = async (url: string) => {
      const res = await fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-drover-run': 'cas-run' },
        body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 9, stream: true, messages: [{ role: 'user', content: 'tape' }] }),
      });
      return { status: res.status, text: await res.text() };
    };
    const rec = await serve(['--mode', 'record', '--cassettes', cassettes, '--upstream-anthropic', sim.url, '--store', storePath]);
    const recorded = await ask(rec.url);
    expect(recorded.status).toBe(200);
    expect(await rec.stop()).toBe(0);
    await sim.close();
    const rep = await serve(['--mode', 'replay', '--cassettes', cassettes, '--store', storePath]);
    const replayed = await ask(rep.url);
    expect(replayed).toEqual(recorded);
    expect(await rep.stop()).toBe(0);
    const store = createStore(storePath);
    onCleanup(() => store.close());
    expect((await store.ledger.listByRun('cas-run')).map((r) => [r.mode, r.status, r.inputTokens, r.outputTokens])).toEqual([
      ['record', 200, 120, 30],
      ['replay', 200, 120, 30],
    ]);
  });
});
