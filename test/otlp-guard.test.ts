// The OTLP receiver checks Origin and Host like drover's other servers (issue 10 §6): a web page
// open on the machine, or a rebound DNS name, gets 403 and nothing reaches the store; both the
// HTTP and the gRPC receiver listen on 127.0.0.1.
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startOtlpReceiver } from '../src/telemetry/index.js';
import { cli, lastJson, onCleanup, tempDir, tempStore } from './helpers.js';

const BODY = JSON.stringify({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              name: 'op',
              kind: 2,
              startTimeUnixNano: '1795331806483000000',
              endTimeUnixNano: '1795331806484000000',
            },
          ],
        },
      ],
    },
  ],
});

/** A POST with any headers (fetch cannot set Host). */
function post(url: string, headers: Record<string, string>, body = BODY): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/traces`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the OTLP receiver refuses other sites and foreign Host names', () => {
  it('403 for a foreign Origin (also a "simple" text/plain POST) or Host, and nothing is stored; its own origin is served', async () => {
    const { store } = tempStore();
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0 });
    onCleanup(() => rx.close());
    for (const headers of <Record<string, string>[]>[
      { 'content-type': 'application/json', origin: 'http://evil.example' },
      { 'content-type': 'text/plain', origin: 'http://evil.example' },
      { 'content-type': 'application/json', origin: 'null' },
      { 'content-type': 'application/json', host: `evil.example:${rx.port}` },
      { 'content-type': 'application/json', host: `127.0.0.1:${rx.port + 1}` },
    ]) {
      const r = await post(rx.url, headers);
      expect({ headers, status: r.status }).toEqual({ headers, status: 403 });
      expect(r.text).toMatch(/OTLP receiver: (origin .* may not call this server|host .* is not this server)/);
    }
    expect(await store.spans.querySpans({})).toEqual([]);
    expect(rx.stats()).toMatchObject({ spans: 0, refused: 5 });
    for (const headers of <Record<string, string>[]>[
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', origin: rx.url },
      { 'content-type': 'application/json', host: `localhost:${rx.port}` },
    ]) {
      expect((await post(rx.url, headers)).status).toBe(200);
    }
    expect((await store.spans.querySpans({})).map((s) => s.name)).toEqual(['op']);
  });

  it('HTTP and gRPC listen on 127.0.0.1 by default', async () => {
    const { store } = tempStore();
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, grpcPort: 0 });
    onCleanup(() => rx.close());
    expect(rx.url).toBe(`http://127.0.0.1:${rx.port}`);
    expect(rx.grpcUrl).toBe(`http://127.0.0.1:${rx.grpcPort}`);
  });

  it('drover trace collect: a foreign origin stores nothing', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: `${dir}/drover.db` };
    // The command posts to the receiver drover hands it, once with a foreign Origin and once as a client would.
    const script = `
      const url = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      const body = ${JSON.stringify(BODY)};
      const evil = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'http://evil.example' }, body });
      const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      console.log(evil.status, ok.status);`;
    const r = await cli(['trace', 'collect', '--json', '--', process.execPath, '--input-type=module', '-e', script], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('403 200');
    expect(lastJson(r.stdout)).toMatchObject({ spans: 1 });
  });
});
