import { STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { type Comparison, compare, describeValue } from './compare.js';
import { describeSelector, predicate } from './selector.js';
import type { Assertion, Spec } from './spec.js';
import { describeSpan, TraceIndex } from './trace-index.js';

export interface AssertionResult {
  name: string;
  where: string;
  passed: boolean;
  /** How many spans the assertion selected. */
  selected: number;
  /** Why it failed, naming the spans and links at fault (empty when it passed). */
  failures: string[];
}

export interface SpecResult {
  spec: string;
  passed: boolean;
  spans: number;
  traces: number;
  results: AssertionResult[];
  durationMs: number;
}

const MAX_LISTED = 5;

function listed(items: string[]): string[] {
  return items.length > MAX_LISTED ? [...items.slice(0, MAX_LISTED), `… and ${items.length - MAX_LISTED} more`] : items;
}

/** Evaluates every assertion of a spec over a set of spans. Pure: no I/O. */
export function evaluateSpec(spec: Spec, spans: StoredSpan[]): SpecResult {
  const started = performance.now();
  const index = new TraceIndex(spans);
  const results = spec.assertions.map((a) => evaluateAssertion(a, index));
  return {
    spec: spec.name,
    passed: results.every((r) => r.passed),
    spans: spans.length,
    traces: index.traces.size,
    results,
    durationMs: Math.round(performance.now() - started),
  };
}

function evaluateAssertion(a: Assertion, index: TraceIndex): AssertionResult {
  const pick = a.select ? predicate(a.select) : undefined;
  const selected = pick ? index.spans.filter((s) => pick(s, index)) : index.spans;
  const failures: string[] = [];
  const e = a.expect;
  const what = describeSelector(a.select);
  if (selected.length === 0 && e.count === undefined && !a.optional) {
    failures.push(`selected no spans (${what}); mark the assertion optional if that is allowed`);
  }
  if (e.count && !compare(selected.length, e.count)) {
    failures.push(`expected count ${e.count.text}, found ${selected.length} (${what})`);
  }
  if (e.attributes) {
    for (const [k, c] of Object.entries(e.attributes)) {
      const bad = selected.filter((s) => !compare(s.attributes[k] ?? s.resource[k], c));
      if (bad.length)
        failures.push(
          ...listed(bad.map((s) => `${describeSpan(s)}: ${k} is ${describeValue(s.attributes[k] ?? s.resource[k])}, expected ${c.text}`)),
        );
    }
  }
  if (e.duration) {
    const c = e.duration as Comparison;
    const bad = selected.filter((s) => !compare((s.endUs - s.startUs) / 1000, c));
    if (bad.length)
      failures.push(
        ...listed(bad.map((s) => `${describeSpan(s)}: took ${((s.endUs - s.startUs) / 1000).toFixed(1)} ms, expected ${c.text}`)),
      );
  }
  if (e.status) {
    const bad = selected.filter((s) => STATUS_NAMES[s.statusCode] !== e.status);
    if (bad.length) {
      failures.push(
        ...listed(
          bad.map(
            (s) =>
              `${describeSpan(s)}: status ${STATUS_NAMES[s.statusCode]}${s.statusMessage ? ` (${s.statusMessage})` : ''}, expected ${e.status}`,
          ),
        ),
      );
    }
  }
  if (e.sameTrace) failures.push(...sameTrace(selected, index));
  if (e.ancestor) {
    const sel = e.ancestor;
    const isAncestor = predicate(sel);
    for (const s of selected) {
      if (!index.findAncestor(s, (anc) => isAncestor(anc, index))) {
        const ancestors = index.ancestors(s);
        const chain = [s, ...ancestors].map((x) => `'${x.name}'`).join(' ← ');
        const top = ancestors[ancestors.length - 1] ?? s;
        const why = index.isOrphan(top) ? `its parent ${top.parentSpanId} is missing` : `${describeSpan(top)} starts a new trace`;
        failures.push(`${describeSpan(s)} has no ancestor among ${describeSelector(sel)}: chain ${chain}; ${why}`);
      }
    }
  }
  if (e.sum) {
    for (const [k, c] of Object.entries(e.sum)) {
      const total = selected.reduce((n, s) => n + (typeof s.attributes[k] === 'number' ? (s.attributes[k] as number) : 0), 0);
      if (!compare(total, c)) failures.push(`sum of ${k} over ${selected.length} spans is ${round(total)}, expected ${c.text}`);
    }
  }
  const needTraces = e.oneRootPerTrace || e.noOrphans;
  const traces = !needTraces ? [] : a.select ? [...new Set(selected.map((s) => s.traceId))] : [...index.traces.keys()];
  if (e.oneRootPerTrace) {
    for (const t of traces) {
      const roots = (index.traces.get(t) ?? []).filter((s) => index.isRoot(s));
      if (roots.length !== 1) {
        failures.push(
          roots.length === 0
            ? `trace ${t} has no root span (every span's parent is missing)`
            : `trace ${t} has ${roots.length} roots: ${roots.map(describeSpan).join(', ')}`,
        );
      }
    }
  }
  if (e.noOrphans) {
    for (const t of traces) {
      const orphans = (index.traces.get(t) ?? []).filter((s) => index.isOrphan(s));
      failures.push(...listed(orphans.map((s) => `${describeSpan(s)} in trace ${t} names parent ${s.parentSpanId}, which is not there`)));
    }
  }
  return { name: a.name, where: a.where, passed: failures.length === 0, selected: selected.length, failures };
}

/**
 * All selected spans in one trace. When not, name the broken link: the span that
 * began another trace (a root, usually a server span whose caller's context did not
 * arrive), next to where the first trace's spans come from.
 */
function sameTrace(selected: StoredSpan[], index: TraceIndex): string[] {
  const byTrace = new Map<string, StoredSpan[]>();
  for (const s of selected) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
  if (byTrace.size <= 1) return [];
  const traces = [...byTrace.entries()].sort((a, b) => (a[1][0]?.startUs ?? 0) - (b[1][0]?.startUs ?? 0));
  const [firstId] = traces[0] as [string, StoredSpan[]];
  const firstRoot = (index.traces.get(firstId) ?? []).find((s) => index.isRoot(s));
  const out = [`selected spans are in ${byTrace.size} traces, expected one`];
  for (const [id] of traces.slice(1)) {
    const root = (index.traces.get(id) ?? []).find((s) => index.isRoot(s));
    const start = root ?? (index.traces.get(id) ?? [])[0];
    out.push(
      `broken link: ${start ? describeSpan(start) : 'a span'} started new trace ${id} instead of joining trace ${firstId}` +
        `${firstRoot ? ` (root ${describeSpan(firstRoot)})` : ''}: trace context did not propagate into ${start?.service ? `service ${start.service}` : 'it'}`,
    );
  }
  return out;
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;
