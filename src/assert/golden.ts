import { InputError, readInputFile } from '../core/index.js';
import { type AttrValue, SPAN_KIND_NAMES, STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { EXECUTION, SpanForest } from '../telemetry/index.js';
import { printable } from './text.js';

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

/** Siblings in a stable order: name, kind, service, then attributes. Keys computed once per node. */
function sortSiblings(nodes: GoldenNode[]): void {
  if (nodes.length < 2) return;
  const key = new Map(nodes.map((n) => [n, [signature(n), JSON.stringify(n.attributes ?? {})] as const]));
  nodes.sort((a, b) => {
    const [sa, aa] = key.get(a) as readonly [string, string];
    const [sb, ab] = key.get(b) as readonly [string, string];
    return sa.localeCompare(sb) || aa.localeCompare(ab);
  });
}

/**
 * Spans a golden file leaves out, with everything below them: what differs between executions of
 * one run, not what the run did — its `execution <n>` spans, and earlier attempts of a call that ran
 * again after a crash or a failure (`drover.attempt.superseded`). So a resumed run compares equal to
 * an uninterrupted one.
 */
function executionArtifact(s: StoredSpan): boolean {
  if (s.scope !== 'drover') return false;
  const a = s.attributes;
  return typeof a[EXECUTION.state] === 'string' || a[EXECUTION.superseded] === true;
}

/** A trace's structure (no ids, no times). Built without recursion: any depth. */
export function toGolden(spans: StoredSpan[]): GoldenTrace {
  const forest = new SpanForest(spans);
  const hidden = new Uint8Array(spans.length);
  const nodes: GoldenNode[] = spans.map((s) => {
    const attributes: Record<string, AttrValue> = {};
    for (const k of GOLDEN_ATTRIBUTES) if (s.attributes[k] !== undefined) attributes[k] = s.attributes[k] as AttrValue;
    return {
      name: s.name,
      kind: SPAN_KIND_NAMES[s.kind] ?? 'unspecified',
      ...(s.service ? { service: s.service } : {}),
      ...(s.statusCode === 2 ? { status: STATUS_NAMES[2] } : {}),
      ...(Object.keys(attributes).length ? { attributes } : {}),
      children: [],
    };
  });
  // Orphans (and loop cuts) count as roots of the structure: their missing parent is part of what is compared.
  const roots: GoldenNode[] = [];
  for (const i of forest.order) {
    const p = forest.parent(i);
    // Parents come first in `order`: a hidden span hides its subtree.
    if (executionArtifact(spans[i] as StoredSpan) || (p >= 0 && hidden[p])) {
      hidden[i] = 1;
      continue;
    }
    (p < 0 ? roots : (nodes[p] as GoldenNode).children).push(nodes[i] as GoldenNode);
  }
  for (const n of nodes) sortSiblings(n.children);
  sortSiblings(roots);
  return { golden: 1, roots };
}

/** Reads a golden file written by `drover trace golden save`. Throws `InputError` (exit 2) naming what is wrong. */
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
  // Every node checked, without recursion (a golden file of a deep chain nests deeply).
  const stack: [unknown, string][] = (value as GoldenTrace).roots.map((n, i) => [n, `roots[${i}]`]);
  while (stack.length > 0) {
    const [n, where] = stack.pop() as [unknown, string];
    const node = n as Partial<GoldenNode> | null;
    if (
      !node ||
      typeof node !== 'object' ||
      typeof node.name !== 'string' ||
      typeof node.kind !== 'string' ||
      !Array.isArray(node.children)
    )
      throw new InputError(`${file}: ${where}: not a golden span (needs name, kind and children)`);
    if (
      node.attributes !== undefined &&
      (typeof node.attributes !== 'object' || node.attributes === null || Array.isArray(node.attributes))
    )
      throw new InputError(`${file}: ${where}.attributes: must be an object`);
    node.children.forEach((c, i) => {
      stack.push([c, `${where}.children[${i}]`]);
    });
  }
  return value as GoldenTrace;
}

/**
 * Where a node sits, as a linked list: rendered only when a line is written, and shortened
 * past eight levels (`(trace) > 'a' > 'b' > … 49,990 more … > 'x' > 'y'`), so a diff of a
 * 50,000-deep chain costs O(1) per line, not O(depth).
 */
interface Path {
  label: string;
  parent: Path | undefined;
  depth: number;
  /** The ancestor at depth 2 (for the head of a shortened path). */
  anchor: Path | undefined;
}

const HEAD = 3;
const TAIL = 3;

function child(parent: Path, label: string): Path {
  const depth = parent.depth + 1;
  const p: Path = { label, parent, depth, anchor: undefined };
  p.anchor = depth === HEAD - 1 ? p : parent.anchor;
  return p;
}

function render(p: Path): string {
  const up = (from: Path | undefined, n: number): string[] => {
    const out: string[] = [];
    for (let q = from; q && out.length < n; q = q.parent) out.push(q.label);
    return out.reverse();
  };
  if (p.depth < HEAD + TAIL + 2) return up(p, p.depth + 1).join(' > ');
  const hidden = p.depth + 1 - HEAD - TAIL;
  return [...up(p.anchor, HEAD), `… ${hidden.toLocaleString('en-US')} more …`, ...up(p, TAIL)].join(' > ');
}

/** A readable structural diff: one line per missing, unexpected or changed span. Empty when equal. No recursion. */
export function diffGolden(expected: GoldenTrace, actual: GoldenTrace): string[] {
  const out: string[] = [];
  type Task = { children: [GoldenNode[], GoldenNode[], Path] } | { node: [GoldenNode, GoldenNode, Path] } | { line: string };
  const root: Path = { label: '(trace)', parent: undefined, depth: 0, anchor: undefined };
  const tasks: Task[] = [{ children: [expected.roots, actual.roots, root] }];
  // A stack of tasks in the order a recursive walk would do them (pushed in reverse).
  while (tasks.length > 0) {
    const t = tasks.pop() as Task;
    if ('line' in t) {
      out.push(t.line);
      continue;
    }
    if ('node' in t) {
      const [e, a, path] = t.node;
      if ((e.status ?? 'ok') !== (a.status ?? 'ok')) out.push(`~ ${render(path)}: status ${e.status ?? 'ok'} → ${a.status ?? 'ok'}`);
      const keys = new Set([...Object.keys(e.attributes ?? {}), ...Object.keys(a.attributes ?? {})]);
      for (const k of keys) {
        const ev = e.attributes?.[k];
        const av = a.attributes?.[k];
        if (JSON.stringify(ev) !== JSON.stringify(av))
          out.push(
            `~ ${render(path)}: ${printable(k)} ${printable(JSON.stringify(ev) ?? '(absent)')} → ${printable(JSON.stringify(av) ?? '(absent)')}`,
          );
      }
      tasks.push({ children: [e.children, a.children, path] });
      continue;
    }
    const [expectedKids, actualKids, path] = t.children;
    const groups = new Map<string, { e: GoldenNode[]; a: GoldenNode[] }>();
    for (const n of expectedKids) {
      const g = groups.get(signature(n)) ?? { e: [], a: [] };
      g.e.push(n);
      groups.set(signature(n), g);
    }
    for (const n of actualKids) {
      const g = groups.get(signature(n)) ?? { e: [], a: [] };
      g.a.push(n);
      groups.set(signature(n), g);
    }
    const next: Task[] = [];
    for (const { e, a } of groups.values()) {
      const n = Math.min(e.length, a.length);
      for (let i = 0; i < n; i++) next.push({ node: [e[i] as GoldenNode, a[i] as GoldenNode, child(path, label(e[i] as GoldenNode))] });
      for (const missing of e.slice(n)) {
        const below = countAll(missing) - 1;
        next.push({ line: `- missing under ${render(path)}: ${label(missing)}${below ? ` (with ${below} spans below)` : ''}` });
      }
      for (const extra of a.slice(n)) {
        const below = countAll(extra) - 1;
        next.push({ line: `+ unexpected under ${render(path)}: ${label(extra)}${below ? ` (with ${below} spans below)` : ''}` });
      }
    }
    for (let i = next.length - 1; i >= 0; i--) tasks.push(next[i] as Task);
  }
  return out;
}

function label(n: GoldenNode): string {
  return `'${printable(n.name)}'${n.service ? ` [${printable(n.service)}]` : ''}`;
}

/** Nodes in a subtree, itself included (no recursion). */
function countAll(n: GoldenNode): number {
  let count = 0;
  const stack = [n];
  while (stack.length > 0) {
    const x = stack.pop() as GoldenNode;
    count++;
    for (const c of x.children) stack.push(c);
  }
  return count;
}
