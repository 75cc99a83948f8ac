import type { StoredSpan } from '../../store/span-types.js';
import { toKeyValues } from './any-value.js';

const nanos = (us: number) => `${Math.round(us)}000`;

/** Standard OTLP/JSON (ExportTraceServiceRequest), spans grouped by resource and scope. */
export function spansToOtlpJson(spans: StoredSpan[]) {
  const byResource = new Map<string, { resource: StoredSpan['resource']; scopes: Map<string, StoredSpan[]> }>();
  for (const s of spans) {
    const rk = JSON.stringify(s.resource);
    let r = byResource.get(rk);
    if (!r) {
      r = { resource: s.resource, scopes: new Map() };
      byResource.set(rk, r);
    }
    const sk = s.scope ?? '';
    const list = r.scopes.get(sk) ?? [];
    list.push(s);
    r.scopes.set(sk, list);
  }
  return {
    resourceSpans: [...byResource.values()].map((r) => ({
      resource: { attributes: toKeyValues(r.resource) },
      scopeSpans: [...r.scopes.entries()].map(([scope, list]) => ({
        scope: { name: scope },
        spans: list.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: nanos(s.startUs),
          endTimeUnixNano: nanos(s.endUs),
          attributes: toKeyValues(s.attributes),
          events: s.events.map((e) => ({ timeUnixNano: nanos(e.timeUs), name: e.name, attributes: toKeyValues(e.attributes) })),
          status: { code: s.statusCode, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
        })),
      })),
    })),
  };
}
