import type { OtlpKeyValue, SpanEvent, SpanLink, StoredSpan } from '../../store/span-types.js';
import { DROVER_DOUBLE_ATTRIBUTES } from '../genai.js';
import { toKeyValues } from './any-value.js';

/** Nanoseconds as a decimal string: the exact ones when kept, else µs × 1000 (exact past 2^53). */
const nanos = (us: number, exact?: string): string => exact ?? (us === 0 ? '0' : `${Math.round(us)}000`);

const attributesOut = (plain: StoredSpan['attributes'], typed: OtlpKeyValue[] | undefined): OtlpKeyValue[] =>
  typed ?? toKeyValues(plain, DROVER_DOUBLE_ATTRIBUTES);

function eventOut(e: SpanEvent) {
  return {
    timeUnixNano: nanos(e.timeUs, e.timeNanos),
    name: e.name,
    attributes: attributesOut(e.attributes, e.typedAttributes),
    ...(e.droppedAttributesCount ? { droppedAttributesCount: e.droppedAttributesCount } : {}),
  };
}

function linkOut(l: SpanLink) {
  return {
    traceId: l.traceId,
    spanId: l.spanId,
    ...(l.traceState ? { traceState: l.traceState } : {}),
    attributes: attributesOut(l.attributes, l.typedAttributes),
    ...(l.droppedAttributesCount ? { droppedAttributesCount: l.droppedAttributesCount } : {}),
    ...(l.flags ? { flags: l.flags } : {}),
  };
}

function spanOut(s: StoredSpan) {
  const missing = s.anomalies ?? [];
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.traceState ? { traceState: s.traceState } : {}),
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    ...(s.flags ? { flags: s.flags } : {}),
    name: s.name,
    kind: s.kind,
    ...(missing.includes('start_time_missing') ? {} : { startTimeUnixNano: nanos(s.startUs, s.startNanos) }),
    ...(missing.includes('end_time_missing') ? {} : { endTimeUnixNano: nanos(s.endUs, s.endNanos) }),
    attributes: attributesOut(s.attributes, s.typedAttributes),
    ...(s.droppedAttributesCount ? { droppedAttributesCount: s.droppedAttributesCount } : {}),
    events: s.events.map(eventOut),
    ...(s.droppedEventsCount ? { droppedEventsCount: s.droppedEventsCount } : {}),
    ...(s.links?.length ? { links: s.links.map(linkOut) } : {}),
    ...(s.droppedLinksCount ? { droppedLinksCount: s.droppedLinksCount } : {}),
    status: { code: s.statusCode, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
  };
}

/** The OTLP/JSON shape `spansToOtlpJson` writes (also what drover reads). */
export interface OtlpJsonRequest {
  resourceSpans: {
    resource: { attributes: OtlpKeyValue[]; droppedAttributesCount?: number };
    scopeSpans: {
      scope: { name: string; version?: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number };
      spans: ReturnType<typeof spanOut>[];
      schemaUrl?: string;
    }[];
    schemaUrl?: string;
  }[];
}

/**
 * Standard OTLP/JSON (ExportTraceServiceRequest), spans grouped by resource and scope, every
 * stored field written back: int64 values as decimal strings (exact), doubles as numbers (a
 * whole-number double stays a `doubleValue`), bytes as base64, nanosecond times, links, trace
 * state, flags, dropped counts, scope version/attributes and schema URLs. Spans in store order.
 */
export function spansToOtlpJson(spans: StoredSpan[]): OtlpJsonRequest {
  const byResource = new Map<string, { first: StoredSpan; scopes: Map<string, { first: StoredSpan; spans: StoredSpan[] }> }>();
  for (const s of spans) {
    const o = s.origin ?? {};
    const rk = JSON.stringify([s.resource, o.resourceTypedAttributes, o.resourceDroppedAttributesCount, o.resourceSchemaUrl]);
    let r = byResource.get(rk);
    if (!r) {
      r = { first: s, scopes: new Map() };
      byResource.set(rk, r);
    }
    const sk = JSON.stringify([s.scope, o.scopeVersion, o.scopeAttributes, o.scopeDroppedAttributesCount, o.scopeSchemaUrl]);
    const group = r.scopes.get(sk);
    if (group) group.spans.push(s);
    else r.scopes.set(sk, { first: s, spans: [s] });
  }
  return {
    resourceSpans: [...byResource.values()].map(({ first, scopes }) => {
      const o = first.origin ?? {};
      return {
        resource: {
          attributes: o.resourceTypedAttributes ?? toKeyValues(first.resource),
          ...(o.resourceDroppedAttributesCount ? { droppedAttributesCount: o.resourceDroppedAttributesCount } : {}),
        },
        scopeSpans: [...scopes.values()].map(({ first: f, spans: list }) => {
          const so = f.origin ?? {};
          return {
            scope: {
              name: f.scope ?? '',
              ...(so.scopeVersion ? { version: so.scopeVersion } : {}),
              ...(so.scopeAttributes?.length ? { attributes: so.scopeAttributes } : {}),
              ...(so.scopeDroppedAttributesCount ? { droppedAttributesCount: so.scopeDroppedAttributesCount } : {}),
            },
            spans: list.map(spanOut),
            ...(so.scopeSchemaUrl ? { schemaUrl: so.scopeSchemaUrl } : {}),
          };
        }),
        ...(o.resourceSchemaUrl ? { schemaUrl: o.resourceSchemaUrl } : {}),
      };
    }),
  };
}
