import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Attributes, StoredSpan } from '../store/index.js';

const micros = (t: [number, number]) => t[0] * 1_000_000 + Math.floor(t[1] / 1000);

/** The OTel API numbers kinds from 0 (internal); OTLP from 1. */
const KIND: Record<SpanKind, number> = {
  [SpanKind.INTERNAL]: 1,
  [SpanKind.SERVER]: 2,
  [SpanKind.CLIENT]: 3,
  [SpanKind.PRODUCER]: 4,
  [SpanKind.CONSUMER]: 5,
};

/** One plain copy per Resource object, so the store stringifies a run's resource once. */
const resources = new WeakMap<object, Attributes>();
function resourceOf(span: ReadableSpan): Attributes {
  let r = resources.get(span.resource);
  if (!r) {
    r = { ...span.resource.attributes } as Attributes;
    resources.set(span.resource, r);
  }
  return r;
}

export function toStoredSpan(span: ReadableSpan): StoredSpan {
  const ctx = span.spanContext();
  // The SDK never changes an ended span's attributes: no copy needed.
  const attributes = span.attributes as Attributes;
  const resource = resourceOf(span);
  const run = attributes['drover.run.id'];
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    name: span.name,
    kind: KIND[span.kind] ?? 1,
    startUs: micros(span.startTime),
    endUs: micros(span.endTime),
    statusCode: span.status.code,
    statusMessage: span.status.message ?? null,
    service: typeof resource['service.name'] === 'string' ? resource['service.name'] : null,
    scope: span.instrumentationScope.name,
    attributes,
    resource,
    events: span.events.length
      ? span.events.map((e) => ({ timeUs: micros(e.time), name: e.name, attributes: (e.attributes ?? {}) as Attributes }))
      : [],
    runId: typeof run === 'string' ? run : null,
  };
}

/** Hands every ended span to `sink` (the journal), so a call's span commits with its result. */
export class StoreSpanProcessor implements SpanProcessor {
  constructor(private readonly sink: (span: StoredSpan) => void) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.sink(toStoredSpan(span));
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
