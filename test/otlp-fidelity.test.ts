import { describe, expect, it } from 'vitest';
import { duplicateSpanIds } from '../src/store/index.js';
import { spansToOtlpJson, startOtlpReceiver } from '../src/telemetry/index.js';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, gateway, tempDir, tempStore } from './helpers.js';
import { canonical, corpus, flatten, leaves, protobufToOtlpJson, toProtobuf } from './otlp-reference.js';

type Obj = Record<string, unknown>;

async function receiver() {
  const { store } = tempStore();
  const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0 });
  const post = (body: string | Buffer, type: string) =>
    fetch(`${rx.url}/v1/traces`, { method: 'POST', headers: { 'content-type': type }, body });
  return { store, rx, post };
}

/** Sends each request, exports everything stored, and compares span by span, leaf by leaf. */
async function roundTrip(requests: Obj[], format: 'json' | 'protobuf') {
  const { store, rx, post } = await receiver();
  const expected = new Map<string, Obj>();
  try {
    for (const request of requests) {
      const pb = toProtobuf(request);
      const json = protobufToOtlpJson(pb);
      for (const [k, v] of flatten(canonical(json))) expected.set(k, v);
      const res = format === 'json' ? await post(JSON.stringify(json), 'application/json') : await post(pb, 'application/x-protobuf');
      expect(res.status, await res.text()).toBe(200);
    }
  } finally {
    await rx.close();
  }
  const spans = await store.spans.querySpans({ sinceUs: 0 });
  // Through JSON text, as `trace export` writes it.
  const exported = JSON.parse(JSON.stringify(spansToOtlpJson(spans))) as Obj;
  const actual = flatten(canonical(exported));
  let fields = 0;
  let equal = 0;
  const diffs: string[] = [];
  for (const [key, want] of expected) {
    const w = leaves(want);
    const g = leaves(actual.get(key) ?? {});
    for (const [path, value] of w) {
      fields++;
      if (g.get(path) === value) equal++;
      else if (diffs.length < 12) diffs.push(`${key}${path}: sent ${value}, exported ${g.get(path) ?? '(absent)'}`);
    }
    for (const [path, value] of g)
      if (!w.has(path)) {
        fields++;
        if (diffs.length < 12) diffs.push(`${key}${path}: not sent, exported ${value}`);
      }
  }
  // The corpus covers every kind it stands for (so a 100% cannot come from an easy corpus).
  const sent = [...expected.values()].map((v) => JSON.stringify(v)).join('\n');
  const covered = [
    '"intValue":"-1"',
    '"intValue":"-100000"',
    '"intValue":"9223372036854775807"',
    '"intValue":"-9223372036854775808"',
    '"doubleValue":0',
    '"doubleValue":"NaN"',
    '"doubleValue":"-Infinity"',
    '"bytesValue":"',
    '"arrayValue":',
    '"kvlistValue":',
    '"boolValue":false',
    '"stringValue":""',
    '"links":',
    '"traceState":',
    '"flags":',
    '"droppedLinksCount":',
    '"version":',
    'SchemaUrl":"https',
    'UnixNano":"18446744073709551615"',
    '"startTimeUnixNano":"1795331806483123456"',
  ].filter((x) => !sent.includes(x));
  return { spans: expected.size, stored: spans.length, exported: actual.size, fields, equal, diffs, missing: covered };
}

describe('OTLP round trip: receive → store → export changes nothing', () => {
  const requests = corpus(20261130, 30);
  for (const format of ['json', 'protobuf'] as const) {
    it(`random batches over ${format}: every field of every span comes back equal`, async () => {
      const r = await roundTrip(requests, format);
      const share = r.equal / r.fields;
      console.log(
        `round-trip fidelity over ${format}: ${r.equal}/${r.fields} fields equal (${(share * 100).toFixed(2)}%) in ${r.spans} spans`,
      );
      expect(r.missing, 'values the corpus should hold').toEqual([]);
      expect(r.diffs).toEqual([]);
      expect(r.stored).toBe(r.spans);
      expect(r.exported).toBe(r.spans);
      expect(r.fields).toBeGreaterThan(5000);
      expect(share).toBe(1);
    });
  }
});

const TRACE = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const spanOf = (over: Obj = {}): Obj => ({
  traceId: TRACE,
  spanId: Buffer.from('b7ad6b7169203331', 'hex'),
  name: 'exit',
  kind: 1,
  startTimeUnixNano: '1795331806483123456',
  endTimeUnixNano: '1795331806484000789',
  ...over,
});
const requestOf = (spans: Obj[], extra: Obj = {}): Obj => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [{ scope: { name: 's' }, spans, ...extra }],
    },
  ],
});

describe('OTLP values and fields kept exactly', () => {
  it('negative integers over protobuf (64-bit two’s-complement varints) are stored as sent, as over JSON', async () => {
    const { store, rx, post } = await receiver();
    const attrs = [-1, -40, -100000, 0, 300].map((n, i) => ({ key: `exit.code.${i}`, value: { intValue: String(n) } }));
    const pb = toProtobuf(requestOf([spanOf({ attributes: attrs })]));
    expect((await post(pb, 'application/x-protobuf')).status).toBe(200);
    await rx.close();
    const [s] = await store.spans.querySpans({ traceId: TRACE.toString('hex') });
    expect(s?.attributes).toEqual({ 'exit.code.0': -1, 'exit.code.1': -40, 'exit.code.2': -100000, 'exit.code.3': 0, 'exit.code.4': 300 });
  });

  it('int64 extremes and integers above 2^53 are exported exactly; whole-number doubles stay doubles', async () => {
    const { store, rx, post } = await receiver();
    const attrs = [
      { key: 'max', value: { intValue: '9223372036854775807' } },
      { key: 'min', value: { intValue: '-9223372036854775808' } },
      { key: 'big', value: { intValue: '9007199254740993' } },
      { key: 'whole', value: { doubleValue: 2 } },
      { key: 'zero', value: { doubleValue: 0 } },
    ];
    const pb = toProtobuf(requestOf([spanOf({ attributes: attrs })]));
    expect((await post(pb, 'application/x-protobuf')).status).toBe(200);
    await rx.close();
    const text = JSON.stringify(spansToOtlpJson(await store.spans.querySpans({ traceId: TRACE.toString('hex') })));
    expect(text).toContain('{"key":"max","value":{"intValue":"9223372036854775807"}}');
    expect(text).toContain('{"key":"min","value":{"intValue":"-9223372036854775808"}}');
    expect(text).toContain('{"key":"big","value":{"intValue":"9007199254740993"}}');
    expect(text).toContain('{"key":"whole","value":{"doubleValue":2}}');
    expect(text).toContain('{"key":"zero","value":{"doubleValue":0}}');
    expect(text).not.toContain('9223372036854776000');
  });

  it('64-bit integers and times written as JSON numbers (as the JS serializer writes intValue) stay exact', async () => {
    const { store, rx, post } = await receiver();
    const body = `{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"${TRACE.toString('hex')}","spanId":"b7ad6b7169203331","name":"n","kind":1,"startTimeUnixNano": 1795331806483123456,"endTimeUnixNano":1795331806484000789,"attributes":[{"key":"max","value":{"intValue": 9223372036854775807}},{"key":"neg","value":{"intValue":-9007199254740993}},{"key":"s","value":{"stringValue":"intValue: 9223372036854775807"}}]}]}]}]}`;
    expect((await post(body, 'application/json')).status).toBe(200);
    await rx.close();
    const text = JSON.stringify(spansToOtlpJson(await store.spans.querySpans({ traceId: TRACE.toString('hex') })));
    expect(text).toContain('{"key":"max","value":{"intValue":"9223372036854775807"}}');
    expect(text).toContain('{"key":"neg","value":{"intValue":"-9007199254740993"}}');
    expect(text).toContain('"startTimeUnixNano":"1795331806483123456","endTimeUnixNano":"1795331806484000789"');
    expect(text).toContain('{"key":"s","value":{"stringValue":"intValue: 9223372036854775807"}}');
  });

  it("drover's own drover.cost.usd is exported as a double whether the cost is fractional (fresh) or 0 (reused)", () => {
    const base = {
      traceId: TRACE.toString('hex'),
      parentSpanId: null,
      name: 'invoke_agent a',
      kind: 1,
      startUs: 1,
      endUs: 2,
      statusCode: 0,
      statusMessage: null,
      service: 'drover',
      scope: 'drover',
      resource: { 'service.name': 'drover' },
      events: [],
      runId: 'r1',
    };
    const out = spansToOtlpJson([
      { ...base, spanId: '0000000000000001', attributes: { 'drover.cost.usd': 0.0123, 'drover.call.reused': false } },
      { ...base, spanId: '0000000000000002', attributes: { 'drover.cost.usd': 0, 'drover.call.reused': true } },
    ]);
    const costs = out.resourceSpans[0]?.scopeSpans[0]?.spans.map((s) => s.attributes.find((a) => a.key === 'drover.cost.usd')?.value);
    expect(costs).toEqual([{ doubleValue: 0.0123 }, { doubleValue: 0 }]);
  });

  it('a real run, fresh then copied with --from (its call reused at cost 0): every drover.cost.usd is exported as a doubleValue', async () => {
    const dir = tempDir();
    const gw = await gateway("rules:\n  - match: { prompt: '^p(\\d)' }\n    turns: [{ text: 'r{{1}}' }]\n");
    const { store } = tempStore(dir);
    const script = ccScript(dir, "return await agent('p1 again', { label: 'once' })");
    const s = await runWorkflow({ store, script, gateway: gw.url, workdir: dir });
    // A resume serves the call from the run's own journal and adds no span; a --from run shows it reused.
    await resumeRun({ store, runId: s.runId, gateway: gw.url });
    const copy = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, fromRunId: s.runId });
    const spans = [...(await store.spans.querySpans({ runId: s.runId })), ...(await store.spans.querySpans({ runId: copy.runId }))];
    const exported = spansToOtlpJson(spans);
    const costs = exported.resourceSpans.flatMap((r) =>
      r.scopeSpans.flatMap((sc) => sc.spans.flatMap((sp) => sp.attributes.filter((a) => a.key === 'drover.cost.usd').map((a) => a.value))),
    );
    const reused = spans.filter((x) => x.attributes['drover.call.reused'] === true);
    expect(reused.length).toBeGreaterThan(0);
    expect(costs.length).toBeGreaterThanOrEqual(2);
    for (const c of costs) expect(Object.keys(c)).toEqual(['doubleValue']);
    expect(costs).toContainEqual({ doubleValue: 0 });
  });

  it('links, trace state, flags, scope version and attributes, schema URLs and dropped counts are stored and exported', async () => {
    const { store, rx, post } = await receiver();
    const producer = Buffer.from('5b8efff798038103', 'hex');
    const otherTrace = Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex');
    const request = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'consumer' } }], droppedAttributesCount: 2 },
          scopeSpans: [
            {
              scope: {
                name: 'amqp',
                version: '1.4.0',
                attributes: [{ key: 'lib', value: { stringValue: 'x' } }],
                droppedAttributesCount: 1,
              },
              spans: [
                spanOf({
                  traceState: 'rojo=00f067aa0ba902b7',
                  flags: 257,
                  kind: 5,
                  droppedAttributesCount: 3,
                  droppedEventsCount: 4,
                  droppedLinksCount: 5,
                  links: [
                    {
                      traceId: otherTrace,
                      spanId: producer,
                      traceState: 'congo=t61rcWkgMzE',
                      flags: 769,
                      attributes: [{ key: 'messaging.operation', value: { stringValue: 'publish' } }],
                      droppedAttributesCount: 6,
                    },
                  ],
                  events: [{ timeUnixNano: '1795331806483500001', name: 'ack', attributes: [], droppedAttributesCount: 7 }],
                }),
              ],
              schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
            },
          ],
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
        },
      ],
    };
    expect((await post(JSON.stringify(protobufToOtlpJson(toProtobuf(request))), 'application/json')).status).toBe(200);
    await rx.close();
    const [s] = await store.spans.querySpans({ traceId: TRACE.toString('hex') });
    expect(s).toMatchObject({
      traceState: 'rojo=00f067aa0ba902b7',
      flags: 257,
      droppedAttributesCount: 3,
      droppedEventsCount: 4,
      droppedLinksCount: 5,
      startNanos: '1795331806483123456',
      endNanos: '1795331806484000789',
      links: [
        {
          traceId: otherTrace.toString('hex'),
          spanId: '5b8efff798038103',
          traceState: 'congo=t61rcWkgMzE',
          flags: 769,
          attributes: { 'messaging.operation': 'publish' },
          droppedAttributesCount: 6,
        },
      ],
      events: [{ name: 'ack', timeNanos: '1795331806483500001', droppedAttributesCount: 7 }],
      origin: {
        resourceDroppedAttributesCount: 2,
        resourceSchemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
        scopeVersion: '1.4.0',
        scopeAttributes: [{ key: 'lib', value: { stringValue: 'x' } }],
        scopeDroppedAttributesCount: 1,
        scopeSchemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      },
    });
    const exported = spansToOtlpJson([s as NonNullable<typeof s>]);
    expect(canonical(JSON.parse(JSON.stringify(exported)) as Obj)).toEqual(canonical(protobufToOtlpJson(toProtobuf(request))));
  });

  it('two different spans with one span id in a trace are both kept (with their row ids); an exact retry is read once', async () => {
    const { store, rx, post } = await receiver();
    const first = toProtobuf(requestOf([spanOf({ name: 'charge card', status: { code: 2, message: 'declined' } })]));
    const second = toProtobuf(requestOf([spanOf({ name: 'send receipt' })]));
    for (const body of [first, first, second]) expect((await post(body, 'application/x-protobuf')).status).toBe(200);
    await rx.close();
    const spans = await store.spans.querySpans({ traceId: TRACE.toString('hex') });
    expect(spans.map((s) => s.name).sort()).toEqual(['charge card', 'send receipt']);
    expect(new Set(spans.map((s) => s.rowId)).size).toBe(2);
    expect(spans.every((s) => typeof s.rowId === 'number')).toBe(true);
    expect(duplicateSpanIds(spans)).toEqual([{ traceId: TRACE.toString('hex'), spanId: 'b7ad6b7169203331', copies: 2 }]);
    const exported = spansToOtlpJson(spans).resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    expect(exported.map((s) => s.name).sort()).toEqual(['charge card', 'send receipt']);
  });
});
