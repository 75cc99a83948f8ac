import type { SpanEvent, SpanLink, StoredSpan } from '../../store/span-types.js';
import { attributesFromJson, field, listAt, typedListFromJson } from './any-value.js';
import { OtlpFormatError } from './errors.js';
import { originOf, type SpanParts, storedSpanOf, type Time, timeOfDecimal, withAttributes } from './span-parts.js';

export { OtlpFormatError } from './errors.js';

type Obj = Record<string, unknown>;

const HEX = /^[0-9a-f]+$/;
const DIGITS = /^\d+$/;

function idOf(value: unknown, bytes: number, where: string, optional: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (optional) return null;
    throw new OtlpFormatError(`${where}: missing`);
  }
  if (typeof value !== 'string') throw new OtlpFormatError(`${where}: must be a hex string`);
  let hex = value.toLowerCase();
  // OTLP/JSON says hex; protobuf-JSON encoders (and the Collector's decoder) also use base64. Accept both.
  if (hex.length !== bytes * 2 || !HEX.test(hex)) {
    const decoded = Buffer.from(value, 'base64');
    if (decoded.length === bytes && /^[A-Za-z0-9+/]+=*$/.test(value)) hex = decoded.toString('hex');
    else throw new OtlpFormatError(`${where}: must be ${bytes * 2} hex characters, got ${JSON.stringify(value.slice(0, 40))}`);
  }
  if (/^0+$/.test(hex)) {
    if (optional) return null;
    throw new OtlpFormatError(`${where}: must not be all zeros`);
  }
  return hex;
}

/** A fixed64 nanosecond time: decimal string or JSON number. Null when absent (the caller flags it). */
function timeOf(value: unknown, where: string): Time | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && DIGITS.test(value)) {
    const t = timeOfDecimal(value);
    if (t) return t;
  } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    return timeOfDecimal(BigInt(value).toString());
  }
  throw new OtlpFormatError(`${where}: must be a decimal count of nanoseconds (0 to 2^64-1), got ${JSON.stringify(value)?.slice(0, 30)}`);
}

/** 0 is proto3's "not set": a span time of 0 is treated as missing, over JSON as over protobuf. */
const unlessZero = (t: Time | null): Time | null => (t && t.us === 0 && !t.nanos ? null : t);

/** A uint32 (counts, flags): a JSON number or decimal string. Absent → undefined. */
function uint32Of(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && DIGITS.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new OtlpFormatError(`${where}: must be an integer 0..4294967295, got ${JSON.stringify(value)?.slice(0, 30)}`);
  return n;
}

function stringOf(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new OtlpFormatError(`${where}: must be a string`);
  return value;
}

/** An enum as a number or its proto name (the Collector's decoder takes both). */
function enumOf(value: unknown, names: readonly string[], where: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'string' ? names.indexOf(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= names.length)
    throw new OtlpFormatError(`${where}: must be 0..${names.length - 1} or one of ${names.join(', ')}, got ${JSON.stringify(value)}`);
  return n;
}

const KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

function objectOf(value: unknown, where: string): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new OtlpFormatError(`${where}: must be an object`);
  return value as Obj;
}

function spanParts(sp: unknown, where: string): SpanParts {
  if (!sp || typeof sp !== 'object' || Array.isArray(sp)) throw new OtlpFormatError(`${where}: must be an object`);
  const s = sp as Obj;
  const name = s.name ?? '';
  if (typeof name !== 'string') throw new OtlpFormatError(`${where}.name: must be a string`);
  const status = objectOf(s.status, `${where}.status`);
  const traceId = idOf(field(s, 'traceId', 'trace_id'), 16, `${where}.traceId`, false) as string;
  const events = listAt(s.events, `${where}.events`).map((raw, ei): SpanEvent => {
    const w = `${where}.events[${ei}]`;
    const e = objectOf(raw, w);
    const t = timeOf(field(e, 'timeUnixNano', 'time_unix_nano'), `${w}.timeUnixNano`) ?? { us: 0 };
    const ev = { timeUs: t.us } as SpanEvent;
    ev.name = stringOf(e.name, `${w}.name`) ?? '';
    if (t.nanos) ev.timeNanos = t.nanos;
    const dropped = uint32Of(field(e, 'droppedAttributesCount', 'dropped_attributes_count'), `${w}.droppedAttributesCount`);
    if (dropped) ev.droppedAttributesCount = dropped;
    return withAttributes(ev, attributesFromJson(e.attributes, `${w}.attributes`));
  });
  const links = listAt(s.links, `${where}.links`).map((raw, li): SpanLink => {
    const w = `${where}.links[${li}]`;
    const l = objectOf(raw, w);
    const link = {
      traceId: idOf(field(l, 'traceId', 'trace_id'), 16, `${w}.traceId`, false),
      spanId: idOf(field(l, 'spanId', 'span_id'), 8, `${w}.spanId`, false),
    } as SpanLink;
    const ts = stringOf(field(l, 'traceState', 'trace_state'), `${w}.traceState`);
    if (ts) link.traceState = ts;
    const flags = uint32Of(l.flags, `${w}.flags`);
    if (flags) link.flags = flags;
    const dropped = uint32Of(field(l, 'droppedAttributesCount', 'dropped_attributes_count'), `${w}.droppedAttributesCount`);
    if (dropped) link.droppedAttributesCount = dropped;
    return withAttributes(link, attributesFromJson(l.attributes, `${w}.attributes`));
  });
  const parts: SpanParts = {
    traceId,
    spanId: idOf(field(s, 'spanId', 'span_id'), 8, `${where}.spanId`, false) as string,
    parentSpanId: idOf(field(s, 'parentSpanId', 'parent_span_id'), 8, `${where}.parentSpanId`, true),
    name,
    kind: enumOf(s.kind, KINDS, `${where}.kind`),
    start: unlessZero(timeOf(field(s, 'startTimeUnixNano', 'start_time_unix_nano'), `${where}.startTimeUnixNano`)),
    end: unlessZero(timeOf(field(s, 'endTimeUnixNano', 'end_time_unix_nano'), `${where}.endTimeUnixNano`)),
    attributes: attributesFromJson(s.attributes, `${where}.attributes`),
    statusCode: enumOf(status.code, STATUS, `${where}.status.code`),
    statusMessage: stringOf(status.message, `${where}.status.message`) || null,
    events,
    links,
  };
  const ts = stringOf(field(s, 'traceState', 'trace_state'), `${where}.traceState`);
  if (ts) parts.traceState = ts;
  const flags = uint32Of(s.flags, `${where}.flags`);
  if (flags) parts.flags = flags;
  const da = uint32Of(field(s, 'droppedAttributesCount', 'dropped_attributes_count'), `${where}.droppedAttributesCount`);
  if (da) parts.droppedAttributesCount = da;
  const de = uint32Of(field(s, 'droppedEventsCount', 'dropped_events_count'), `${where}.droppedEventsCount`);
  if (de) parts.droppedEventsCount = de;
  const dl = uint32Of(field(s, 'droppedLinksCount', 'dropped_links_count'), `${where}.droppedLinksCount`);
  if (dl) parts.droppedLinksCount = dl;
  return parts;
}

const KNOWN = {
  top: ['resourceSpans', 'resource_spans'],
  resourceSpans: [
    'resource',
    'scopeSpans',
    'scope_spans',
    'instrumentationLibrarySpans',
    'instrumentation_library_spans',
    'schemaUrl',
    'schema_url',
  ],
  scopeSpans: ['scope', 'instrumentationLibrary', 'instrumentation_library', 'spans', 'schemaUrl', 'schema_url'],
};

/** Where a body that gave no span has fields OTLP does not know (so it was not an empty request but something else). */
function unknownField(o: Obj, known: string[], where: string): string | null {
  const k = Object.keys(o).find((key) => !known.includes(key));
  return k === undefined ? null : `${where}${where ? '.' : ''}${k}`;
}

const BIG_NUMBER =
  /("(?:intValue|int_value|startTimeUnixNano|endTimeUnixNano|timeUnixNano|start_time_unix_nano|end_time_unix_nano|time_unix_nano)"\s*:\s*)(-?\d{16,})(?=\s*[,}\]])/g;

/**
 * Parses OTLP/JSON text, keeping 64-bit integers written as JSON numbers exact (the JS
 * serializer writes `intValue` as a number; a double would round everything above 2^53):
 * such literals under int64/fixed64 fields are read as decimal strings.
 * @throws SyntaxError from JSON.parse.
 */
export function parseOtlpJson(text: string): unknown {
  return JSON.parse(text.replace(BIG_NUMBER, '$1"$2"'));
}

/**
 * Turns an ExportTraceServiceRequest in OTLP/JSON into stored spans, keeping every field. Accepts
 * what the Collector's JSON decoder accepts: camelCase or snake_case names, the deprecated
 * `instrumentationLibrarySpans`, enums as numbers or names, ids as hex (or base64).
 * Unknown fields are ignored, as receivers must — except that a body which gives no span and
 * has fields OTLP does not know is refused, never read as "0 spans".
 * @throws OtlpFormatError naming the place (`resourceSpans[0].scopeSpans[1].spans[3].traceId: …`).
 */
export function spansFromOtlp(body: unknown): StoredSpan[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new OtlpFormatError('body: must be an object with resourceSpans');
  const top = body as Obj;
  const out: StoredSpan[] = [];
  let unknown = unknownField(top, KNOWN.top, '');
  const resourceSpans = listAt(field(top, 'resourceSpans', 'resource_spans'), 'resourceSpans');
  resourceSpans.forEach((rs, ri) => {
    const rw = `resourceSpans[${ri}]`;
    const r = objectOf(rs, rw);
    unknown ??= unknownField(r, KNOWN.resourceSpans, rw);
    const res = objectOf(r.resource, `${rw}.resource`);
    const resourceList = attributesFromJson(res.attributes, `${rw}.resource.attributes`);
    const resourceFields = {
      schemaUrl: stringOf(field(r, 'schemaUrl', 'schema_url'), `${rw}.schemaUrl`),
      droppedAttributesCount: uint32Of(
        field(res, 'droppedAttributesCount', 'dropped_attributes_count'),
        `${rw}.resource.droppedAttributesCount`,
      ),
    } as { schemaUrl?: string; droppedAttributesCount?: number };
    const current = field(r, 'scopeSpans', 'scope_spans');
    const legacy = field(r, 'instrumentationLibrarySpans', 'instrumentation_library_spans');
    // As the Collector does: the deprecated list is read only when there is no scopeSpans (senders in
    // transition wrote the same spans to both).
    const scoped = listAt(current, `${rw}.scopeSpans`);
    const groups: [unknown, string][] = scoped.length
      ? scoped.map((x, i): [unknown, string] => [x, `${rw}.scopeSpans[${i}]`])
      : listAt(legacy, `${rw}.instrumentationLibrarySpans`).map((x, i): [unknown, string] => [
          x,
          `${rw}.instrumentationLibrarySpans[${i}]`,
        ]);
    for (const [ss, sw] of groups) {
      const g = objectOf(ss, sw);
      unknown ??= unknownField(g, KNOWN.scopeSpans, sw);
      const scopeRaw = g.scope ?? field(g, 'instrumentationLibrary', 'instrumentation_library');
      const sc = objectOf(scopeRaw, `${sw}.scope`);
      const origin = originOf(resourceList, resourceFields, {
        name: stringOf(sc.name, `${sw}.scope.name`),
        version: stringOf(sc.version, `${sw}.scope.version`),
        attributes: typedListFromJson(sc.attributes, `${sw}.scope.attributes`),
        droppedAttributesCount: uint32Of(
          field(sc, 'droppedAttributesCount', 'dropped_attributes_count'),
          `${sw}.scope.droppedAttributesCount`,
        ),
        schemaUrl: stringOf(field(g, 'schemaUrl', 'schema_url'), `${sw}.schemaUrl`),
      } as Parameters<typeof originOf>[2]);
      listAt(g.spans, `${sw}.spans`).forEach((sp, pi) => {
        out.push(storedSpanOf(spanParts(sp, `${sw}.spans[${pi}]`), origin));
      });
    }
  });
  if (out.length === 0 && unknown)
    throw new OtlpFormatError(
      `no spans: ${unknown} is not an OTLP trace field (expected {"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,"spans":[…]}]}]})`,
    );
  return out;
}
