// One OTLP sender: posts `batches` batches of `size` spans (JSON, protobuf, or protobuf over gRPC) to a receiver, one at a time.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Client, credentials } from '@grpc/grpc-js';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

const [url, format, batches, size] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const hex = (n) => randomBytes(n).toString('hex');

function spanJson(traceId, i, parent) {
  const start = BigInt(Date.now()) * 1_000_000n + BigInt(i);
  return {
    traceId,
    spanId: hex(8),
    ...(parent ? { parentSpanId: parent } : {}),
    name: i % 10 === 0 ? 'GET /orders' : `db.query ${i % 7}`,
    kind: i % 10 === 0 ? 2 : 3,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 1_500_000n),
    attributes: [
      { key: 'http.request.method', value: { stringValue: 'GET' } },
      { key: 'http.response.status_code', value: { intValue: 200 } },
      { key: 'db.system', value: { stringValue: 'postgresql' } },
      { key: 'db.statement', value: { stringValue: `SELECT * FROM orders WHERE id = ${i}` } },
    ],
    status: { code: 1 },
  };
}

function batchJson() {
  const spans = [];
  let traceId = hex(16);
  let root = null;
  for (let i = 0; i < size; i++) {
    if (i % 10 === 0) {
      traceId = hex(16);
      root = null;
    }
    const s = spanJson(traceId, i, root);
    if (!root) root = s.spanId;
    spans.push(s);
  }
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'orders' } }] },
        scopeSpans: [{ scope: { name: 'bench' }, spans }],
      },
    ],
  };
}

/** The SDK's own protobuf writer wants ReadableSpans; build them from the JSON shape. */
function batchProtobuf() {
  const json = batchJson();
  const resource = {
    attributes: { 'service.name': 'orders' },
    merge: () => resource,
    getRawAttributes: () => [['service.name', 'orders']],
    asyncAttributesPending: false,
    waitForAsyncAttributes: async () => {},
  };
  const toHr = (ns) => [Number(BigInt(ns) / 1_000_000_000n), Number(BigInt(ns) % 1_000_000_000n)];
  const spans = json.resourceSpans[0].scopeSpans[0].spans.map((s) => ({
    name: s.name,
    kind: s.kind - 1,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
    parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1 } : undefined,
    startTime: toHr(s.startTimeUnixNano),
    endTime: toHr(s.endTimeUnixNano),
    status: { code: 1 },
    attributes: Object.fromEntries(s.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue])),
    links: [],
    events: [],
    duration: [0, 1_500_000],
    ended: true,
    resource,
    instrumentationScope: { name: 'bench' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }));
  return ProtobufTraceSerializer.serializeRequest(spans);
}

const bodies = Array.from({ length: Math.min(batches, 8) }, () =>
  Buffer.from(format === 'json' ? JSON.stringify(batchJson()) : batchProtobuf()),
);
process.send?.('ready');
await new Promise((r) => process.once('message', r));
let sent = 0;
const cpuStart = process.cpuUsage();
// node:http with keep-alive: the lightest client, so the receiver is what is measured.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const type = format === 'protobuf' ? 'application/x-protobuf' : 'application/json';
const post = (body) =>
  new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/traces`,
      { method: 'POST', agent, headers: { 'content-type': type, 'content-length': body.length } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`receiver answered ${res.statusCode}: ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
// gRPC: one HTTP/2 channel, TraceService/Export with the body as the message (as the official exporter sends it).
const grpc = format === 'grpc' ? new Client(url.replace(/^http:\/\//, ''), credentials.createInsecure()) : null;
const exportGrpc = (body) =>
  new Promise((resolve, reject) => {
    grpc.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b) => b,
      (b) => b,
      body,
      (err) => (err ? reject(err) : resolve()),
    );
  });
for (let b = 0; b < batches; b++) {
  await (grpc ? exportGrpc(bodies[b % bodies.length]) : post(bodies[b % bodies.length]));
  sent += size;
}
agent.destroy();
grpc?.close();
const cpu = process.cpuUsage(cpuStart);
process.send?.({ sent, cpuMs: (cpu.user + cpu.system) / 1000 });
