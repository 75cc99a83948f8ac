/**
 * @module The trace waterfall, server side: a run's spans as display rows — collapsed to a depth,
 * short spans folded away, filtered by text — paged, without attributes (one span's attributes
 * come from {@link spanDetail}). The tree comes from telemetry's {@link SpanForest}, as `trace show`'s does.
 */
import { NotFoundError } from '../core/index.js';
import type { Store, StoredSpan } from '../store/index.js';
import { traceIdForRun } from '../telemetry/traceparent.js';
import { keyFacts, SpanForest } from '../telemetry/waterfall.js';

export interface SpanQueryOptions {
  /** Show spans down to this depth (0 = the roots); deeper ones are folded into their ancestor. */
  depth?: number;
  /** Fold spans shorter than this (µs), with everything under them. */
  minUs?: number;
  /** Keep only spans whose name, service or a key fact contains this text (case-insensitive), with their ancestors. */
  filter?: string;
  offset?: number;
  /** Rows per page, at most 2,000 (default 500). */
  limit?: number;
}

/** One waterfall row. Times in µs; costs in USD. */
export interface SpanRow {
  spanId: string;
  parentSpanId: string | null;
  name: string;
  depth: number;
  startUs: number;
  durationUs: number;
  /** 0 unset, 1 ok, 2 error. */
  status: number;
  service: string | null;
  facts: string[];
  /** Spans under this one that the depth or duration fold hides. */
  folded: number;
  /** This span matched the filter itself (not only kept as an ancestor of a match). */
  match: boolean;
  /** `drover.cost.usd` of this span and everything under it; null when none is priced. */
  costUsd: number | null;
  /** Its recorded end is before a descendant's (not written yet: a live run's workflow or phase): `durationUs` reaches that descendant. */
  open: boolean;
  /** On the critical path: the chain of latest-ending children from the root. */
  critical: boolean;
  /** Idle time before this span starts after its previous sibling (or parent) started work, µs: queue and retry gaps. */
  gapUs: number;
}

export interface SpanPage {
  traceId: string;
  /** Spans in the trace, and rows after folding and filtering. */
  spans: number;
  total: number;
  offset: number;
  limit: number;
  startUs: number;
  endUs: number;
  maxDepth: number;
  rows: SpanRow[];
}

/** A trace's tree worked out once: reused by every page, fold and filter until the trace changes. */
interface Prepared {
  traceId: string;
  spans: StoredSpan[];
  forest: SpanForest;
  /** Children of each span, by start time. */
  kids: number[][];
  tops: number[];
  /** Span indices in waterfall order (pre-order, children by start time). */
  pre: number[];
  /** Position in `pre` of the last span of each span's subtree. */
  subtreeEnd: Int32Array;
  cost: Float64Array;
  /** Each span's end or its latest descendant's, whichever is later (µs): a live run's open spans reach their children. */
  reach: Float64Array;
  priced: Uint8Array;
  critical: Uint8Array;
  /** Lower-cased name, service and key facts, for the filter (built on first use). */
  text?: string[];
  /** The last few queries' rows (depth, duration fold, filter), so paging through one is O(page). */
  views: Map<string, View>;
  startUs: number;
  endUs: number;
  maxDepth: number;
}

/** One query's rows over a prepared trace: shown spans in order, what each folds, which matched. */
interface View {
  shown: number[];
  folded: number[];
  match: Uint8Array;
}
const CACHED_VIEWS = 8;

/** The last few runs' prepared traces, with the store's change mark and span count they were built at. */
const cache = new Map<string, { store: Store; mark: string; count: number; prepared: Prepared }>();
const CACHED_TRACES = 4;

async function runSpans(store: Store, runId: string): Promise<{ traceId: string; spans: StoredSpan[] }> {
  if (!(await store.getRun(runId))) throw new NotFoundError(`run ${runId}`);
  const traceId = traceIdForRun(runId);
  // Outlines: a row needs no resource, events or attributes beyond its key facts (a span's whole
  // record comes from spanDetail), and reading them is what made a 20,000-span trace slow to open.
  return { traceId, spans: await store.spans.querySpanOutlines(traceId) };
}

/** Preparations in flight, by run: concurrent readers (the warm-up and the page's first read) share one. */
const inflight = new Map<string, { store: Store; mark: string; done: Promise<Prepared> }>();

/**
 * The run's trace, prepared (outlines: attributes are read per page). Still O(spans), so the result is kept
 * while the store's change mark stays (nothing written) or, when it moved, while the trace's
 * span count stays (something else was written). Readers arriving while it is being prepared at the
 * same mark wait for that preparation instead of starting their own.
 */
async function preparedTrace(store: Store, runId: string): Promise<Prepared> {
  const mark = await store.changeMark();
  const hit = cache.get(runId);
  if (hit && hit.store === store) {
    if (hit.mark === mark) return hit.prepared;
    const count = (await store.spans.listTraces({ runId })).find((t) => t.traceId === hit.prepared.traceId)?.spans ?? 0;
    if (count === hit.count) {
      hit.mark = mark;
      return hit.prepared;
    }
  }
  const running = inflight.get(runId);
  if (running && running.store === store && running.mark === mark) return running.done;
  const done = (async () => {
    const { traceId, spans } = await runSpans(store, runId);
    const prepared = prepare(traceId, spans);
    cache.delete(runId);
    cache.set(runId, { store, mark, count: spans.length, prepared });
    while (cache.size > CACHED_TRACES) cache.delete(cache.keys().next().value as string);
    return prepared;
  })();
  const entry = { store, mark, done };
  inflight.set(runId, entry);
  try {
    return await done;
  } finally {
    if (inflight.get(runId) === entry) inflight.delete(runId);
  }
}

/**
 * Starts preparing the run's trace without waiting (fire and forget): the run page asks for its
 * header first, so the waterfall's first page finds the trace prepared, or being prepared, by then.
 * Never throws; an unknown run or a failed read is reported by the page's own spans request.
 */
export function warmTrace(store: Store, runId: string): void {
  // After the current request's own reads: the header answers first, then the trace is read.
  setImmediate(() => {
    preparedTrace(store, runId).catch(() => {});
  });
}

function prepare(traceId: string, spans: StoredSpan[]): Prepared {
  const forest = new SpanForest(spans);
  const n = spans.length;
  // Children in start order, so pre-order is the waterfall's order.
  const kids: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    const p = forest.parent(i);
    if (p >= 0) (kids[p] as number[]).push(i);
  }
  const start = (i: number) => (spans[i] as StoredSpan).startUs;
  for (const k of kids) if (k.length > 1) k.sort((a, b) => start(a) - start(b));
  const tops = [...forest.tops].sort((a, b) => start(a) - start(b));
  const pre: number[] = [];
  const stack = [...tops].reverse();
  while (stack.length > 0) {
    const v = stack.pop() as number;
    pre.push(v);
    const k = kids[v] as number[];
    for (let j = k.length - 1; j >= 0; j--) stack.push(k[j] as number);
  }
  // Cost rolled up to each parent (children after parents in `pre`, so walk it backwards). An
  // agent span carries the sum of its chat spans' costs, so a span counts the larger of its own
  // cost and its children's: levels that both carry cost are not added twice.
  const own = new Float64Array(n);
  const below = new Float64Array(n);
  const priced = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = (spans[i] as StoredSpan).attributes['drover.cost.usd'];
    if (typeof c === 'number') {
      own[i] = c;
      priced[i] = 1;
    }
  }
  const cost = new Float64Array(n);
  for (let j = pre.length - 1; j >= 0; j--) {
    const v = pre[j] as number;
    cost[v] = Math.max(own[v] as number, below[v] as number);
    const p = forest.parent(v);
    if (p >= 0 && priced[v]) {
      below[p] = (below[p] as number) + (cost[v] as number);
      priced[p] = 1;
    }
  }
  // A span whose end is not written yet (a live run's workflow and phases are written when they end,
  // with their start time as a placeholder end) is drawn to its latest descendant, never shorter.
  const reach = new Float64Array(n);
  for (let j = pre.length - 1; j >= 0; j--) {
    const v = pre[j] as number;
    reach[v] = Math.max(reach[v] as number, (spans[v] as StoredSpan).endUs);
    const p = forest.parent(v);
    if (p >= 0 && (reach[v] as number) > (reach[p] as number)) reach[p] = reach[v] as number;
  }
  // Critical path: from each top, follow the child that ends last.
  const critical = new Uint8Array(n);
  for (const t of tops) {
    let v = t;
    for (;;) {
      critical[v] = 1;
      const k = kids[v] as number[];
      if (k.length === 0) break;
      let best = k[0] as number;
      for (const c of k) if ((spans[c] as StoredSpan).endUs > (spans[best] as StoredSpan).endUs) best = c;
      v = best;
    }
  }
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  let maxDepth = 0;
  for (let i = 0; i < n; i++) {
    const sp = spans[i] as StoredSpan;
    if (sp.startUs < t0) t0 = sp.startUs;
    if (sp.endUs > t1) t1 = sp.endUs;
    maxDepth = Math.max(maxDepth, forest.depth[i] as number);
  }
  const subtreeEnd = new Int32Array(n);
  for (let j = pre.length - 1; j >= 0; j--) {
    const v = pre[j] as number;
    const k = kids[v] as number[];
    subtreeEnd[v] = k.length === 0 ? j : (subtreeEnd[k[k.length - 1] as number] as number);
  }
  return {
    traceId,
    spans,
    forest,
    kids,
    tops,
    pre,
    subtreeEnd,
    cost,
    reach,
    priced,
    critical,
    views: new Map(),
    startUs: n ? t0 : 0,
    endUs: n ? t1 : 0,
    maxDepth,
  };
}

/**
 * The run's trace as waterfall rows (pre-order, children by start time). Throws NotFoundError for
 * an unknown run. O(n) per query over a trace prepared once; the page holds at most `limit` rows
 * and no attributes.
 */
export async function spanPage(store: Store, runId: string, options: SpanQueryOptions = {}): Promise<SpanPage> {
  const t = await preparedTrace(store, runId);
  const { spans, forest, kids, tops, cost, priced, critical } = t;
  const n = spans.length;
  const viewKey = JSON.stringify([options.depth ?? null, options.minUs ?? 0, options.filter?.trim().toLowerCase() ?? ''] as const);
  let view = t.views.get(viewKey);
  if (!view) {
    view = await foldView(store, t, options);
    t.views.set(viewKey, view);
    while (t.views.size > CACHED_VIEWS) t.views.delete(t.views.keys().next().value as string);
  }
  const { shown, folded, match } = view;
  const offset = Math.max(0, options.offset ?? 0);
  const limit = Math.min(2000, Math.max(1, options.limit ?? 500));
  const rows: SpanRow[] = [];
  const onPage = shown.slice(offset, offset + limit);
  const attrs = await store.spans.spanAttributes(onPage.map((v) => (spans[v] as StoredSpan).rowId ?? -1));
  for (let r = offset; r < Math.min(shown.length, offset + limit); r++) {
    const v = shown[r] as number;
    const sp = spans[v] as StoredSpan;
    const p = forest.parent(v);
    const siblings = p >= 0 ? (kids[p] as number[]) : tops;
    const at = siblings.indexOf(v);
    const prevEnd =
      at > 0 ? (spans[siblings[at - 1] as number] as StoredSpan).endUs : p >= 0 ? (spans[p] as StoredSpan).startUs : sp.startUs;
    rows.push({
      spanId: sp.spanId,
      parentSpanId: sp.parentSpanId,
      name: sp.name,
      depth: forest.depth[v] as number,
      startUs: sp.startUs,
      durationUs: (t.reach[v] as number) - sp.startUs,
      open: (t.reach[v] as number) > sp.endUs,
      status: sp.statusCode,
      service: sp.service,
      facts: keyFacts(withAttributes(sp, attrs)),
      folded: folded[r] as number,
      match: match[v] === 1,
      costUsd: priced[v] ? (cost[v] as number) : null,
      critical: critical[v] === 1,
      gapUs: Math.max(0, sp.startUs - prevEnd),
    });
  }
  return {
    traceId: t.traceId,
    spans: n,
    total: shown.length,
    offset,
    limit,
    startUs: t.startUs,
    endUs: t.endUs,
    maxDepth: t.maxDepth,
    rows,
  };
}

/** Which spans a query shows (pre-order), how many each folds away, and which matched the filter: O(spans). */
async function foldView(store: Store, t: Prepared, options: SpanQueryOptions): Promise<View> {
  const { spans, forest, pre, subtreeEnd } = t;
  const n = spans.length;
  // Filter: matches and their ancestors stay.
  const filter = options.filter?.trim().toLowerCase();
  const match = new Uint8Array(n);
  const keep = new Uint8Array(n).fill(filter ? 0 : 1);
  if (filter) {
    if (!t.text) {
      // The filter looks at every span's key facts: read every span's attributes, once per trace.
      const attrs = await store.spans.spanAttributes(spans.map((x) => x.rowId ?? -1));
      t.text = spans.map((x) => `${x.name}\n${x.service ?? ''}\n${keyFacts(withAttributes(x, attrs)).join(' ')}`.toLowerCase());
    }
    for (let i = 0; i < n; i++) {
      if (!(t.text[i] as string).includes(filter)) continue;
      match[i] = 1;
      for (let v = i; v >= 0 && !keep[v]; v = forest.parent(v)) keep[v] = 1;
    }
  }
  const depthLimit = options.depth ?? Number.POSITIVE_INFINITY;
  const minUs = options.minUs ?? 0;
  // One pass in pre-order: shown spans, and for each the spans folded under it (depth or duration).
  // A folded or filtered-out span is skipped with its whole subtree.
  const shown: number[] = [];
  const folded: number[] = [];
  const stack: number[] = []; // positions in `shown` of the current span's shown ancestors
  let j = 0;
  while (j < pre.length) {
    const v = pre[j] as number;
    const depth = forest.depth[v] as number;
    const end = subtreeEnd[v] as number;
    if (!keep[v]) {
      j = end + 1;
      continue;
    }
    while (stack.length > 0 && (forest.depth[shown[stack[stack.length - 1] as number] as number] as number) >= depth) stack.pop();
    const sp = spans[v] as StoredSpan;
    if (depth > depthLimit || (depth > 0 && (t.reach[v] as number) - sp.startUs < minUs)) {
      let count = 0;
      for (let q = j; q <= end; q++) if (keep[pre[q] as number]) count++;
      const owner = stack[stack.length - 1];
      if (owner !== undefined) folded[owner] = (folded[owner] as number) + count;
      j = end + 1;
      continue;
    }
    stack.push(shown.length);
    shown.push(v);
    folded.push(0);
    j++;
  }
  return { shown, folded, match };
}

/** An outline with its attributes read (`spanAttributes`), for `keyFacts`. */
function withAttributes(sp: StoredSpan, attrs: Map<number, StoredSpan['attributes']>): StoredSpan {
  const a = sp.rowId === undefined ? undefined : attrs.get(sp.rowId);
  return a ? { ...sp, attributes: a } : sp;
}

/** One span with its attributes and events. Throws NotFoundError for an unknown run or span. */
export async function spanDetail(store: Store, runId: string, spanId: string): Promise<StoredSpan> {
  if (!(await store.getRun(runId))) throw new NotFoundError(`run ${runId}`);
  const span = await store.spans.getSpan(traceIdForRun(runId), spanId);
  if (!span) throw new NotFoundError(`span ${spanId} of run ${runId}`);
  return span;
}
