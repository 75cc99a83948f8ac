import type { Attributes, OtlpKeyValue, SpanAnomaly, SpanOrigin, StoredSpan } from '../../store/span-types.js';
import type { AttributesOut } from './any-value.js';

/** Shared by the JSON and protobuf decoders: times, the resource/scope context, and the final span record. */

const UINT64_MAX = 2n ** 64n - 1n;

/** A time as drover keeps it: microseconds, plus the exact nanoseconds when they are not `us * 1000`. */
export interface Time {
  us: number;
  nanos?: string;
}

/** Nanoseconds (exact) to a Time. */
export function timeOfNanos(ns: bigint): Time {
  const us = ns / 1000n;
  const n = Number(us);
  return ns % 1000n === 0n && Number.isSafeInteger(n) ? { us: n } : { us: n, nanos: ns.toString() };
}

/** A decimal nanosecond string (already checked to be digits) to a Time; null when outside uint64. */
export function timeOfDecimal(s: string): Time | null {
  // The common case (19 digits, whole microseconds or not) without BigInt.
  if (s.length <= 19 && s.length > 3 && s.charCodeAt(0) !== 48) {
    const us = Number(s.slice(0, -3));
    if (Number.isSafeInteger(us)) return s.endsWith('000') ? { us } : { us, nanos: s };
  }
  const ns = BigInt(s);
  return ns > UINT64_MAX ? null : timeOfNanos(ns);
}

/** The resource and scope every span of one ScopeSpans shares. */
export interface Origin {
  resource: Attributes;
  service: string | null;
  resourceRun: string | null;
  scope: string | null;
  /** null when nothing but the resource attributes and scope name came. */
  extra: SpanOrigin | undefined;
}

export function originOf(
  resourceAttributes: AttributesOut,
  r: { schemaUrl?: string; droppedAttributesCount?: number },
  s: { name?: string; version?: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number; schemaUrl?: string },
): Origin {
  const { attributes: resource, typed } = resourceAttributes;
  const service = resource['service.name'];
  const run = resource['drover.run.id'];
  const extra: SpanOrigin = {};
  if (r.schemaUrl) extra.resourceSchemaUrl = r.schemaUrl;
  if (r.droppedAttributesCount) extra.resourceDroppedAttributesCount = r.droppedAttributesCount;
  if (typed) extra.resourceTypedAttributes = typed;
  if (s.version) extra.scopeVersion = s.version;
  if (s.attributes?.length) extra.scopeAttributes = s.attributes;
  if (s.droppedAttributesCount) extra.scopeDroppedAttributesCount = s.droppedAttributesCount;
  if (s.schemaUrl) extra.scopeSchemaUrl = s.schemaUrl;
  return {
    resource,
    service: typeof service === 'string' ? service : null,
    resourceRun: typeof run === 'string' ? run : null,
    scope: s.name || null,
    extra: Object.keys(extra).length ? extra : undefined,
  };
}

/** Fields of one span as decoded; `start`/`end` null when not sent. */
export interface SpanParts {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  start: Time | null;
  end: Time | null;
  attributes: AttributesOut;
  statusCode: number;
  statusMessage: string | null;
  events: StoredSpan['events'];
  links: StoredSpan['links'];
  traceState?: string;
  flags?: number;
  droppedAttributesCount?: number;
  droppedEventsCount?: number;
  droppedLinksCount?: number;
}

/**
 * The stored record: what came, as it came. A missing start time is stored as 0 and flagged;
 * an end before the start is kept (a negative duration) and flagged.
 */
export function storedSpanOf(p: SpanParts, o: Origin): StoredSpan {
  const { attributes, typed } = p.attributes;
  const runAttr = attributes['drover.run.id'];
  const startUs = p.start?.us ?? 0;
  const endUs = p.end?.us ?? startUs;
  const anomalies: SpanAnomaly[] = [];
  if (!p.start) anomalies.push('start_time_missing');
  if (!p.end) anomalies.push('end_time_missing');
  if (p.start && p.end && (endUs < startUs || (endUs === startUs && BigInt(p.end.nanos ?? 0) < BigInt(p.start.nanos ?? 0))))
    anomalies.push('end_before_start');
  const s: StoredSpan = {
    traceId: p.traceId,
    spanId: p.spanId,
    parentSpanId: p.parentSpanId,
    name: p.name,
    kind: p.kind,
    startUs,
    endUs,
    statusCode: p.statusCode,
    statusMessage: p.statusMessage,
    service: o.service,
    scope: o.scope,
    attributes,
    resource: o.resource,
    events: p.events,
    runId: typeof runAttr === 'string' ? runAttr : o.resourceRun,
  };
  if (p.start?.nanos) s.startNanos = p.start.nanos;
  if (p.end?.nanos) s.endNanos = p.end.nanos;
  if (p.traceState) s.traceState = p.traceState;
  if (p.flags) s.flags = p.flags;
  if (p.droppedAttributesCount) s.droppedAttributesCount = p.droppedAttributesCount;
  if (p.droppedEventsCount) s.droppedEventsCount = p.droppedEventsCount;
  if (p.droppedLinksCount) s.droppedLinksCount = p.droppedLinksCount;
  if (p.links?.length) s.links = p.links;
  if (typed) s.typedAttributes = typed;
  if (o.extra) s.origin = o.extra;
  if (anomalies.length) s.anomalies = anomalies;
  return s;
}

/** An event or link's attributes: plain map plus the exact list when needed. */
export function withAttributes<T extends object>(
  target: T,
  { attributes, typed }: AttributesOut,
): T & { attributes: Attributes; typedAttributes?: OtlpKeyValue[] } {
  const out = target as T & { attributes: Attributes; typedAttributes?: OtlpKeyValue[] };
  out.attributes = attributes;
  if (typed) out.typedAttributes = typed;
  return out;
}
