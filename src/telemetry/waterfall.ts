/**
 * @module Spans as trees: the parent links resolved once ({@link SpanForest}), the terminal
 * waterfall of `drover trace show` and its JSON tree. Nothing here recurses on span depth:
 * a parent chain 50,000 spans deep is walked with explicit stacks and arrays.
 */
import type { StoredSpan } from '../store/index.js';

/**
 * Spans linked by their parent ids, once, in O(n): parent, children, depth, the top of each
 * tree, and DFS entry/exit numbers (pre-order), so `isAncestor` is O(1) and a pass over
 * `order` visits every parent before its children.
 *
 * Tops are roots (no parent id), orphans (the parent id names no span of that trace) and, in bad
 * data whose parent ids loop, the span with the smallest id in each loop (`inCycle`). A parent id is looked up in
 * the span's own trace; when two spans of a trace share a span id, children attach to the first.
 */
export class SpanForest {
  /** Parent index per span, -1 for none (a top's looping parent is still recorded). */
  private readonly parentOf: Int32Array;
  private readonly flags: Uint8Array;
  private readonly childStart: Int32Array;
  private readonly childList: Int32Array;
  /** Span indices in DFS pre-order: parents before children, each subtree contiguous. */
  readonly order: Int32Array;
  /** Distance from the span's top (a top is 0). */
  readonly depth: Int32Array;
  /** Pre-order position (DFS entry number) and the last position of its subtree (exit number). */
  readonly enter: Int32Array;
  readonly exit: Int32Array;
  /** The top of each span's tree (itself for a top). */
  readonly top: Int32Array;
  readonly tops: number[] = [];
  readonly indexOf = new Map<StoredSpan, number>();

  constructor(readonly spans: readonly StoredSpan[]) {
    const n = spans.length;
    this.parentOf = new Int32Array(n).fill(-1);
    this.flags = new Uint8Array(n);
    // Span ids are random 64-bit values: one map by span id, checked against the trace id,
    // is cheaper than a map per trace. A clash between traces is resolved by the check.
    const byId = new Map<string, number | number[]>();
    for (let i = 0; i < n; i++) {
      const s = spans[i] as StoredSpan;
      this.indexOf.set(s, i);
      const seen = byId.get(s.spanId);
      if (seen === undefined) byId.set(s.spanId, i);
      else if (Array.isArray(seen)) seen.push(i);
      else byId.set(s.spanId, [seen, i]);
    }
    const find = (traceId: string, spanId: string): number => {
      const hit = byId.get(spanId);
      if (hit === undefined) return -1;
      if (!Array.isArray(hit)) return (spans[hit] as StoredSpan).traceId === traceId ? hit : -1;
      for (const j of hit) if ((spans[j] as StoredSpan).traceId === traceId) return j;
      return -1;
    };
    const counts = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const s = spans[i] as StoredSpan;
      if (s.parentSpanId === null) continue;
      const p = find(s.traceId, s.parentSpanId);
      if (p < 0) this.flags[i] = ORPHAN;
      else {
        this.parentOf[i] = p;
        counts[p + 1] = (counts[p + 1] as number) + 1;
      }
    }
    // Children in input order, as one flat list (CSR): childList[childStart[p] .. childStart[p+1]).
    for (let i = 0; i < n; i++) counts[i + 1] = (counts[i + 1] as number) + (counts[i] as number);
    this.childStart = counts.slice();
    this.childList = new Int32Array(Math.max(0, counts[n] as number));
    const fill = counts;
    for (let i = 0; i < n; i++) {
      const p = this.parentOf[i] as number;
      if (p >= 0) {
        this.childList[fill[p] as number] = i;
        fill[p] = (fill[p] as number) + 1;
      }
    }
    this.order = new Int32Array(n);
    this.depth = new Int32Array(n);
    this.enter = new Int32Array(n).fill(-1);
    this.exit = new Int32Array(n);
    this.top = new Int32Array(n);
    let pos = 0;
    const stack: number[] = [];
    const visit = (t: number) => {
      this.tops.push(t);
      stack.push(t);
      this.depth[t] = 0;
      this.top[t] = t;
      while (stack.length > 0) {
        const v = stack.pop() as number;
        this.enter[v] = pos;
        this.order[pos++] = v;
        const from = this.childStart[v] as number;
        for (let k = (this.childStart[v + 1] as number) - 1; k >= from; k--) {
          const c = this.childList[k] as number;
          if ((this.enter[c] as number) >= 0 || c === t) continue; // the edge that closes a loop
          this.depth[c] = (this.depth[v] as number) + 1;
          this.top[c] = t;
          stack.push(c);
        }
      }
    };
    for (let i = 0; i < n; i++) if (this.parentOf[i] === -1) visit(i);
    // What is left hangs under a loop of parent ids: walk up to the loop, cut it there.
    if (pos < n) {
      const walk = new Int32Array(n).fill(-1);
      for (let i = 0; i < n; i++) {
        if ((this.enter[i] as number) >= 0) continue;
        let v = i;
        while (walk[v] !== i) {
          walk[v] = i;
          v = this.parentOf[v] as number;
        }
        // Cut the loop at its smallest span id, so the cut does not depend on input order.
        let cut = v;
        for (let u = this.parentOf[v] as number; u !== v; u = this.parentOf[u] as number)
          if ((spans[u] as StoredSpan).spanId < (spans[cut] as StoredSpan).spanId) cut = u;
        this.flags[cut] = (this.flags[cut] as number) | CYCLE;
        visit(cut);
      }
    }
    for (let p = n - 1; p >= 0; p--) {
      const v = this.order[p] as number;
      let last = p;
      const from = this.childStart[v] as number;
      for (let k = (this.childStart[v + 1] as number) - 1; k >= from; k--) {
        const c = this.childList[k] as number;
        if (this.top[c] === c) continue;
        last = Math.max(last, this.exit[c] as number);
      }
      this.exit[v] = last;
    }
  }

  /** The parent's index, or -1 for a top. */
  parent(i: number): number {
    return this.top[i] === i ? -1 : (this.parentOf[i] as number);
  }

  /** Children's indices, in input order (a loop's cut edge excluded). */
  children(i: number): number[] {
    const out: number[] = [];
    for (let k = this.childStart[i] as number; k < (this.childStart[i + 1] as number); k++) {
      const c = this.childList[k] as number;
      if (this.top[c] !== c) out.push(c);
    }
    return out;
  }

  /** Its parent id names no span of its trace. */
  isOrphan(i: number): boolean {
    return ((this.flags[i] as number) & ORPHAN) !== 0;
  }

  /** A top only because its parent ids loop back to it. */
  inCycle(i: number): boolean {
    return ((this.flags[i] as number) & CYCLE) !== 0;
  }

  /** `a` is a proper ancestor of `d` (O(1), by DFS entry/exit numbers). */
  isAncestor(a: number, d: number): boolean {
    return a !== d && (this.enter[a] as number) < (this.enter[d] as number) && (this.exit[d] as number) <= (this.exit[a] as number);
  }
}

const ORPHAN = 1;
const CYCLE = 2;

export interface TraceNode {
  span: StoredSpan;
  depth: number;
  children: TraceNode[];
  /** Its parent id names a span that is not in the set. */
  orphan: boolean;
  /** Its parent ids loop back to it (bad data); shown at the top, like an orphan. */
  cycle?: boolean;
}

/** Spans as trees (roots, orphans and loop cuts at the top), children in start order. No recursion. */
export function buildTree(spans: StoredSpan[]): TraceNode[] {
  const forest = new SpanForest(spans);
  const nodes: TraceNode[] = spans.map((span, i) => ({
    span,
    depth: forest.depth[i] as number,
    children: [],
    orphan: forest.isOrphan(i),
    ...(forest.inCycle(i) ? { cycle: true } : {}),
  }));
  const tops: TraceNode[] = [];
  for (const i of forest.order) {
    const p = forest.parent(i);
    if (p < 0) tops.push(nodes[i] as TraceNode);
    else (nodes[p] as TraceNode).children.push(nodes[i] as TraceNode);
  }
  const byStart = (a: TraceNode, b: TraceNode) => a.span.startUs - b.span.startUs;
  for (const node of nodes) if (node.children.length > 1) node.children.sort(byStart);
  tops.sort(byStart);
  return tops;
}

/** Nodes in display order (each before its children, siblings in order), without recursion. */
export function* preOrder(tops: TraceNode[]): Generator<TraceNode> {
  const stack = [...tops].reverse();
  while (stack.length > 0) {
    const n = stack.pop() as TraceNode;
    yield n;
    for (let k = n.children.length - 1; k >= 0; k--) stack.push(n.children[k] as TraceNode);
  }
}

export function formatMicros(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 1 : 0)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** The few attributes worth a glance, per kind of span. */
export function keyFacts(s: StoredSpan): string[] {
  const a = s.attributes;
  const out: string[] = [];
  const model = a['gen_ai.response.model'] ?? a['gen_ai.request.model'];
  if (typeof model === 'string' && !s.name.includes(model)) out.push(model);
  const inTok = a['gen_ai.usage.input_tokens'];
  const outTok = a['gen_ai.usage.output_tokens'];
  if (typeof inTok === 'number' || typeof outTok === 'number') out.push(`${inTok ?? 0}/${outTok ?? 0} tok`);
  const cost = a['drover.cost.usd'];
  if (typeof cost === 'number' && cost > 0) out.push(`$${cost < 0.01 ? cost.toFixed(5) : cost.toFixed(3)}`);
  if (a['drover.call.reused'] === true) out.push('reused');
  if (typeof a['drover.sh.exit_code'] === 'number') out.push(`exit ${a['drover.sh.exit_code']}`);
  const status = a['http.response.status_code'];
  if (status !== undefined) out.push(`HTTP ${status}`);
  if (s.service && s.service !== 'drover') out.push(`[${s.service}]`);
  return out;
}

export interface WaterfallOptions {
  width?: number;
  color?: boolean;
}

/** Indentation stops growing here; deeper spans show their depth instead (`·57 name`). */
const MAX_INDENT = 16;

/** Terminal control characters in span data are shown, not obeyed (`\x1b` as `\u001b`). */
const visible = (t: string) =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  t.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * An indented waterfall: name, a bar placed on the trace's timeline, duration, key facts; errors
 * in red. Indentation stops at 16 levels; deeper spans show their depth (`·57 name`).
 */
export function renderWaterfall(spans: StoredSpan[], options: WaterfallOptions = {}): string {
  if (spans.length === 0) return 'no spans';
  const width = options.width ?? 32;
  const red = (t: string) => (options.color ? `\u001b[31m${t}\u001b[39m` : t);
  const dim = (t: string) => (options.color ? `\u001b[2m${t}\u001b[22m` : t);
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  for (const s of spans) {
    if (s.startUs < t0) t0 = s.startUs;
    if (s.endUs > t1) t1 = s.endUs;
  }
  const total = Math.max(1, t1 - t0);
  const lines: string[] = [];
  const traces = new Set(spans.map((s) => s.traceId));
  lines.push(
    dim(`${traces.size === 1 ? `trace ${[...traces][0]}` : `${traces.size} traces`} · ${spans.length} spans · ${formatMicros(total)}`),
  );
  for (const n of preOrder(buildTree(spans))) {
    const s = n.span;
    const from = Math.max(0, Math.min(width - 1, Math.floor(((s.startUs - t0) / total) * width)));
    const len = Math.max(1, Math.round(((s.endUs - s.startUs) / total) * width));
    const bar = `${' '.repeat(from)}${'█'.repeat(Math.max(0, Math.min(len, width - from)))}`.padEnd(width);
    const indent = n.depth <= MAX_INDENT ? '  '.repeat(n.depth) : `${'  '.repeat(MAX_INDENT - 1)}·${n.depth} `;
    const name = `${indent}${visible(s.name)}`;
    const shown = name.length > 46 ? `${name.slice(0, 45)}…` : name.padEnd(46);
    const error =
      s.statusCode === 2
        ? ` ✗ ${visible(String(s.attributes['error.type'] ?? ''))}${s.statusMessage ? ` ${visible(s.statusMessage.slice(0, 60))}` : ''}`
        : '';
    const facts = visible(keyFacts(s).join(' · '));
    const mark = n.orphan ? '  (parent missing)' : n.cycle ? '  (parent ids loop)' : '';
    const line = `${shown} ${bar} ${formatMicros(s.endUs - s.startUs).padStart(9)}${facts ? `  ${facts}` : ''}${mark}`;
    lines.push(s.statusCode === 2 ? red(`${line}${error}`) : line);
  }
  return lines.join('\n');
}

/** The same tree as JSON, for tools (nested `children`; serialize with `stringifyJson` for deep trees). */
export function treeJson(spans: StoredSpan[]): unknown[] {
  const tops = buildTree(spans);
  const json = new Map<TraceNode, { children: unknown[] }>();
  for (const n of preOrder(tops)) {
    const s = n.span;
    const children: unknown[] = [];
    json.set(n, {
      name: s.name,
      traceId: s.traceId,
      spanId: s.spanId,
      parentSpanId: s.parentSpanId,
      service: s.service,
      kind: s.kind,
      startUs: s.startUs,
      durationUs: s.endUs - s.startUs,
      status: s.statusCode,
      ...(n.orphan ? { orphan: true } : {}),
      ...(n.cycle ? { cycle: true } : {}),
      attributes: s.attributes,
      children,
    } as { children: unknown[] });
  }
  for (const [n, value] of json) for (const c of n.children) value.children.push(json.get(c));
  return tops.map((t) => json.get(t));
}
