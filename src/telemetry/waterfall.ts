import type { StoredSpan } from '../store/index.js';

export interface TraceNode {
  span: StoredSpan;
  depth: number;
  children: TraceNode[];
  /** Its parent id names a span that is not in the set. */
  orphan: boolean;
}

/** Spans as trees (roots and orphans at the top), children in start order. */
export function buildTree(spans: StoredSpan[]): TraceNode[] {
  const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
  const nodes = new Map<StoredSpan, TraceNode>();
  for (const s of spans) nodes.set(s, { span: s, depth: 0, children: [], orphan: false });
  const tops: TraceNode[] = [];
  for (const s of spans) {
    const node = nodes.get(s) as TraceNode;
    const parent = s.parentSpanId ? byId.get(`${s.traceId}/${s.parentSpanId}`) : undefined;
    if (parent) (nodes.get(parent) as TraceNode).children.push(node);
    else {
      node.orphan = s.parentSpanId !== null;
      tops.push(node);
    }
  }
  const byStart = (a: TraceNode, b: TraceNode) => a.span.startUs - b.span.startUs;
  const setDepth = (n: TraceNode, d: number) => {
    n.depth = d;
    n.children.sort(byStart);
    for (const c of n.children) setDepth(c, d + 1);
  };
  tops.sort(byStart);
  for (const t of tops) setDepth(t, 0);
  return tops;
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

/** An indented waterfall: name, a bar placed on the trace's timeline, duration, key facts; errors in red. */
export function renderWaterfall(spans: StoredSpan[], options: WaterfallOptions = {}): string {
  if (spans.length === 0) return 'no spans';
  const width = options.width ?? 32;
  const red = (t: string) => (options.color ? `\u001b[31m${t}\u001b[39m` : t);
  const dim = (t: string) => (options.color ? `\u001b[2m${t}\u001b[22m` : t);
  const t0 = Math.min(...spans.map((s) => s.startUs));
  const t1 = Math.max(...spans.map((s) => s.endUs));
  const total = Math.max(1, t1 - t0);
  const lines: string[] = [];
  const traces = new Set(spans.map((s) => s.traceId));
  lines.push(
    dim(`${traces.size === 1 ? `trace ${[...traces][0]}` : `${traces.size} traces`} · ${spans.length} spans · ${formatMicros(total)}`),
  );
  const walk = (n: TraceNode) => {
    const s = n.span;
    const from = Math.floor(((s.startUs - t0) / total) * width);
    const len = Math.max(1, Math.round(((s.endUs - s.startUs) / total) * width));
    const bar = `${' '.repeat(from)}${'█'.repeat(Math.min(len, width - from))}`.padEnd(width);
    const name = `${'  '.repeat(n.depth)}${s.name}`;
    const shown = name.length > 46 ? `${name.slice(0, 45)}…` : name.padEnd(46);
    const error =
      s.statusCode === 2 ? ` ✗ ${s.attributes['error.type'] ?? ''}${s.statusMessage ? ` ${s.statusMessage.slice(0, 60)}` : ''}` : '';
    const facts = keyFacts(s).join(' · ');
    const line = `${shown} ${bar} ${formatMicros(s.endUs - s.startUs).padStart(9)}${facts ? `  ${facts}` : ''}${n.orphan ? '  (parent missing)' : ''}`;
    lines.push(s.statusCode === 2 ? red(`${line}${error}`) : line);
    for (const c of n.children) walk(c);
  };
  for (const top of buildTree(spans)) walk(top);
  return lines.join('\n');
}

/** The same tree as JSON, for tools. */
export function treeJson(spans: StoredSpan[]): unknown[] {
  const toJson = (n: TraceNode): unknown => ({
    name: n.span.name,
    traceId: n.span.traceId,
    spanId: n.span.spanId,
    parentSpanId: n.span.parentSpanId,
    service: n.span.service,
    kind: n.span.kind,
    startUs: n.span.startUs,
    durationUs: n.span.endUs - n.span.startUs,
    status: n.span.statusCode,
    ...(n.orphan ? { orphan: true } : {}),
    attributes: n.span.attributes,
    children: n.children.map(toJson),
  });
  return buildTree(spans).map(toJson);
}
