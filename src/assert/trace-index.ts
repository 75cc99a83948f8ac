import type { StoredSpan } from '../store/index.js';

/** Spans with their links resolved: parent, children, per-trace roots, orphans. */
export class TraceIndex {
  private readonly byId = new Map<string, StoredSpan>();
  private readonly kids = new Map<string, StoredSpan[]>();
  readonly traces = new Map<string, StoredSpan[]>();

  constructor(readonly spans: StoredSpan[]) {
    for (const s of spans) {
      this.byId.set(key(s.traceId, s.spanId), s);
      const t = this.traces.get(s.traceId) ?? [];
      t.push(s);
      this.traces.set(s.traceId, t);
    }
    for (const s of spans) {
      if (!s.parentSpanId) continue;
      const k = key(s.traceId, s.parentSpanId);
      const list = this.kids.get(k) ?? [];
      list.push(s);
      this.kids.set(k, list);
    }
  }

  parent(s: StoredSpan): StoredSpan | undefined {
    return s.parentSpanId ? this.byId.get(key(s.traceId, s.parentSpanId)) : undefined;
  }

  children(s: StoredSpan): StoredSpan[] {
    return this.kids.get(key(s.traceId, s.spanId)) ?? [];
  }

  /** Has a parent id that is not among the spans. */
  isOrphan(s: StoredSpan): boolean {
    return s.parentSpanId !== null && !this.byId.has(key(s.traceId, s.parentSpanId));
  }

  isRoot(s: StoredSpan): boolean {
    return s.parentSpanId === null;
  }

  *ancestors(s: StoredSpan): Generator<StoredSpan> {
    let p = this.parent(s);
    const seen = new Set<StoredSpan>();
    while (p && !seen.has(p)) {
      seen.add(p);
      yield p;
      p = this.parent(p);
    }
  }
}

const key = (traceId: string, spanId: string) => `${traceId}/${spanId}`;

/** A short human name for a span in messages. */
export function describeSpan(s: StoredSpan): string {
  return `'${s.name}'${s.service ? ` (service ${s.service})` : ''}`;
}
