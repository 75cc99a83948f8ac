import { duplicateSpanIds, STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { type Comparison, compare, describeValue, durationMs, formatMs, readNumber, spanValue, typeHint } from './compare.js';
import { sameTrace } from './links.js';
import { describeSelector, predicate, type Selector, whyNoMatch } from './selector.js';
import type { Assertion, Spec } from './spec.js';
import { listed, printable } from './text.js';
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

/** Evaluates every assertion of a spec over a set of spans. Pure: no I/O. Linear in spans per check. */
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
  const whyNone = () => (a.select ? whyNoMatch(a.select, index) : 'there are no spans');
  if (selected.length === 0 && e.count === undefined && !a.optional) {
    failures.push(`selected no spans (${what}): ${whyNone()}; mark the assertion optional if that is allowed`);
  }
  if (e.count && !compare(selected.length, e.count)) {
    failures.push(`expected count ${e.count.text}, found ${selected.length} (${what}${selected.length === 0 ? `: ${whyNone()}` : ''})`);
  }
  if (e.attributes) {
    for (const [k, c] of Object.entries(e.attributes)) {
      const bad = selected.filter((s) => !compare(spanValue(s, k), c));
      failures.push(
        ...listed(bad, (s) => {
          const v = spanValue(s, k);
          return `${describeSpan(s)}: ${k} is ${describeValue(v)}${typeHint(v, c)}, expected ${c.text}`;
        }),
      );
    }
  }
  if (e.duration) {
    const c = e.duration as Comparison;
    const bad = selected.filter((s) => !compare(durationMs(s), c));
    failures.push(...listed(bad, (s) => `${describeSpan(s)}: took ${formatMs(durationMs(s))}, expected ${c.text}`));
  }
  if (e.status) {
    const bad = selected.filter((s) => STATUS_NAMES[s.statusCode] !== e.status);
    failures.push(
      ...listed(
        bad,
        (s) =>
          `${describeSpan(s)}: status ${STATUS_NAMES[s.statusCode] ?? s.statusCode}${s.statusMessage ? ` (${describeValue(s.statusMessage)})` : ''}, expected ${e.status}`,
      ),
    );
  }
  if (e.sameTrace) failures.push(...sameTrace(selected, index));
  if (e.ancestor) failures.push(...ancestorFailures(selected, e.ancestor, index));
  if (e.linkedTo) failures.push(...linkFailures(selected, e.linkedTo, index));
  if (e.sum) {
    for (const [k, c] of Object.entries(e.sum)) {
      let total = 0;
      let absent = 0;
      const notNumbers: StoredSpan[] = [];
      for (const s of selected) {
        const v = spanValue(s, k);
        if (v === undefined || v === null) absent++;
        else {
          const n = readNumber(v);
          if (n === undefined) notNumbers.push(s);
          else total += n;
        }
      }
      if (notNumbers.length) {
        failures.push(
          ...listed(notNumbers, (s) => `sum of ${k}: ${describeSpan(s)} has ${k} = ${describeValue(spanValue(s, k))}, not a number`),
        );
      } else if (!compare(total, c)) {
        failures.push(
          `sum of ${k} over ${selected.length} spans is ${round(total)}, expected ${c.text}${absent ? ` (${absent} of them have no ${k})` : ''}`,
        );
      }
    }
  }
  // Duplicate span ids make parent links ambiguous: checked with every structure check unless turned off.
  const noDuplicates = e.noDuplicateSpanIds ?? (e.oneRootPerTrace || e.noOrphans ? true : undefined);
  const needTraces = e.oneRootPerTrace || e.noOrphans || noDuplicates;
  const traces = !needTraces ? [] : a.select ? [...new Set(selected.map((s) => s.traceId))] : [...index.traces.keys()];
  if (e.oneRootPerTrace) for (const t of traces) failures.push(...rootFailures(t, index));
  if (e.noOrphans) {
    for (const t of traces) {
      const orphans = (index.traces.get(t) ?? []).filter((s) => index.isOrphan(s));
      failures.push(...listed(orphans, (s) => `${describeSpan(s)} in trace ${t} names parent ${s.parentSpanId}, which is not there`));
    }
  }
  if (noDuplicates) {
    for (const t of traces) {
      const dups = duplicateSpanIds(index.traces.get(t) ?? []);
      failures.push(
        ...listed(dups, (d) => {
          const names = [...new Set((index.traces.get(t) ?? []).filter((s) => s.spanId === d.spanId).map((s) => describeSpan(s)))];
          return `trace ${t}: ${d.copies} different spans share span id ${d.spanId} (${names.join(', ')})`;
        }),
      );
    }
  }
  return { name: a.name, where: a.where, passed: failures.length === 0, selected: selected.length, failures };
}

/** Spans by `traceId/spanId` (the first of duplicates), for link targets in any trace. */
const byIds = new WeakMap<TraceIndex, Map<string, StoredSpan>>();
function spanById(index: TraceIndex): Map<string, StoredSpan> {
  let m = byIds.get(index);
  if (!m) {
    m = new Map();
    for (const s of index.spans) {
      const k = `${s.traceId}/${s.spanId}`;
      if (!m.has(k)) m.set(k, s);
    }
    byIds.set(index, m);
  }
  return m;
}

/**
 * Each selected span needs a span link to a span passing `sel` (in any trace of the spans judged).
 * A selector that matches nothing is reported as such; otherwise the message names the links the
 * span has and why none fits (a target not among the spans, or one that does not match).
 */
function linkFailures(selected: StoredSpan[], sel: Selector, index: TraceIndex): string[] {
  const test = predicate(sel);
  const ids = spanById(index);
  const fits = (s: StoredSpan) =>
    (s.links ?? []).some((l) => {
      const target = ids.get(`${l.traceId}/${l.spanId}`);
      return target !== undefined && test(target, index);
    });
  const bad = selected.filter((s) => !fits(s));
  if (bad.length === 0) return [];
  const wanted = describeSelector(sel);
  if (index.countMatching(test) === 0) {
    return [
      `no span matches the linkedTo selector (${wanted}): ${whyNoMatch(sel, index)}; so none of the ${bad.length} selected span${bad.length === 1 ? '' : 's'} can link to it (check the selector)`,
    ];
  }
  return listed(bad, (s) => {
    const links = s.links ?? [];
    if (links.length === 0) return `${describeSpan(s)} has no links; expected a link to ${wanted}`;
    const seen = links.map((l) => {
      const target = ids.get(`${l.traceId}/${l.spanId}`);
      return target ? describeSpan(target) : `span ${l.spanId} of trace ${l.traceId}, which is not there`;
    });
    return `${describeSpan(s)} links to ${seen.join(', ')}; none matches ${wanted}`;
  });
}

/**
 * Each selected span needs an ancestor passing `sel`. One pass over the spans answers every
 * span (`nearestAncestor`). A selector that matches no span at all is reported as such (a typo),
 * not as a broken link; otherwise the message shows the chain and where it ends.
 */
function ancestorFailures(selected: StoredSpan[], sel: Selector, index: TraceIndex): string[] {
  const test = predicate(sel);
  const bad = selected.filter((s) => index.nearestAncestor(s, test) === undefined);
  if (bad.length === 0) return [];
  const wanted = describeSelector(sel);
  if (index.countMatching(test) === 0) {
    return [
      `no span matches the ancestor selector (${wanted}): ${whyNoMatch(sel, index)}; so none of the ${bad.length} selected span${bad.length === 1 ? '' : 's'} can have it above (check the selector)`,
    ];
  }
  return listed(bad, (s) => {
    const top = index.top(s);
    const inTrace = index.inTrace(s.traceId, test);
    const why =
      inTrace.length > 0
        ? `${describeSpan(inTrace[0] as StoredSpan)} matches in the same trace, but is not above it`
        : index.isOrphan(top)
          ? `its parent ${top.parentSpanId} is missing`
          : index.inCycle(top)
            ? `the parent ids loop at ${describeSpan(top)}`
            : `${describeSpan(top)} starts a new trace`;
    return `${describeSpan(s)} has no ancestor among ${wanted}: chain ${chain(s, index)}; ${why}`;
  });
}

/** `'a' ← 'b' ← … 49,990 more … ← 'root'`: the nearest six, then the top. */
function chain(s: StoredSpan, index: TraceIndex): string {
  const depth = index.depth(s);
  const name = (x: StoredSpan) => `'${printable(x.name)}'`;
  if (depth <= 7) return [s, ...index.ancestors(s)].map(name).join(' ← ');
  const near = [s, ...index.ancestors(s, 5)].map(name);
  return [...near, `… ${(depth - 6).toLocaleString('en-US')} more …`, name(index.top(s))].join(' ← ');
}

/** A trace needs exactly one root; with none, say why (which parent is missing, or a loop). */
function rootFailures(t: string, index: TraceIndex): string[] {
  const spans = index.traces.get(t) ?? [];
  const roots = spans.filter((s) => index.isRoot(s));
  if (roots.length === 1) return [];
  if (roots.length > 1) {
    return [`trace ${t} has ${roots.length} roots: ${listed(roots, describeSpan).join(', ')}`];
  }
  const orphans = spans.filter((s) => index.isOrphan(s));
  const loops = spans.filter((s) => index.inCycle(s));
  const why: string[] = [];
  if (orphans.length === spans.length) why.push("every span's parent is missing");
  else if (orphans.length === 1) {
    const o = orphans[0] as StoredSpan;
    const below = loops.length === 0 ? ` (the other ${spans.length - 1} spans hang below it)` : '';
    why.push(`${describeSpan(o)} names parent ${o.parentSpanId}, which is not there${below}`);
  } else if (orphans.length > 1) {
    why.push(
      `${orphans.length} of ${spans.length} spans name parents that are not there: ${listed(orphans, (o) => `${describeSpan(o)} (parent ${o.parentSpanId})`).join(', ')}`,
    );
  }
  if (loops.length)
    why.push(`the parent ids of ${listed(loops, describeSpan).join(', ')} lead back to ${loops.length === 1 ? 'itself' : 'themselves'}`);
  return [`trace ${t} has no root span: ${why.join('; ')}`];
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;
