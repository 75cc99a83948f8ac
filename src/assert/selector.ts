import { SPAN_KIND_NAMES, STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { type Comparison, compare, spanValue } from './compare.js';
import { printable } from './text.js';
import type { TraceIndex } from './trace-index.js';

export interface Selector {
  name?: { exact?: string; regex?: RegExp; text: string };
  service?: string;
  kind?: (typeof SPAN_KIND_NAMES)[number];
  status?: (typeof STATUS_NAMES)[number];
  attributes?: Record<string, Comparison>;
  parent?: Selector;
  ancestor?: Selector;
  root?: boolean;
}

export type Predicate = (s: StoredSpan, index: TraceIndex) => boolean;
const compiled = new WeakMap<Selector, Predicate>();

/** A selector turned once into a chain of checks (cheapest first), reused for every span. */
function compile(sel: Selector): Predicate {
  const checks: Predicate[] = [];
  const name = sel.name;
  if (name?.regex) {
    const re = name.regex;
    checks.push((s) => re.test(s.name));
  } else if (name) {
    const exact = name.exact;
    checks.push((s) => s.name === exact);
  }
  if (sel.kind !== undefined) {
    const kind = SPAN_KIND_NAMES.indexOf(sel.kind);
    checks.push((s) => s.kind === kind);
  }
  if (sel.service !== undefined) {
    const service = sel.service;
    checks.push((s) => s.service === service);
  }
  if (sel.status !== undefined) {
    const code = STATUS_NAMES.indexOf(sel.status);
    checks.push((s) => s.statusCode === code);
  }
  if (sel.root !== undefined) {
    const root = sel.root;
    checks.push((s) => (s.parentSpanId === null) === root);
  }
  for (const [k, c] of Object.entries(sel.attributes ?? {})) checks.push((s) => compare(spanValue(s, k), c));
  if (sel.parent) {
    const parent = predicate(sel.parent);
    checks.push((s, index) => {
      const p = index.parent(s);
      return p !== undefined && parent(p, index);
    });
  }
  if (sel.ancestor) {
    const anc = predicate(sel.ancestor);
    checks.push((s, index) => index.nearestAncestor(s, anc) !== undefined);
  }
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0] as Predicate;
  return (s, index) => {
    for (const check of checks) if (!check(s, index)) return false;
    return true;
  };
}

/** The selector as one predicate, compiled on first use. Loops should take it once, not per span. */
export function predicate(sel: Selector): Predicate {
  let p = compiled.get(sel);
  if (!p) {
    p = compile(sel);
    compiled.set(sel, p);
  }
  return p;
}

export function matches(s: StoredSpan, sel: Selector, index: TraceIndex): boolean {
  return predicate(sel)(s, index);
}

export function describeSelector(sel: Selector | undefined): string {
  if (!sel) return 'all spans';
  const parts: string[] = [];
  if (sel.name) parts.push(`name ${printable(sel.name.text)}`);
  if (sel.service) parts.push(`service ${printable(sel.service)}`);
  if (sel.kind) parts.push(`kind ${sel.kind}`);
  if (sel.status) parts.push(`status ${sel.status}`);
  if (sel.root !== undefined) parts.push(sel.root ? 'root' : 'not root');
  for (const [k, c] of Object.entries(sel.attributes ?? {})) parts.push(`${printable(k)} ${printable(c.text)}`);
  if (sel.parent) parts.push(`parent [${describeSelector(sel.parent)}]`);
  if (sel.ancestor) parts.push(`ancestor [${describeSelector(sel.ancestor)}]`);
  return parts.length ? `spans with ${parts.join(', ')}` : 'all spans';
}

/**
 * Why a selector matches no span: the parts that alone match nothing (`name "GET /chekout"
 * matches no span`), else that no span has them all at once. Names a typo instead of letting it
 * pass for a broken link.
 */
export function whyNoMatch(sel: Selector, index: TraceIndex): string {
  const parts: [string, Selector][] = [];
  if (sel.name) parts.push([`name ${printable(sel.name.text)}`, { name: sel.name }]);
  if (sel.service !== undefined) parts.push([`service ${printable(sel.service)}`, { service: sel.service }]);
  if (sel.kind !== undefined) parts.push([`kind ${sel.kind}`, { kind: sel.kind }]);
  if (sel.status !== undefined) parts.push([`status ${sel.status}`, { status: sel.status }]);
  if (sel.root !== undefined) parts.push([sel.root ? 'root' : 'not root', { root: sel.root }]);
  for (const [k, c] of Object.entries(sel.attributes ?? {}))
    parts.push([`${printable(k)} ${printable(c.text)}`, { attributes: { [k]: c } }]);
  if (sel.parent) parts.push([`parent [${describeSelector(sel.parent)}]`, { parent: sel.parent }]);
  if (sel.ancestor) parts.push([`ancestor [${describeSelector(sel.ancestor)}]`, { ancestor: sel.ancestor }]);
  const none = parts.filter(([, one]) => index.countMatching(predicate(one)) === 0).map(([what]) => what);
  if (none.length) return `no span has ${none.join(' or ')}`;
  return `no span has ${parts.map(([what]) => what).join(' and ')} at once`;
}
