import type { StoredSpan } from '../store/index.js';

/**
 * Spans with their links resolved once: parent pointers, children, traces.
 * Assertions walk these pointers (no string keys per lookup), which keeps a
 * 20-assertion spec over 100,000 spans well under a second.
 */
export class TraceIndex {
  private readonly parents = new Map<StoredSpan, StoredSpan>();
  private readonly orphans = new Set<StoredSpan>();
  private readonly kids = new Map<StoredSpan, StoredSpan[]>();
  readonly traces = new Map<string, StoredSpan[]>();

  constructor(readonly spans: StoredSpan[]) {
    // Span ids are random 64-bit values: one map by span id, checked against the trace id,
    // is cheaper than a map per trace. A clash between traces is resolved by the check.
    const byId = new Map<string, StoredSpan | StoredSpan[]>();
    for (const s of spans) {
      const seen = byId.get(s.spanId);
      if (seen === undefined) byId.set(s.spanId, s);
      else byId.set(s.spanId, Array.isArray(seen) ? [...seen, s] : [seen, s]);
      const t = this.traces.get(s.traceId);
      if (t) t.push(s);
      else this.traces.set(s.traceId, [s]);
    }
    const find = (traceId: string, spanId: string): StoredSpan | undefined => {
      const hit = byId.get(spanId);
      if (hit === undefined) return undefined;
      if (!Array.isArray(hit)) return hit.traceId === traceId ? hit : undefined;
      return hit.find((x) => x.traceId === traceId);
    };
    for (const s of spans) {
      if (s.parentSpanId === null) continue;
      const p = find(s.traceId, s.parentSpanId);
      if (!p) {
        this.orphans.add(s);
        continue;
      }
      this.parents.set(s, p);
      const list = this.kids.get(p);
      if (list) list.push(s);
      else this.kids.set(p, [s]);
    }
  }

  parent(s: StoredSpan): StoredSpan | undefined {
    return this.parents.get(s);
  }

  children(s: StoredSpan): StoredSpan[] {
    return this.kids.get(s) ?? [];
  }

  /** Has a parent id that is not among the spans. */
  isOrphan(s: StoredSpan): boolean {
    return this.orphans.has(s);
  }

  isRoot(s: StoredSpan): boolean {
    return s.parentSpanId === null;
  }

  /** Parent, grandparent, … (a cycle in bad data stops after as many steps as there are spans). */
  ancestors(s: StoredSpan): StoredSpan[] {
    const out: StoredSpan[] = [];
    let p = this.parents.get(s);
    while (p && out.length <= this.spans.length) {
      out.push(p);
      p = this.parents.get(p);
    }
    return out;
  }

  /** The first ancestor matching `test`, without building the chain. */
  findAncestor(s: StoredSpan, test: (a: StoredSpan) => boolean): StoredSpan | undefined {
    let p = this.parents.get(s);
    for (let steps = 0; p && steps <= this.spans.length; steps++) {
      if (test(p)) return p;
      p = this.parents.get(p);
    }
    return undefined;
  }
}

/** A short human name for a span in messages. */
export function describeSpan(s: StoredSpan): string {
  return `'${s.name}'${s.service ? ` (service ${s.service})` : ''}`;
}
