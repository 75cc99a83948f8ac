/**
 * Test input for OTLP fidelity, encoded by the official opentelemetry-proto definitions (the
 * protobufjs module @opentelemetry/otlp-transformer 0.205 shipped, installed as
 * `otlp-proto-reference`), never by drover's own encoder. Also: a seeded random corpus of
 * ExportTraceServiceRequests covering every AnyValue type and extreme and every span field.
 */
import { createRequire } from 'node:module';

interface ProtoMessageType {
  fromObject(o: unknown): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
}
const root = createRequire(import.meta.url)('otlp-proto-reference/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtoMessageType } } } } };
};
const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** toObject options: int64 as decimal strings, enums as numbers, bytes as base64, NaN/Infinity as strings. */
const TO_OBJECT = { longs: String, enums: Number, bytes: String, json: true };

type Obj = Record<string, unknown>;

/** The request (protobufjs object form, ids as Buffers) as OTLP/protobuf bytes. */
export function toProtobuf(request: Obj): Buffer {
  return Buffer.from(Request.encode(Request.fromObject(request)).finish());
}

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** Walks spans and links turning id fields between hex and base64. */
function mapIds(o: unknown, f: (v: string) => string): unknown {
  if (Array.isArray(o)) return o.map((x) => mapIds(x, f));
  if (!o || typeof o !== 'object') return o;
  const out: Obj = {};
  for (const [k, v] of Object.entries(o as Obj)) out[k] = ID_FIELDS.has(k) && typeof v === 'string' ? f(v) : mapIds(v, f);
  return out;
}

/** Protobuf bytes as OTLP/JSON (hex ids, int64 as strings, enums as integers), written by protobufjs. */
export function protobufToOtlpJson(bytes: Uint8Array): Obj {
  const o = Request.toObject(Request.decode(bytes), TO_OBJECT);
  return mapIds(o, (b64) => Buffer.from(b64, 'base64').toString('hex')) as Obj;
}

/** Fields whose proto3 default (0, "", empty) means "not sent": dropped on both sides before comparing. Never AnyValue's oneof members. */
const DEFAULTED = new Set([
  'droppedAttributesCount',
  'droppedEventsCount',
  'droppedLinksCount',
  'flags',
  'kind',
  'code',
  'message',
  'traceState',
  'schemaUrl',
  'version',
  'name',
  'key',
  'parentSpanId',
  'startTimeUnixNano',
  'endTimeUnixNano',
  'timeUnixNano',
]);

function dropDefaults(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(dropDefaults);
  if (!o || typeof o !== 'object') return o;
  const out: Obj = {};
  for (const [k, v] of Object.entries(o as Obj)) {
    if (DEFAULTED.has(k) && (v === 0 || v === '' || v === '0')) continue;
    if (Array.isArray(v) && v.length === 0 && k !== 'values') continue;
    const x = dropDefaults(v);
    if (k === 'status' && x && typeof x === 'object' && Object.keys(x).length === 0) continue;
    out[k] = x;
  }
  return out;
}

const TIME_FIELDS = new Set(['startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano']);

/** Takes the fixed64 times out (by path), normalised: protobufjs's fromObject wraps values ≥ 2^63 to negative ones. */
function takeTimes(o: unknown, path: string, times: Map<string, string>): unknown {
  if (Array.isArray(o)) return o.map((x, i) => takeTimes(x, `${path}/${i}`, times));
  if (!o || typeof o !== 'object') return o;
  const out: Obj = {};
  for (const [k, v] of Object.entries(o as Obj)) {
    if (TIME_FIELDS.has(k) && (typeof v === 'string' || typeof v === 'number')) times.set(`${path}/${k}`, BigInt(v).toString());
    else out[k] = takeTimes(v, `${path}/${k}`, times);
  }
  return out;
}

function putTimes(o: Obj, times: Map<string, string>): Obj {
  for (const [path, value] of times) {
    const parts = path.split('/').slice(1);
    const last = parts.pop() as string;
    let at: Obj = o;
    for (const p of parts) at = at[p] as Obj;
    at[last] = value;
  }
  return o;
}

/** Any OTLP/JSON request in one canonical form (proto3 defaults dropped), through the official definitions. */
export function canonical(otlpJson: Obj): Obj {
  const times = new Map<string, string>();
  const withBytes = takeTimes(
    mapIds(otlpJson, (hex) => Buffer.from(hex, 'hex').toString('base64')),
    '',
    times,
  );
  return dropDefaults(putTimes(Request.toObject(Request.fromObject(withBytes), TO_OBJECT), times)) as Obj;
}

// ---- the random corpus ----

/** mulberry32: a small seeded PRNG, so a failing corpus can be rebuilt from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function corpus(seed: number, batches: number): Obj[] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const chance = (p: number) => r() < p;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const id = (n: number) => {
    const b = bytes(n);
    b[0] = (b[0] as number) | 1; // never all zeros
    return b;
  };
  const text = () =>
    pick(['', 'a', 'GET /orders', 'ünïcødé ✓', 'emoji 🚀', 'quote " and \\ backslash', 'line\nbreak', 'x'.repeat(300), `s${int(1e9)}`]);
  const INTS = [
    '0',
    '1',
    '-1',
    '-40',
    '-100000',
    '9223372036854775807',
    '-9223372036854775808',
    '9007199254740993',
    '-9007199254740993',
    '4294967296',
    '200',
  ];
  const DOUBLES: (number | string)[] = [
    0,
    1,
    -2,
    3.5,
    -0.25,
    1e300,
    -1e-300,
    5e-324,
    1.7976931348623157e308,
    1.2345678901234567e19,
    'NaN',
    'Infinity',
    '-Infinity',
    0.1,
  ];
  const anyValue = (depth: number): Obj => {
    const kind = int(depth > 2 ? 6 : 8);
    switch (kind) {
      case 0:
        return { stringValue: text() };
      case 1:
        return { boolValue: chance(0.5) };
      case 2:
        return { intValue: chance(0.6) ? pick(INTS) : String(int(2 ** 31) - 2 ** 30) };
      case 3:
        return { doubleValue: chance(0.7) ? pick(DOUBLES) : (r() - 0.5) * 10 ** int(20) };
      case 4:
        return { bytesValue: bytes(int(20)) };
      case 5:
        return {};
      case 6:
        return { arrayValue: { values: Array.from({ length: int(4) }, () => anyValue(depth + 1)) } };
      default:
        return { kvlistValue: { values: keyValues(depth + 1, int(4)) } };
    }
  };
  const KEYS = ['http.method', 'service.name', 'db.statement', 'exit.code', 'drover.cost.usd', 'k', '0', '12', 'ä.key', '', 'a.b.c'];
  function keyValues(depth: number, n: number): Obj[] {
    const out: Obj[] = [];
    for (let i = 0; i < n; i++)
      out.push({ key: chance(0.7) ? `${pick(KEYS)}${chance(0.5) ? i : ''}` : pick(KEYS), value: anyValue(depth) });
    return out;
  }
  const NANOS = [
    '1',
    '999',
    '1000',
    '18446744073709551615',
    '9223372036854775807',
    '1795331806483000000',
    '1795331806483123456',
    '1700000000000000001',
  ];
  const nanos = () => (chance(0.5) ? pick(NANOS) : String(1_700_000_000_000_000_000n + BigInt(int(2 ** 30)) * 1000n + BigInt(int(1000))));
  const count = () => (chance(0.7) ? 0 : pick([1, 7, 128, 4294967295]));
  const span = (traceId: Buffer, parent: Buffer | null): Obj => ({
    traceId,
    spanId: id(8),
    ...(parent ? { parentSpanId: parent } : {}),
    ...(chance(0.3) ? { traceState: pick(['rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE,rojo=1', 'a=b']) } : {}),
    ...(chance(0.5) ? { flags: pick([1, 256, 257, 768, 769, 0xffffffff]) } : {}),
    name: text(),
    kind: int(6),
    startTimeUnixNano: nanos(),
    endTimeUnixNano: nanos(),
    attributes: keyValues(0, int(8)),
    droppedAttributesCount: count(),
    events: Array.from({ length: int(3) }, () => ({
      timeUnixNano: nanos(),
      name: text(),
      attributes: keyValues(0, int(4)),
      droppedAttributesCount: count(),
    })),
    droppedEventsCount: count(),
    links: Array.from({ length: int(3) }, () => ({
      traceId: chance(0.5) ? traceId : id(16),
      spanId: id(8),
      ...(chance(0.5) ? { traceState: 'rojo=00f067aa0ba902b7' } : {}),
      attributes: keyValues(0, int(3)),
      droppedAttributesCount: count(),
      ...(chance(0.5) ? { flags: pick([1, 257, 769]) } : {}),
    })),
    droppedLinksCount: count(),
    status: { code: int(3), ...(chance(0.5) ? { message: text() } : {}) },
  });
  return Array.from({ length: batches }, () => ({
    resourceSpans: Array.from({ length: 1 + int(2) }, () => ({
      resource: { attributes: keyValues(0, int(5)), droppedAttributesCount: count() },
      scopeSpans: Array.from({ length: 1 + int(2) }, () => ({
        scope: {
          name: pick(['', 'io.opentelemetry.http', 'orders']),
          version: pick(['', '1.2.3']),
          attributes: chance(0.3) ? keyValues(0, 2) : [],
          droppedAttributesCount: count(),
        },
        spans: (() => {
          const traceId = id(16);
          const spans: Obj[] = [];
          for (let i = 0, n = 1 + int(6); i < n; i++)
            spans.push(span(chance(0.2) ? id(16) : traceId, spans.length && chance(0.7) ? (pick(spans).spanId as Buffer) : null));
          return spans;
        })(),
        schemaUrl: pick(['', 'https://opentelemetry.io/schemas/1.24.0']),
      })),
      schemaUrl: pick(['', 'https://opentelemetry.io/schemas/1.21.0']),
    })),
  }));
}

/** One record per span: its resource, scope and itself, canonical. */
export function flatten(canonicalRequest: Obj): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const rs of (canonicalRequest.resourceSpans ?? []) as Obj[])
    for (const ss of (rs.scopeSpans ?? []) as Obj[])
      for (const sp of (ss.spans ?? []) as Obj[]) {
        const key = `${sp.traceId}/${sp.spanId}`;
        if (out.has(key)) throw new Error(`corpus repeats span ${key}`);
        out.set(key, {
          resource: rs.resource ?? {},
          resourceSchemaUrl: rs.schemaUrl ?? '',
          scope: ss.scope ?? {},
          scopeSchemaUrl: ss.schemaUrl ?? '',
          span: sp,
        });
      }
  return out;
}

/** Every leaf of a value with its path (arrays by index): what "field by field" counts. */
export function leaves(v: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (v && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as Obj);
    if (entries.length === 0) out.set(path, Array.isArray(v) ? '[]' : '{}');
    for (const [k, x] of entries) leaves(x, `${path}/${k}`, out);
  } else out.set(path, JSON.stringify(v));
  return out;
}
