import { SPAN_KIND_NAMES, STATUS_NAMES, type StoredSpan } from '../store/index.js';
import { type Comparison, compare } from './compare.js';
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

export function matches(s: StoredSpan, sel: Selector, index: TraceIndex): boolean {
  if (sel.name && !(sel.name.regex ? sel.name.regex.test(s.name) : s.name === sel.name.exact)) return false;
  if (sel.service !== undefined && s.service !== sel.service) return false;
  if (sel.kind !== undefined && SPAN_KIND_NAMES[s.kind] !== sel.kind) return false;
  if (sel.status !== undefined && STATUS_NAMES[s.statusCode] !== sel.status) return false;
  if (sel.root !== undefined && (s.parentSpanId === null) !== sel.root) return false;
  if (sel.attributes) {
    for (const [k, c] of Object.entries(sel.attributes)) if (!compare(s.attributes[k] ?? s.resource[k], c)) return false;
  }
  if (sel.parent) {
    const p = index.parent(s);
    if (!p || !matches(p, sel.parent, index)) return false;
  }
  if (sel.ancestor) {
    let found = false;
    for (const a of index.ancestors(s)) {
      if (matches(a, sel.ancestor, index)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

export function describeSelector(sel: Selector | undefined): string {
  if (!sel) return 'all spans';
  const parts: string[] = [];
  if (sel.name) parts.push(`name ${sel.name.text}`);
  if (sel.service) parts.push(`service ${sel.service}`);
  if (sel.kind) parts.push(`kind ${sel.kind}`);
  if (sel.status) parts.push(`status ${sel.status}`);
  if (sel.root !== undefined) parts.push(sel.root ? 'root' : 'not root');
  for (const [k, c] of Object.entries(sel.attributes ?? {})) parts.push(`${k} ${c.text}`);
  if (sel.parent) parts.push(`parent [${describeSelector(sel.parent)}]`);
  if (sel.ancestor) parts.push(`ancestor [${describeSelector(sel.ancestor)}]`);
  return `spans with ${parts.join(', ')}`;
}
