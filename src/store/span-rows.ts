/**
 * @module A span as a row of the `spans` table, shared by the SQLite and PostgreSQL span stores: the
 * columns, encoding a StoredSpan into row values (redacted), reading rows back, and collapsing OTLP
 * retries. No I/O here; both stores keep the same table and column names.
 */
import { redactedJson, redactSecrets } from '../redact/index.js';
import type { EncodedSpanRow, StoredSpan } from './span-types.js';

export const SPAN_COLUMNS =
  'trace_key, trace_id, span_id, parent_span_id, name, kind, service, scope, start_us, end_us, status_code, status_message, run_id, attributes_json, resource_json, events_json, extra_json, origin_json, start_ns_rem, end_ns_rem';
/** What a read selects: the columns and the row id last. */
export const SPAN_READ_COLUMNS = `${SPAN_COLUMNS}, id`;

/**
 * An outline row: span id, parent, name, kind, service, start, end, status code, `drover.cost.usd`
 * (a number, or anything else when absent or not a number) and the row id.
 */
export type SpanOutlineRow = [string, string | null, string, number, string | null, number, number, number, unknown, number];

/** A row read in raw (array) mode, in SPAN_READ_COLUMNS order (the row id last). */
export type SpanRawRow = [
  number,
  string,
  string,
  string | null,
  string,
  number,
  string | null,
  string | null,
  number,
  number,
  number,
  string | null,
  string | null,
  string,
  string,
  string | null,
  string | null,
  string | null,
  number | null,
  number | null,
  number,
];

/** The optional StoredSpan fields kept in `extra_json`. */
const EXTRA_FIELDS = [
  'traceState',
  'flags',
  'droppedAttributesCount',
  'droppedEventsCount',
  'droppedLinksCount',
  'links',
  'typedAttributes',
  'anomalies',
] as const satisfies readonly (keyof StoredSpan)[];

/**
 * Exact nanoseconds as the remainder past whole microseconds (a small integer column), when the
 * decimal is `us` followed by three digits; null when there is none, undefined when it needs extra_json.
 */
function nanosRem(us: number, nanos: string | undefined): number | null | undefined {
  if (nanos === undefined) return null;
  const head = nanos.slice(0, -3);
  return Number.isSafeInteger(us) && head === String(us) ? Number(nanos.slice(-3)) || null : undefined;
}

function extraJson(sp: StoredSpan, startRem: number | null | undefined, endRem: number | null | undefined): string | null {
  let extra: Record<string, unknown> | null = null;
  if (startRem === undefined) extra = { startNanos: sp.startNanos };
  if (endRem === undefined) {
    extra ??= {};
    extra.endNanos = sp.endNanos;
  }
  for (const k of EXTRA_FIELDS) {
    const v = sp[k];
    if (v === undefined || v === null) continue;
    extra ??= {};
    extra[k] = v;
  }
  return extra ? redactedJson(extra) : null;
}

/**
 * A stored span read back. Attributes and events are parsed on first use: an assertion
 * over 100,000 spans mostly looks at names, kinds and links, not every attribute.
 */
class ReadSpan implements StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  service: string | null;
  scope: string | null;
  startUs: number;
  endUs: number;
  statusCode: number;
  statusMessage: string | null;
  runId: string | null;
  resource: StoredSpan['resource'];
  rowId: number;
  declare startNanos?: string;
  declare endNanos?: string;
  declare traceState?: string;
  declare flags?: number;
  declare droppedAttributesCount?: number;
  declare droppedEventsCount?: number;
  declare droppedLinksCount?: number;
  declare links?: StoredSpan['links'];
  declare typedAttributes?: StoredSpan['typedAttributes'];
  declare origin?: StoredSpan['origin'];
  declare anomalies?: StoredSpan['anomalies'];
  private attrs: StoredSpan['attributes'] | undefined;
  private evts: StoredSpan['events'] | undefined;

  constructor(
    r: SpanRawRow,
    resource: StoredSpan['resource'],
    origin: StoredSpan['origin'] | undefined,
    private readonly attributesJson: string,
    private readonly eventsJson: string | null,
  ) {
    this.traceId = r[1];
    this.spanId = r[2];
    this.parentSpanId = r[3];
    this.name = r[4];
    this.kind = r[5];
    this.service = r[6];
    this.scope = r[7];
    this.startUs = r[8];
    this.endUs = r[9];
    this.statusCode = r[10];
    this.statusMessage = r[11];
    this.runId = r[12];
    this.resource = resource;
    this.rowId = r[20];
    if (r[18] !== null) this.startNanos = `${r[8]}${String(r[18]).padStart(3, '0')}`;
    if (r[19] !== null) this.endNanos = `${r[9]}${String(r[19]).padStart(3, '0')}`;
    if (r[16]) Object.assign(this, JSON.parse(r[16]));
    if (origin) this.origin = origin;
  }

  get attributes(): StoredSpan['attributes'] {
    this.attrs ??= JSON.parse(this.attributesJson) as StoredSpan['attributes'];
    return this.attrs;
  }
  set attributes(value: StoredSpan['attributes']) {
    this.attrs = value;
  }
  get events(): StoredSpan['events'] {
    this.evts ??= this.eventsJson ? (JSON.parse(this.eventsJson) as StoredSpan['events']) : [];
    return this.evts;
  }
  set events(value: StoredSpan['events']) {
    this.evts = value;
  }

  /** Plain data for JSON.stringify (getters are not own properties). */
  toJSON(): StoredSpan {
    const { attributesJson: _a, eventsJson: _e, attrs: _x, evts: _y, ...rest } = this as unknown as Record<string, unknown>;
    return { ...(rest as unknown as StoredSpan), attributes: this.attributes, events: this.events };
  }
}

/** Resource and origin JSON repeat across a service's spans: parse each distinct text once per read. */
function fromRaw(r: SpanRawRow, resources: Map<string, unknown>): StoredSpan {
  let resource = resources.get(r[14]) as StoredSpan['resource'] | undefined;
  if (!resource) {
    resource = JSON.parse(r[14]) as StoredSpan['resource'];
    resources.set(r[14], resource);
  }
  let origin: StoredSpan['origin'] | undefined;
  if (r[17]) {
    origin = resources.get(`o${r[17]}`) as StoredSpan['origin'];
    if (!origin) {
      origin = JSON.parse(r[17]) as StoredSpan['origin'];
      resources.set(`o${r[17]}`, origin);
    }
  }
  return new ReadSpan(r, resource, origin, r[13], r[15]);
}

/**
 * Spans that share a trace id and span id, with how many distinct copies each has: two different
 * spans under one id (a broken id generator, a replayed test fixture). Exact copies — an OTLP retry —
 * are read once and not reported.
 */
export function duplicateSpanIds(spans: StoredSpan[]): { traceId: string; spanId: string; copies: number }[] {
  const counts = new Map<string, number>();
  for (const s of spans) counts.set(`${s.traceId}/${s.spanId}`, (counts.get(`${s.traceId}/${s.spanId}`) ?? 0) + 1);
  const out: { traceId: string; spanId: string; copies: number }[] = [];
  for (const [k, copies] of counts) {
    if (copies < 2) continue;
    const [traceId, spanId] = k.split('/') as [string, string];
    out.push({ traceId, spanId, copies });
  }
  return out;
}

/**
 * Drops exact copies of a span (same trace id, span id and every stored value — an OTLP retry),
 * keeping the last; different spans that share an id are all kept. `content` gives a row's values.
 */
export function collapseRetries<T>(items: T[], idOf: (x: T) => string, content: (x: T) => string): T[] {
  const ids = new Set<string>();
  for (const x of items) ids.add(idOf(x));
  if (ids.size === items.length) return items;
  const last = new Map<string, number>();
  const keys = items.map((x) => {
    const k = `${idOf(x)}\u0000${content(x)}`;
    return k;
  });
  keys.forEach((k, i) => {
    last.set(k, i);
  });
  return items.filter((_, i) => last.get(keys[i] as string) === i);
}

/** The index key of a trace: its first 52 bits, exact in a double. */
export const traceKey = (traceId: string): number => Number.parseInt(traceId.slice(0, 13), 16);

/**
 * A span as the 20 values of its row, in SPAN_COLUMNS order: cheap to hand between threads. Every text
 * value is redacted here (src/redact) — drover's own spans and every span received over OTLP alike;
 * `resourceJson` and `originJson`, when given, must already be redacted (`redactedJson`).
 */
export function encodeSpanRow(
  sp: StoredSpan,
  resourceJson: string = redactedJson(sp.resource),
  originJson: string | null = sp.origin ? redactedJson(sp.origin) : null,
): EncodedSpanRow {
  const startRem = nanosRem(sp.startUs, sp.startNanos);
  const endRem = nanosRem(sp.endUs, sp.endNanos);
  return [
    traceKey(sp.traceId),
    sp.traceId,
    sp.spanId,
    sp.parentSpanId,
    redactSecrets(sp.name),
    sp.kind,
    sp.service,
    sp.scope,
    sp.startUs,
    sp.endUs,
    sp.statusCode,
    sp.statusMessage === null ? null : redactSecrets(sp.statusMessage),
    sp.runId,
    redactedJson(sp.attributes),
    resourceJson,
    sp.events.length ? redactedJson(sp.events) : null,
    extraJson(sp, startRem, endRem),
    originJson,
    startRem ?? null,
    endRem ?? null,
  ];
}

/** Rows for a batch of spans, stringifying each distinct resource once (a batch usually shares one). */
export function encodeSpanRows(spans: StoredSpan[]): EncodedSpanRow[] {
  let last: unknown = null;
  let json = '{}';
  let lastOrigin: unknown;
  let originJson: string | null = null;
  return spans.map((s) => {
    if (s.resource !== last) {
      last = s.resource;
      json = redactedJson(s.resource);
    }
    if (s.origin !== lastOrigin) {
      lastOrigin = s.origin;
      originJson = s.origin ? redactedJson(s.origin) : null;
    }
    return encodeSpanRow(s, json, originJson);
  });
}

/**
 * Rows of a full read (SPAN_READ_COLUMNS, in `start_us, id` order) as spans: a span received twice
 * (an OTLP retry) is read once, the later copy winning; different spans under one id are all kept.
 * `sinceUs` drops spans that started earlier.
 */
export function spansFromRows(rows: SpanRawRow[], sinceUs?: number): StoredSpan[] {
  if (sinceUs !== undefined) rows = rows.filter((r) => r[8] >= sinceUs);
  // Span ids are random 64-bit values: content is compared only when two rows share one.
  rows = collapseRetries(
    rows,
    (r) => `${r[1]}/${r[2]}`,
    (r) => JSON.stringify(r.slice(3, 20)),
  );
  const resources = new Map<string, unknown>();
  return rows.map((r) => fromRaw(r, resources));
}

/** One span's full row read back (`getSpan`). */
export function spanFromRow(r: SpanRawRow): StoredSpan {
  return fromRaw(r, new Map());
}

/**
 * Outline rows of one trace (in `start_us, id` order) as spans for a waterfall: scope, status
 * message and run id null, resource and events empty, one attribute (`drover.cost.usd`) when it
 * is a number.
 */
export function outlinesFromRows(traceId: string, rows: SpanOutlineRow[]): StoredSpan[] {
  // One trace: every row has its id, so none is read (a 32-character string per span); retries
  // collapse on the span id and the outline's own values (an outline has no attributes to compare).
  return collapseRetries(
    rows,
    (r) => r[0],
    (r) => JSON.stringify(r.slice(1, 9)),
  ).map(
    (r): StoredSpan => ({
      traceId,
      spanId: r[0],
      parentSpanId: r[1],
      name: r[2],
      kind: r[3],
      service: r[4],
      scope: null,
      startUs: r[5],
      endUs: r[6],
      statusCode: r[7],
      statusMessage: null,
      runId: null,
      attributes: typeof r[8] === 'number' ? { 'drover.cost.usd': r[8] } : ({} as StoredSpan['attributes']),
      resource: {},
      events: [],
      rowId: r[9],
    }),
  );
}
