import { InputError, readInputFile } from '../core/index.js';
import { type AttrValue, SPAN_KIND_NAMES, STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { TraceIndex } from './trace-index.js';

/** The structure of a trace: names, parent links, key attributes. No ids, no times. */
export interface GoldenNode {
  name: string;
  kind: string;
  service?: string;
  status?: string;
  attributes?: Record<string, AttrValue>;
  children: GoldenNode[];
}

export interface GoldenTrace {
  golden: 1;
  roots: GoldenNode[];
}

/** Attributes that describe what a span is (not what it measured). */
export const GOLDEN_ATTRIBUTES = [
  'gen_ai.operation.name',
  'gen_ai.agent.name',
  'gen_ai.request.model',
  'gen_ai.tool.name',
  'drover.call.kind',
  'drover.phase',
  'drover.call.reused',
  'http.request.method',
  'http.route',
  'http.response.status_code',
  'db.system',
  'rpc.method',
  'messaging.system',
];

const signature = (n: GoldenNode) => `${n.name}\u0000${n.kind}\u0000${n.service ?? ''}`;
const order = (a: GoldenNode, b: GoldenNode) =>
  signature(a).localeCompare(signature(b)) || JSON.stringify(a.attributes ?? {}).localeCompare(JSON.stringify(b.attributes ?? {}));

export function toGolden(spans: StoredSpan[]): GoldenTrace {
  const index = new TraceIndex(spans);
  const node = (s: StoredSpan): GoldenNode => {
    const attributes: Record<string, AttrValue> = {};
    for (const k of GOLDEN_ATTRIBUTES) if (s.attributes[k] !== undefined) attributes[k] = s.attributes[k] as AttrValue;
    return {
      name: s.name,
      kind: SPAN_KIND_NAMES[s.kind] ?? 'unspecified',
      ...(s.service ? { service: s.service } : {}),
      ...(s.statusCode === 2 ? { status: STATUS_NAMES[2] } : {}),
      ...(Object.keys(attributes).length ? { attributes } : {}),
      children: index.children(s).map(node).sort(order),
    };
  };
  // Orphans count as roots of the structure: their missing parent is part of what is compared.
  const roots = spans.filter((s) => index.isRoot(s) || index.isOrphan(s));
  return { golden: 1, roots: roots.map(node).sort(order) };
}

/** Reads a golden file written by `drover trace golden save`. */
export function loadGolden(file: string): GoldenTrace {
  const text = readInputFile(file, 'golden trace', (m) => new InputError(m));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not a golden trace (${(err as Error).message})`);
  }
  if (!value || (value as GoldenTrace).golden !== 1 || !Array.isArray((value as GoldenTrace).roots)) {
    throw new InputError(`${file}: not a golden trace (make one with drover trace golden save <run|trace> ${file})`);
  }
  return value as GoldenTrace;
}

/** A readable structural diff: one line per missing, unexpected or changed span. Empty when equal. */
export function diffGolden(expected: GoldenTrace, actual: GoldenTrace): string[] {
  const out: string[] = [];
  diffChildren(expected.roots, actual.roots, '(trace)', out);
  return out;
}

function label(n: GoldenNode): string {
  return `'${n.name}'${n.service ? ` [${n.service}]` : ''}`;
}

function diffChildren(expected: GoldenNode[], actual: GoldenNode[], path: string, out: string[]): void {
  const groups = new Map<string, { e: GoldenNode[]; a: GoldenNode[] }>();
  for (const n of expected) {
    const g = groups.get(signature(n)) ?? { e: [], a: [] };
    g.e.push(n);
    groups.set(signature(n), g);
  }
  for (const n of actual) {
    const g = groups.get(signature(n)) ?? { e: [], a: [] };
    g.a.push(n);
    groups.set(signature(n), g);
  }
  for (const { e, a } of groups.values()) {
    const n = Math.min(e.length, a.length);
    for (let i = 0; i < n; i++) diffNode(e[i] as GoldenNode, a[i] as GoldenNode, path, out);
    for (const missing of e.slice(n))
      out.push(
        `- missing under ${path}: ${label(missing)}${missing.children.length ? ` (with ${countAll(missing) - 1} spans below)` : ''}`,
      );
    for (const extra of a.slice(n))
      out.push(`+ unexpected under ${path}: ${label(extra)}${extra.children.length ? ` (with ${countAll(extra) - 1} spans below)` : ''}`);
  }
}

function diffNode(e: GoldenNode, a: GoldenNode, parentPath: string, out: string[]): void {
  const path = `${parentPath} > ${label(e)}`;
  if ((e.status ?? 'ok') !== (a.status ?? 'ok')) out.push(`~ ${path}: status ${e.status ?? 'ok'} → ${a.status ?? 'ok'}`);
  const keys = new Set([...Object.keys(e.attributes ?? {}), ...Object.keys(a.attributes ?? {})]);
  for (const k of keys) {
    const ev = e.attributes?.[k];
    const av = a.attributes?.[k];
    if (JSON.stringify(ev) !== JSON.stringify(av))
      out.push(`~ ${path}: ${k} ${JSON.stringify(ev) ?? '(absent)'} → ${JSON.stringify(av) ?? '(absent)'}`);
  }
  diffChildren(e.children, a.children, path, out);
}

function countAll(n: GoldenNode): number {
  return 1 + n.children.reduce((t, c) => t + countAll(c), 0);
}
