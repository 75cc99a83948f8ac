/**
 * @module Where trace context stopped propagating, judged by links only.
 *
 * When selected spans sit in several traces, the break is where a call left one trace and its
 * receiver started another: a client or producer span with no child span (its callee never
 * joined) in one trace, and a trace whose root is a server or consumer span (a receiver that
 * got no context). Each such receiver is paired with the dangling call that fits it best (words
 * shared by names, routes, URLs, addresses and services), each call used once, no loops. Clocks
 * are never consulted: a service whose clock is off by seconds is judged the same.
 */
import type { StoredSpan } from '../store/index.js';
import { listed } from './text.js';
import { describeSpan, type TraceIndex } from './trace-index.js';

/** Beyond this many traces the links are not placed (the selection is likely too broad). */
const MAX_TRACES = 200;

const CLIENT = 3;
const PRODUCER = 4;
const SERVER = 2;
const CONSUMER = 5;

const CALL_WORDS = [
  'url.full',
  'http.url',
  'url.path',
  'server.address',
  'net.peer.name',
  'peer.service',
  'messaging.destination.name',
  'rpc.service',
  'rpc.method',
];
const RECEIVER_WORDS = [
  'http.route',
  'url.path',
  'http.target',
  'server.address',
  'net.host.name',
  'messaging.destination.name',
  'rpc.service',
  'rpc.method',
];

function words(s: StoredSpan, keys: string[], withService: boolean): Set<string> {
  const parts = [s.name, ...(withService && s.service ? [s.service] : [])];
  for (const k of keys) {
    const v = s.attributes[k];
    if (typeof v === 'string') parts.push(v);
  }
  return new Set(
    parts
      .join(' ')
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .filter((w) => w.length > 0),
  );
}

const isDb = (s: StoredSpan) => s.attributes['db.system'] !== undefined || s.attributes['db.system.name'] !== undefined;

interface Link {
  callee: string;
  receiver: StoredSpan;
  /** The dangling call, when one fits; several when they fit equally well. */
  callers: StoredSpan[];
}

/**
 * All selected spans in one trace. When not: one line saying how many traces, then one per
 * broken link — the receiver that started a new trace, the trace it should have joined, and
 * the call that should have carried the context — or, for traces no call leads to, that they
 * are not linked at all.
 */
export function sameTrace(selected: StoredSpan[], index: TraceIndex): string[] {
  const byTrace = new Map<string, number>();
  for (const s of selected) byTrace.set(s.traceId, (byTrace.get(s.traceId) ?? 0) + 1);
  if (byTrace.size <= 1) return [];
  const ids = [...byTrace.keys()].sort();
  const out = [`selected spans are in ${ids.length} traces, expected one`];
  if (ids.length > MAX_TRACES) {
    out.push(`too many traces to place the broken links (more than ${MAX_TRACES}); narrow the selection`);
    return out;
  }
  const rootOf = new Map<string, StoredSpan | undefined>();
  const calls: StoredSpan[] = [];
  for (const id of ids) {
    const spans = index.traces.get(id) ?? [];
    const roots = spans.filter((s) => index.isRoot(s));
    rootOf.set(id, roots.length === 1 ? roots[0] : undefined);
    for (const s of spans) if ((s.kind === CLIENT || s.kind === PRODUCER) && !isDb(s) && index.children(s).length === 0) calls.push(s);
  }
  const callWords = new Map(calls.map((c) => [c, words(c, CALL_WORDS, false)]));
  // Candidate pairs: a receiver root of one trace and a dangling call of another, scored.
  const links: (Link & { score: number })[] = [];
  for (const id of ids) {
    const r = rootOf.get(id);
    if (!r || (r.kind !== SERVER && r.kind !== CONSUMER)) continue;
    const rw = words(r, RECEIVER_WORDS, true);
    let best = -1;
    let callers: StoredSpan[] = [];
    for (const c of calls) {
      if (c.traceId === id) continue;
      let score = 0;
      for (const w of callWords.get(c) ?? []) if (rw.has(w)) score++;
      if (score > best) {
        best = score;
        callers = [c];
      } else if (score === best) callers.push(c);
    }
    if (callers.length) links.push({ callee: id, receiver: r, callers, score: best });
  }
  // Pair greedily, best fit first: each call carries one context; a trace's caller chain never loops.
  links.sort((a, b) => b.score - a.score || a.callers.length - b.callers.length || (a.callee < b.callee ? -1 : 1));
  const callerTrace = new Map<string, string>();
  const used = new Set<StoredSpan>();
  const placed: Link[] = [];
  const loops = (from: string, to: string) => {
    for (let t: string | undefined = from, steps = 0; t !== undefined && steps <= ids.length; t = callerTrace.get(t), steps++)
      if (t === to) return true;
    return false;
  };
  for (const l of links) {
    const free = l.callers.filter((c) => !used.has(c) && !loops(c.traceId, l.callee));
    if (free.length === 0) continue;
    const traces = new Set(free.map((c) => c.traceId));
    if (traces.size === 1) {
      const c = free[0] as StoredSpan;
      used.add(c);
      callerTrace.set(l.callee, c.traceId);
      placed.push({ ...l, callers: [c] });
    } else placed.push({ ...l, callers: free }); // equally good calls in several traces: name them all
  }
  const root = (id: string) => {
    const r = rootOf.get(id);
    return r ? ` (root ${describeSpan(r)})` : '';
  };
  out.push(
    ...listed(placed, (l) => {
      const into = l.receiver.service ? `service ${l.receiver.service}` : 'it';
      const head = `broken link: ${describeSpan(l.receiver)} started new trace ${l.callee}`;
      if (l.callers.length === 1) {
        const c = l.callers[0] as StoredSpan;
        return `${head} instead of joining trace ${c.traceId}${root(c.traceId)}: trace context did not propagate into ${into}; its caller is ${describeSpan(c)}, a ${c.kind === PRODUCER ? 'producer' : 'client'} span with no child`;
      }
      return `${head}: trace context did not propagate into ${into}; its caller is one of ${l.callers.map((c) => `${describeSpan(c)} in trace ${c.traceId}`).join(', ')} (links alone cannot tell which)`;
    }),
  );
  const linked = new Set(placed.map((l) => l.callee));
  const loose = ids.filter((id) => !linked.has(id));
  if (loose.length > 1) {
    out.push(
      `no call links ${loose.length} of the traces to each other: ${listed(loose, (id) => `trace ${id}${root(id)}`).join(', ')}` +
        ' (no client or producer span in one is missing the server or consumer span that starts another)',
    );
  }
  return out;
}
