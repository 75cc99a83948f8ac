import type { StoredSpan } from '../store/index.js';
import { SpanForest } from '../telemetry/index.js';
import { printable } from './text.js';

/** A test on spans that `nearestAncestor` can cache its answers for (a compiled selector). */
export type SpanTest = (s: StoredSpan, index: TraceIndex) => boolean;

/**
 * Spans with their links resolved once (a {@link SpanForest}): parent, children, traces, and
 * ancestor questions answered without walking chains. `nearestAncestor(s, test)` is O(1) after
 * one O(n) pass per test, and `isAncestor` is O(1) by DFS entry/exit numbers, so ancestor checks
 * stay linear on a 50,000-deep chain. Nothing recurses on span depth.
 */
export class TraceIndex {
  readonly forest: SpanForest;
  readonly traces = new Map<string, StoredSpan[]>();
  private readonly nearest = new WeakMap<SpanTest, Int32Array>();
  private readonly matchCounts = new WeakMap<SpanTest, number>();

  constructor(readonly spans: StoredSpan[]) {
    this.forest = new SpanForest(spans);
    for (const s of spans) {
      const t = this.traces.get(s.traceId);
      if (t) t.push(s);
      else this.traces.set(s.traceId, [s]);
    }
  }

  private at(s: StoredSpan): number {
    const i = this.forest.indexOf.get(s);
    if (i === undefined) throw new Error(`span ${s.spanId} is not in this index`);
    return i;
  }

  private span(i: number): StoredSpan | undefined {
    return i < 0 ? undefined : this.spans[i];
  }

  parent(s: StoredSpan): StoredSpan | undefined {
    return this.span(this.forest.parent(this.at(s)));
  }

  children(s: StoredSpan): StoredSpan[] {
    return this.forest.children(this.at(s)).map((i) => this.spans[i] as StoredSpan);
  }

  /** Has a parent id that is not among the spans of its trace. */
  isOrphan(s: StoredSpan): boolean {
    return this.forest.isOrphan(this.at(s));
  }

  /** Has no parent id. */
  isRoot(s: StoredSpan): boolean {
    return s.parentSpanId === null;
  }

  /** Its parent ids loop back to it (bad data); it stands at the top of its tree. */
  inCycle(s: StoredSpan): boolean {
    return this.forest.inCycle(this.at(s));
  }

  /** The top of the span's tree: its root, the orphan above it, or a loop's cut. */
  top(s: StoredSpan): StoredSpan {
    return this.spans[this.forest.top[this.at(s)] as number] as StoredSpan;
  }

  /** Parents between the span and its top (0 for a top). */
  depth(s: StoredSpan): number {
    return this.forest.depth[this.at(s)] as number;
  }

  /** `a` is a proper ancestor of `d`, in O(1). */
  isAncestor(a: StoredSpan, d: StoredSpan): boolean {
    return this.forest.isAncestor(this.at(a), this.at(d));
  }

  /** Parent, grandparent, … up to `limit` of them (all by default; the top is the last). */
  ancestors(s: StoredSpan, limit = Number.POSITIVE_INFINITY): StoredSpan[] {
    const out: StoredSpan[] = [];
    for (let i = this.forest.parent(this.at(s)); i >= 0 && out.length < limit; i = this.forest.parent(i))
      out.push(this.spans[i] as StoredSpan);
    return out;
  }

  /**
   * The nearest ancestor passing `test`. The first call for a `test` answers it for every span in
   * one pass (parents before children, `test` run once per span); later calls are O(1).
   */
  nearestAncestor(s: StoredSpan, test: SpanTest): StoredSpan | undefined {
    let near = this.nearest.get(test);
    if (!near) {
      const f = this.forest;
      near = new Int32Array(this.spans.length).fill(-1);
      const passes = new Uint8Array(this.spans.length);
      for (const v of f.order) {
        passes[v] = test(this.spans[v] as StoredSpan, this) ? 1 : 0;
        const p = f.parent(v);
        if (p >= 0) near[v] = passes[p] ? p : (near[p] as number);
      }
      this.nearest.set(test, near);
    }
    return this.span(near[this.at(s)] as number);
  }

  /** How many spans pass `test` (cached per test). */
  countMatching(test: SpanTest): number {
    let n = this.matchCounts.get(test);
    if (n === undefined) {
      n = 0;
      for (const s of this.spans) if (test(s, this)) n++;
      this.matchCounts.set(test, n);
    }
    return n;
  }

  /** Spans of a trace that pass `test`. */
  inTrace(traceId: string, test: SpanTest): StoredSpan[] {
    return (this.traces.get(traceId) ?? []).filter((s) => test(s, this));
  }
}

/** A short human name for a span in messages (terminal escapes removed, control characters shown). */
export function describeSpan(s: StoredSpan): string {
  return `'${printable(s.name)}'${s.service ? ` (service ${printable(s.service)})` : ''}`;
}
