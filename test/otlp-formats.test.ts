import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { collectTraces, startOtlpReceiver } from '../src/telemetry/index.js';
import { cli, lastJson, ROOT, tempDir, tempStore, write } from './helpers.js';
import { toProtobuf } from './otlp-reference.js';

type Obj = Record<string, unknown>;

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const span = (id: string, over: Obj = {}): Obj => ({
  traceId: TRACE,
  spanId: id,
  name: `op ${id.slice(-1)}`,
  kind: 2,
  startTimeUnixNano: '1795331806483000000',
  endTimeUnixNano: '1795331806484000000',
  ...over,
});
const request1 = (spans: Obj[]): Obj => ({
  resourceSpans: [
    { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ scope: { name: 's' }, spans }] },
  ],
});
const NO_ERRORS = 'assertions:\n  - name: no error spans\n    select: { status: error }\n    expect: { count: "= 0" }\n';

async function receiver() {
  const { store } = tempStore();
  const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0 });
  const post = (body: string | Buffer, type = 'application/json') =>
    fetch(`${rx.url}/v1/traces`, { method: 'POST', headers: { 'content-type': type }, body });
  return { store, rx, post };
}

describe('formats real tools write: read, or refused loudly', () => {
  it('JSON Lines (the Collector file exporter): trace import reads every line, assert --file judges them all', async () => {
    const dir = tempDir();
    const lines = [
      JSON.stringify(request1([span('b7ad6b7169203331')])),
      JSON.stringify(request1([span('b7ad6b7169203332', { parentSpanId: 'b7ad6b7169203331', status: { code: 2, message: 'boom' } })])),
      '',
    ];
    const file = write(dir, 'traces.json', lines.join('\n'));
    const env = { DROVER_STORE: join(dir, 's.db') };
    const imported = await cli(['trace', 'import', file, '--json'], { env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(lastJson(imported.stdout)).toEqual({ spans: 2, traces: [TRACE] });
    const spec = write(dir, 'spec.yaml', NO_ERRORS);
    const judged = await cli(['assert', spec, '--file', file], { env });
    expect(judged.code, judged.stdout + judged.stderr).toBe(1);
    // A broken line is named by its number.
    const bad = write(dir, 'bad.json', `${lines[0]}\n{"resourceSpans": [\n`);
    const r = await cli(['trace', 'import', bad], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.json:2: not valid JSON/);
  });

  it('a file whose attribute value nests 100,000 levels deep is refused as bad input (exit 2 naming the file), as the receiver refuses the body', async () => {
    const dir = tempDir();
    // Built as text: JSON.stringify of such a value overflows the stack here too.
    const value = `${'{"arrayValue":{"values":['.repeat(100_000)}{"stringValue":"x"}${']}}'.repeat(100_000)}`;
    const text = JSON.stringify(request1([span('b7ad6b7169203331', { attributes: [{ key: 'k', value: '@' }] })])).replace('"@"', value);
    const file = write(dir, 'deep.json', text);
    const env = { DROVER_STORE: join(dir, 's.db') };
    for (const args of [
      ['trace', 'import', file],
      ['assert', write(dir, 'spec.yaml', NO_ERRORS), '--file', file],
    ]) {
      const r = await cli(args, { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/deep\.json: body is malformed: Maximum call stack size exceeded/);
      expect(r.stderr).not.toMatch(/internal error/);
    }
    const { post, rx } = await receiver();
    expect((await post(text)).status).toBe(400);
    await rx.close();
  });

  it('snake_case names and the old instrumentationLibrarySpans are read (HTTP and files); enums by name too', async () => {
    const snake = {
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'legacy' } }] },
          scope_spans: [
            {
              scope: { name: 'old' },
              spans: [
                {
                  trace_id: TRACE,
                  span_id: 'b7ad6b7169203331',
                  parent_span_id: '',
                  name: 'charge',
                  kind: 'SPAN_KIND_SERVER',
                  start_time_unix_nano: '1795331806483000000',
                  end_time_unix_nano: '1795331806484000000',
                  attributes: [{ key: 'retries', value: { int_value: '-3' } }],
                  status: { code: 'STATUS_CODE_ERROR', message: 'declined' },
                },
              ],
            },
          ],
        },
      ],
    };
    const legacy = {
      resourceSpans: [
        {
          resource: { attributes: [] },
          instrumentationLibrarySpans: [
            { instrumentationLibrary: { name: 'lib', version: '0.9' }, spans: [span('b7ad6b7169203332', { status: { code: 2 } })] },
          ],
        },
      ],
    };
    const { store, rx, post } = await receiver();
    expect((await post(JSON.stringify(snake))).status).toBe(200);
    expect((await post(JSON.stringify(legacy))).status).toBe(200);
    // The same over protobuf: ResourceSpans field 1000.
    // A sender in transition writes the same spans to both lists: read once, from scopeSpans.
    const both = {
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [{ scope: { name: 'new' }, spans: [span('b7ad6b7169203334')] }],
          instrumentationLibrarySpans: [{ instrumentationLibrary: { name: 'old' }, spans: [span('b7ad6b7169203334')] }],
        },
      ],
    };
    expect((await post(JSON.stringify(both))).status).toBe(200);
    const legacyPb = encodeLegacyProtobuf('b7ad6b7169203333');
    expect((await post(legacyPb, 'application/x-protobuf')).status).toBe(200);
    await rx.close();
    const spans = await store.spans.querySpans({ traceId: TRACE });
    const byId = Object.fromEntries(spans.map((s) => [s.spanId, s]));
    expect(byId.b7ad6b7169203331).toMatchObject({
      name: 'charge',
      kind: 2,
      statusCode: 2,
      statusMessage: 'declined',
      service: 'legacy',
      attributes: { retries: -3 },
    });
    expect(byId.b7ad6b7169203332).toMatchObject({ statusCode: 2, scope: 'lib', origin: { scopeVersion: '0.9' } });
    expect(byId.b7ad6b7169203333).toMatchObject({ name: 'legacy-pb', scope: 'oldlib' });
    expect(spans.filter((x) => x.spanId === 'b7ad6b7169203334').map((x) => x.scope)).toEqual(['new']);

    const dir = tempDir();
    const spec = write(dir, 'spec.yaml', NO_ERRORS);
    for (const body of [snake, legacy]) {
      const file = write(dir, 't.json', JSON.stringify(body));
      const judged = await cli(['assert', spec, '--file', file], { env: { DROVER_STORE: join(dir, 's.db') } });
      expect(judged.code, judged.stdout + judged.stderr).toBe(1);
    }
  });

  it('a body that gives no span but is not an empty request is refused (HTTP 400, import exit 2), never "0 spans"', async () => {
    const { rx, post } = await receiver();
    const wrong = [
      { resourceSpanz: [{ scopeSpans: [{ spans: [span('b7ad6b7169203331')] }] }] },
      { resourceSpans: [{ scopeSpanz: [{ spans: [span('b7ad6b7169203331')] }] }] },
      { resourceSpans: [{ scopeSpans: [{ spanz: [span('b7ad6b7169203331')] }] }] },
      { resourceMetrics: [{ scopeMetrics: [] }] },
    ];
    for (const body of wrong) {
      const res = await post(JSON.stringify(body));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(
        /no spans: .*(resourceSpanz|scopeSpanz|spanz|resourceMetrics) is not an OTLP trace field/,
      );
    }
    // An empty request is still fine.
    expect((await post(JSON.stringify({ resourceSpans: [] }))).status).toBe(200);
    await rx.close();
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db') };
    for (const [name, text, re] of [
      ['wrong.json', JSON.stringify(wrong[1]), /scopeSpanz is not an OTLP trace field/],
      ['empty.json', JSON.stringify({ resourceSpans: [] }), /no spans in it/],
    ] as const) {
      const r = await cli(['trace', 'import', write(dir, name, text)], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });

  it('a missing start time and an end before the start are stored as they came and flagged', async () => {
    const { store, rx, post } = await receiver();
    const body = request1([
      span('b7ad6b7169203331', { startTimeUnixNano: undefined }),
      span('b7ad6b7169203332', { startTimeUnixNano: '1795331806484000000', endTimeUnixNano: '1795331806483000000' }),
      span('b7ad6b7169203333'),
    ]);
    expect((await post(JSON.stringify(body))).status).toBe(200);
    await rx.close();
    const byId = Object.fromEntries((await store.spans.querySpans({ traceId: TRACE })).map((s) => [s.spanId, s]));
    expect(byId.b7ad6b7169203331).toMatchObject({ startUs: 0, endUs: 1795331806484000, anomalies: ['start_time_missing'] });
    expect(byId.b7ad6b7169203332).toMatchObject({ startUs: 1795331806484000, endUs: 1795331806483000, anomalies: ['end_before_start'] });
    expect(byId.b7ad6b7169203333?.anomalies).toBeUndefined();
  });

  it('trace import and trace show warn about spans stored with anomalies', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db') };
    const body = request1([
      span('b7ad6b7169203331', { startTimeUnixNano: undefined }),
      span('b7ad6b7169203332', { startTimeUnixNano: '1795331806484000000', endTimeUnixNano: '1795331806483000000' }),
    ]);
    const imported = await cli(['trace', 'import', write(dir, 't.json', JSON.stringify(body))], { env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain('warning: 1 span without a start time (stored as 0)');
    expect(imported.stderr).toContain('warning: 1 span with an end before the start (kept as sent)');
    const shown = await cli(['trace', 'show', TRACE], { env });
    expect(shown.stderr).toContain('warning: 1 span without a start time');
  });

  it('over protobuf too: a span without a start time is stored and flagged, not refused', async () => {
    const { store, rx, post } = await receiver();
    const pb = toProtobuf({
      resourceSpans: [
        {
          resource: { attributes: [] },
          scopeSpans: [
            {
              scope: { name: 's' },
              spans: [
                {
                  traceId: Buffer.from(TRACE, 'hex'),
                  spanId: Buffer.from('b7ad6b7169203331', 'hex'),
                  name: 'x',
                  endTimeUnixNano: '1795331806484000000',
                },
              ],
            },
          ],
        },
      ],
    });
    expect((await post(pb, 'application/x-protobuf')).status).toBe(200);
    await rx.close();
    const [s] = await store.spans.querySpans({ traceId: TRACE });
    expect(s).toMatchObject({ name: 'x', startUs: 0, anomalies: ['start_time_missing'] });
  });

  it('two different spans under one span id: import keeps both and warns, trace show warns, export writes both', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db') };
    const file = write(
      dir,
      'dup.json',
      JSON.stringify(
        request1([span('b7ad6b7169203331', { name: 'charge', status: { code: 2 } }), span('b7ad6b7169203331', { name: 'receipt' })]),
      ),
    );
    const imported = await cli(['trace', 'import', file], { env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(
      /warning: 1 span id is used by more than one span: b7ad6b7169203331 \(2 spans, trace 0af7651916cd43dd8448eb211c80319c\)/,
    );
    const shown = await cli(['trace', 'show', TRACE], { env });
    expect(shown.stderr).toMatch(/warning: 1 span id is used by more than one span/);
    const exported = await cli(['trace', 'export', TRACE], { env });
    const names = (
      JSON.parse(exported.stdout) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] }
    ).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((sc) => sc.spans.map((x) => x.name)));
    expect(names.sort()).toEqual(['charge', 'receipt']);
  });

  it('malformed shapes get 400 naming the place, never 500', async () => {
    const { rx, post } = await receiver();
    const cases: [Obj, RegExp][] = [
      [
        request1([span('b7ad6b7169203331', { attributes: { 'http.method': 'GET' } })]),
        /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes: must be an array/,
      ],
      [request1([span('b7ad6b7169203331', { events: {} })]), /spans\[0\]\.events: must be an array/],
      [
        request1([span('b7ad6b7169203331', { attributes: [{ key: 'a', value: { intValue: 'x1' } }] })]),
        /spans\[0\]\.attributes\[0\]\.value\.intValue: must be a decimal integer/,
      ],
      [
        request1([span('b7ad6b7169203331', { attributes: [{ key: 'a', value: { arrayValue: { values: {} } } }] })]),
        /attributes\[0\]\.value\.arrayValue\.values: must be an array/,
      ],
      [request1([span('b7ad6b7169203331', { attributes: [7] })]), /spans\[0\]\.attributes\[0\]: must be an object/],
      [request1([span('b7ad6b7169203331', { links: [{ traceId: TRACE }] })]), /spans\[0\]\.links\[0\]\.spanId: missing/],
      [request1([span('b7ad6b7169203331', { status: 'bad' })]), /spans\[0\]\.status: must be an object/],
      [{ resourceSpans: [{ resource: { attributes: { a: 1 } } }] }, /resourceSpans\[0\]\.resource\.attributes: must be an array/],
      [{ resourceSpans: [{ scopeSpans: [{ scope: { attributes: 'x' } }] }] }, /scopeSpans\[0\]\.scope\.attributes: must be an array/],
    ];
    for (const [body, re] of cases) {
      const res = await post(JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(re);
    }
    expect(rx.stats().refused).toBe(cases.length);
    await rx.close();
  });
});

/** ExportTraceServiceRequest with one span under ResourceSpans.instrumentation_library_spans (field 1000), by hand. */
function encodeLegacyProtobuf(spanId: string): Buffer {
  const ld = (field: number, body: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
  const fixed64 = (field: number, v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return Buffer.concat([varint((field << 3) | 1), b]);
  };
  const spanBytes = Buffer.concat([
    ld(1, Buffer.from(TRACE, 'hex')),
    ld(2, Buffer.from(spanId, 'hex')),
    ld(5, Buffer.from('legacy-pb')),
    fixed64(7, 1795331806483000000n),
    fixed64(8, 1795331806484000000n),
  ]);
  const ils = Buffer.concat([ld(1, ld(1, Buffer.from('oldlib'))), ld(2, spanBytes)]);
  return ld(1, ld(1000, ils));
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

describe('drover trace collect: gRPC beside HTTP, nothing silent, uploads drained, a clean context', () => {
  it('receives spans from the official OTLP/gRPC exporter in a child process', async () => {
    const dir = tempDir();
    // gzip-compressed messages, as many deployments configure the exporter.
    const env = { DROVER_STORE: join(dir, 's.db'), OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' };
    const r = await cli(
      ['trace', 'collect', '--port', '0', '--json', '--linger', '0s', '--', 'node', join(ROOT, 'test/fixtures/otel/grpc-app.mjs')],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const result = lastJson(r.stdout) as { spans: number; traceIds: string[]; endpoints: string[] };
    expect(result.spans).toBe(2);
    expect(result.endpoints.join(' ')).toMatch(/OTLP\/HTTP.*OTLP\/gRPC/);
    const store = createStore(join(dir, 's.db'));
    try {
      const spans = await store.spans.querySpans({ traceId: result.traceIds[0] as string });
      const consume = spans.find((s) => s.name === 'consume');
      const parent = spans.find((s) => s.name === 'GET /work');
      expect(consume).toMatchObject({ kind: 5, service: 'grpc-app', attributes: { 'exit.code': -1 }, origin: { scopeVersion: '0.1.0' } });
      expect(consume?.links).toMatchObject([{ spanId: parent?.spanId, attributes: { 'messaging.operation': 'publish' } }]);
    } finally {
      await store.close();
    }
  });

  it('gRPC refuses a malformed message with INVALID_ARGUMENT and the reason', async () => {
    const { Client, credentials } = await import('@grpc/grpc-js');
    const { store } = tempStore();
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, grpcPort: 0 });
    const client = new Client(`127.0.0.1:${rx.grpcPort}`, credentials.createInsecure());
    const call = (body: Buffer) =>
      new Promise<{ code?: number; details?: string } | null>((resolve) => {
        client.makeUnaryRequest(
          '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          (err) => resolve(err ? { code: err.code, details: err.details } : null),
        );
      });
    try {
      expect(await call(Buffer.from([0x0a, 0xff, 0xff, 0x01]))).toEqual({
        code: 3,
        details: expect.stringMatching(/protobuf body is truncated/),
      });
      expect(await call(toProtobuf(request1([])))).toBeNull();
      expect(rx.stats()).toMatchObject({ refused: 1, requests: 2 });
    } finally {
      client.close();
      await rx.close();
    }
  });

  it('says so when nothing came, naming the endpoints that were listening', async () => {
    const dir = tempDir();
    const r = await cli(['trace', 'collect', '--port', '0', '--linger', '0s', '--', 'node', '-e', '0'], {
      env: { DROVER_STORE: join(dir, 's.db') },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /no spans received; listening were http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(OTLP\/HTTP\) and http:\/\/127\.0\.0\.1:\d+ \(OTLP\/gRPC\)/,
    );
  });

  it('starts the command without an inherited TRACEPARENT/TRACESTATE unless --inherit-traceparent', async () => {
    const dir = tempDir();
    const ci = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const env = { DROVER_STORE: join(dir, 's.db'), TRACEPARENT: ci, TRACESTATE: 'ci=1' };
    const script =
      'const e = process.env; process.stdout.write("TP=" + (e.TRACEPARENT ?? "none") + " TS=" + (e.TRACESTATE ?? "none") + "\\n")';
    const clean = await cli(['trace', 'collect', '--port', '0', '--linger', '0s', '--', 'node', '-e', script], { env });
    expect(clean.stdout).toContain('TP=none TS=none');
    const inherited = await cli(
      ['trace', 'collect', '--port', '0', '--linger', '0s', '--inherit-traceparent', '--', 'node', '-e', script],
      { env },
    );
    expect(inherited.stdout).toContain(`TP=${ci} TS=ci=1`);
  });

  it('closing drains an upload under way: it is stored and answered 200, not cut', async () => {
    const { store } = tempStore();
    let started: () => void = () => {};
    const requestStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, onRequest: () => started() });
    const body = Buffer.from(JSON.stringify(request1([span('b7ad6b7169203331')])));
    const half = Math.floor(body.length / 2);
    const answer = new Promise<number>((resolve, reject) => {
      const req = request(
        `${rx.url}/v1/traces`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, half));
      // The rest goes only once the receiver is closing.
      requestStarted.then(() => {
        const closing = rx.close();
        setImmediate(() => req.end(body.subarray(half)));
        return closing;
      });
    });
    expect(await answer).toBe(200);
    expect(rx.stats()).toMatchObject({ spans: 1, refused: 0, inFlight: 0 });
    expect(await store.spans.querySpans({ traceId: TRACE })).toHaveLength(1);
  });

  it('the library collects with a command and reports the endpoints', async () => {
    const { store } = tempStore();
    const result = await collectTraces({ spans: store.spans, port: 0, grpcPort: 0, command: ['node', '-e', '0'], lingerMs: 0 });
    expect(result.exitCode).toBe(0);
    expect(result.endpoints).toHaveLength(2);
  });
});
