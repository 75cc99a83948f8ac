/**
 * Edge cases found by trying to break the gateway's data plane, the ledger's refusals and store URLs:
 * credentials in an upstream URL, CR-terminated SSE in an estimate, a request that closed before its
 * body was read, the per-call rows of a long call, URL options and timeouts node-postgres ignores,
 * which old 402 rows were drover's refusals, and the run summary's refusedRequests.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../src/budget/ledger-types.js';
import { RequestLog } from '../src/gateway/request-log.js';
import { startGateway } from '../src/gateway/server.js';
import { ProxySource } from '../src/gateway/sources/proxy.js';
import { meterFor } from '../src/gateway/usage/index.js';
import { BodyError, readBody } from '../src/net/index.js';
import { createStore } from '../src/store/index.js';
import { splitSchema } from '../src/store/postgres/db.js';
import { startOtlpReceiver } from '../src/telemetry/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, onCleanup, pgStoreUrl, tempDir, tempStore } from './helpers.js';

async function upstream(onRequest: (headers: IncomingHttpHeaders) => void) {
  const server = createServer((req, res) => {
    if (req.method === 'HEAD') return res.end();
    onRequest(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_1', type: 'message', usage: { input_tokens: 1, output_tokens: 2 } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

describe('proxy: credentials in the upstream URL', () => {
  it('a URL with only a password (http://:token@host) still sends it as Basic auth', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const port = await upstream((h) => seen.push(h));
    const gw = await startGateway({
      mode: 'proxy',
      source: new ProxySource({ anthropic: `http://:s3cret@127.0.0.1:${port}`, env: { ANTHROPIC_API_KEY: 'k' } }),
      onError: () => {},
    });
    onCleanup(() => gw.close());
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 5, messages: [] }),
    });
    expect(res.status).toBe(200);
    // What http.request did with the URL object before (url.urlToHttpOptions: username OR password).
    expect(seen.at(-1)?.authorization).toBe(`Basic ${Buffer.from(':s3cret').toString('base64')}`);
    // Headers go to Node as a flat list (no per-header arrays kept per request): Host is drover's to add.
    expect(seen.at(-1)?.host).toBe(`127.0.0.1:${port}`);
  });
});

describe('proxy: repeated response headers', () => {
  it("are passed on as Node's headers object has them: single-valued ones keep the first, others joined", async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, ['content-type', 'application/json', 'content-type', 'text/html', 'x-note', 'a', 'x-note', 'b']);
      res.end(JSON.stringify({ id: 'msg_1', type: 'message', usage: { input_tokens: 1, output_tokens: 2 } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as AddressInfo).port;
    const gw = await startGateway({ mode: 'proxy', source: new ProxySource({ anthropic: `http://127.0.0.1:${port}` }), onError: () => {} });
    onCleanup(() => gw.close());
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 5, messages: [] }),
    });
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-note')).toBe('a, b');
    // Metered as JSON (the first content type), so the row has the answer's usage.
    await res.text();
    await gw.idle();
    expect(gw.entries().at(-1)).toMatchObject({ inputTokens: 1, outputTokens: 2 });
  });
});

describe('usage meter: deferred deltas re-split for an estimate', () => {
  it('a cut stream with CR line endings counts its last delta too (as before)', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const ev = (name: string, data: unknown) => `event: ${name}${eol}data: ${JSON.stringify(data)}${eol}${eol}`;
      const delta = (text: string) =>
        ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
      const meter = meterFor('anthropic', 'text/event-stream');
      meter.observe(
        Buffer.from(
          `${ev('message_start', { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 9 } } })}${delta('one ')}${delta('two')}event: ping${eol}`,
        ),
      );
      expect(meter.finish()).toBeNull();
      expect({ eol, text: meter.partial().outputText }).toEqual({ eol, text: 'one two' });
    }
  });
});

describe('request body read by events', () => {
  it('a request that closed before its body was read is answered (400), not left pending for ever', async () => {
    let outcome: Promise<unknown> | undefined;
    let closed!: () => void;
    const seen = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const server = createServer((req, res) => {
      // The body is read only once the client is gone (a handler that awaited something first).
      req.once('close', () => {
        outcome = readBody(req, 1024 * 1024).then(
          () => 'resolved',
          (err: unknown) => (err instanceof BodyError ? err.status : err),
        );
        res.destroy();
        closed();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1', () => {
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\naaaa', () => socket.destroy());
    });
    await seen;
    expect(await outcome).toBe(400);
  }, 10_000);
});

describe("the gateway's per-call rows", () => {
  const row = (n: number, callKey: string): LedgerEntry => ({ callKey, requestId: `req-${n}` }) as unknown as LedgerEntry;

  it('past the limit, the calls least recently active go first, not a long call that is still making requests', () => {
    const log = new RequestLog(() => false, { callRows: 4 });
    log.add(row(1, 'long')); // a long agent call's first request
    log.add(row(2, 'short-1'));
    log.add(row(3, 'long')); // ... and it is still going
    log.add(row(4, 'short-2'));
    log.add(row(5, 'long'));
    // 'long' was active last: 'short-1' (idle longest) goes, not all of 'long' between two of its requests.
    expect(log.forCall('long')?.map((r) => r.requestId)).toEqual(['req-1', 'req-3', 'req-5']);
    expect(log.forCall('short-1')).toBeNull();
  });
});

describe('store URL parameters', () => {
  it('?options= on a URL with ?schema= keeps the store in its schema (pg let the URL replace drover options)', async () => {
    const url = pgStoreUrl();
    const { url: server, schema } = splitSchema(url);
    const store = createStore(`${url}&options=${encodeURIComponent('-c statement_timeout=60000')}`);
    onCleanup(() => store.close());
    await store.ledger.listByRun('none');
    await store.close();
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_schema: string }>(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'drover_schema' AND table_schema IN ($1, 'public')",
        [schema],
      );
      expect(rows.map((r) => r.table_schema)).toEqual([schema]);
    } finally {
      await client.end();
    }
  });
});

describe('the run summary (drover run --json)', () => {
  it('carries refusedRequests in usage, as docs/budget.md says', async () => {
    const dir = tempDir();
    const gw = await gateway('rules:\n  - name: any\n    usage: { input_tokens: 1000, output_tokens: 5000 }\n    turns: [{ text: ok }]\n');
    const { store } = tempStore(dir);
    const script = ccScript(dir, `try { await agent('one'); } catch {} return 1;`);
    const s = await runWorkflow({ store, script, runId: 'refused-1', gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, maxUsd: 0.01 });
    expect(s.status).toBe('budget_exceeded');
    expect((await store.usageTotals('refused-1')).refusedRequests).toBe(1);
    expect(s.usage).toMatchObject({ refusedRequests: 1 });
  });
});

describe('store URL parameters the allow-list accepts', () => {
  it('?connect_timeout= (seconds, as libpq) is honoured, not ignored by node-postgres', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = (await import('node:net')).createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onCleanup(() => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const store = createStore(`postgres://u@127.0.0.1:${(silent.address() as AddressInfo).port}/db?connect_timeout=1`);
    onCleanup(() => {
      // Not awaited: before the fix, closing waits for the connection attempt that never ends.
      void store.close().catch(() => {});
    });
    await expect(store.ledger.listByRun('x')).rejects.toMatchObject({ code: 'STORE_UNREACHABLE' });
  }, 20_000);

  it('a password given as ?password= is masked in the refusal of an unknown parameter', () => {
    let message = '';
    try {
      splitSchema('postgres://u@db.internal/drover?password=hunter2&shema=team_a');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('unknown parameter "shema"');
    expect(message).not.toContain('hunter2');
  });
});

describe('store URL parameters node-postgres only reads from socket: URLs', () => {
  it('?db= and ?encoding= on a postgres:// URL are refused (pg ignores them there: ?db=team_a would open the user-named database)', () => {
    for (const name of ['db', 'encoding']) {
      expect(() => splitSchema(`postgres://u@db.internal/?${name}=team_a`)).toThrow(`unknown parameter "${name}"`);
    }
  });
});

/** Sends a chunked body that never ends to `path`; resolves with what came back once the server closed. */
async function endlessBody(port: number, path: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  onCleanup(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  let answer = '';
  socket.on('data', (d) => {
    answer += d;
  });
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
  // 64 KB chunks, for as long as the server reads them (the client never ends the body).
  const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk));
    if (!socket.destroyed) socket.once('drain', pump);
  };
  pump();
  await closed;
  return answer;
}

describe('a body over the limit that never ends', () => {
  it('is answered 413 and its connection closed by the OTLP receiver, not read until the request timeout', async () => {
    const { store } = tempStore();
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, maxBodyBytes: 64 * 1024 });
    onCleanup(() => rx.close());
    const answer = await endlessBody(Number(new URL(rx.url).port), '/v1/traces');
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('and by the gateway (32 MB)', async () => {
    const gw = await gateway('rules:\n  - name: any\n    turns: [{ text: ok }]\n');
    const answer = await endlessBody(Number(new URL(gw.url).port), '/v1/messages');
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('request_too_large');
    expect(answer.toLowerCase()).toContain('connection: close');
  });
});
