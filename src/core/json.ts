/**
 * @module JSON text for values of any depth.
 *
 * `JSON.stringify` recurses natively and throws "Maximum call stack size exceeded" after a few
 * thousand levels of nesting (the span tree of a deep parent chain, a golden trace of it).
 * `stringifyJson` writes the same JSON at any depth.
 */
import { randomUUID } from 'node:crypto';

/** Values nested deeper than this are written as separate pieces and spliced in. */
const PIECE_DEPTH = 64;

/**
 * `JSON.stringify(value, null, indent)` that works at any depth. Plain data gives the same text
 * (`toJSON` honoured; `undefined`, functions and symbols dropped from objects, `null` in arrays),
 * except that a `bigint` is written as its exact digits (a JSON number) instead of throwing, and
 * that past 64 levels of nesting indentation starts again from the margin (still valid JSON; a
 * 50,000-deep chain indented in full would be billions of spaces). Throws `TypeError` on a cycle.
 */
export function stringifyJson(value: unknown, indent?: number): string {
  try {
    // The native writer is the fast path; it throws RangeError on deep nesting, TypeError on a bigint.
    return JSON.stringify(value, null, indent);
  } catch (err) {
    if (!(err instanceof RangeError) && !(err instanceof TypeError)) throw err;
  }
  return inPieces(value, indent);
}

/**
 * The native writer run on pieces: a replacer cuts every value nested `PIECE_DEPTH` below its
 * piece's top out into a piece of its own, leaving a placeholder (a per-call random marker, so
 * no string in the data can pose as one); the pieces are then spliced together without recursion.
 */
function inPieces(root: unknown, indent?: number): string {
  const marker = `\u0000${randomUUID()}:`;
  const pieces: unknown[] = [root];
  const raw = new Map<number, string>();
  const depth = new WeakMap<object, number>();
  /** The piece each piece was cut from (-1 for the first). */
  const from: number[] = [-1];
  const texts: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (raw.has(i)) {
      texts.push(raw.get(i) as string);
      continue;
    }
    const replacer = function (this: object, _key: string, value: unknown): unknown {
      if (typeof value === 'bigint') {
        from.push(i);
        raw.set(pieces.push(undefined) - 1, value.toString());
        return `${marker}${pieces.length - 1}`;
      }
      if (value === null || typeof value !== 'object') return value;
      // `this` is the holder, or for a piece's top the writer's wrapper (which has no depth).
      const above = depth.get(this);
      const d = above === undefined ? 0 : above + 1;
      if (d >= PIECE_DEPTH) {
        // A cycle through pieces is invisible to the native writer. Going round it, the cuts
        // come back to an object already cut above: look for it among the enclosing pieces' tops.
        for (let j = i; j >= 0; j = from[j] as number)
          if (pieces[j] === value) throw new TypeError('Converting circular structure to JSON');
        from.push(i);
        return `${marker}${pieces.push(value) - 1}`;
      }
      depth.set(value, d);
      return value;
    };
    texts.push(JSON.stringify(pieces[i], replacer, indent) ?? 'null');
  }
  // Splice: each piece's text split at its placeholders; an explicit stack walks them in order.
  const placeholder = new RegExp(`"${JSON.stringify(marker).slice(1, -1).replace(/\\/g, '\\\\')}(\\d+)"`, 'g');
  const parts = texts.map((t) => t.split(placeholder));
  const out: string[] = [];
  const stack: [number, number][] = [[0, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [number, number];
    const list = parts[top[0]] as string[];
    if (top[1] >= list.length) {
      stack.pop();
      continue;
    }
    const k = top[1]++;
    if (k % 2 === 1) stack.push([Number(list[k]), 0]);
    else out.push(list[k] as string);
  }
  return out.join('');
}

/**
 * How deep `value` nests (a scalar is 0, `[]` and `{}` are 1), counted without recursion, stopping
 * once past `limit`. Inputs from outside (`--args-json`, bodies) are refused past a limit before any
 * recursive code sees them.
 */
export function nestingDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, here]);
  }
  return deepest;
}

/** Where a value stops being plain JSON data, and what is there (see `nonJsonValue`). */
export interface NonJsonValue {
  /** Path from the value's top, `''` for the value itself: `.items[3].count`, `["a b"]`. */
  path: string;
  /** What is there, in words: `a BigInt (12n)`, `a function (render)`, `a Symbol (Symbol(id))`, `a cycle back to .parent`. */
  what: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * The first place (depth first, in key order) where `value` holds something JSON cannot keep: a
 * BigInt or a cycle (`JSON.stringify` throws), a function or a Symbol (it drops them silently, or
 * writes `null` in an array). `undefined` is not a problem (dropped from objects, like an absent
 * key). `toJSON` is honoured as JSON does. Walks without recursion, so any depth is fine.
 * Returns undefined when the value is plain data.
 */
export function nonJsonValue(value: unknown): NonJsonValue | undefined {
  type Frame = { v: unknown; key: string; path: string } | { exit: object };
  const stack: Frame[] = [{ v: value, key: '', path: '' }];
  const open = new Map<object, string>();
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    if ('exit' in frame) {
      open.delete(frame.exit);
      continue;
    }
    let v = frame.v;
    const { path } = frame;
    if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') v = toJSON.call(v, frame.key);
    }
    switch (typeof v) {
      case 'bigint':
        return { path, what: `a BigInt (${v}n)` };
      case 'symbol':
        return { path, what: `a Symbol (${v.toString()})` };
      case 'function':
        return { path, what: `a function${v.name ? ` (${v.name})` : ''}` };
      case 'object': {
        if (v === null) break;
        const back = open.get(v);
        if (back !== undefined) return { path, what: `a cycle back to ${back === '' ? 'the top' : back}` };
        open.set(v, path);
        stack.push({ exit: v });
        const children: Frame[] = Array.isArray(v)
          ? v.map((child, i) => ({ v: child, key: String(i), path: `${path}[${i}]` }))
          : Object.keys(v).map((k) => ({
              v: (v as Record<string, unknown>)[k],
              key: k,
              path: `${path}${IDENTIFIER.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`,
            }));
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Frame);
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

/**
 * Why `value` is not JSON data, in one sentence starting with `subject` (`the workflow's return
 * value`), or undefined when it is. For error messages: names the place and what to do.
 */
export function describeNonJson(value: unknown, subject: string): string | undefined {
  const found = nonJsonValue(value);
  if (!found) return undefined;
  const hint = found.what.startsWith('a BigInt')
    ? 'JSON has no BigInt: convert it with String() or Number()'
    : found.what.startsWith('a cycle')
      ? 'JSON cannot hold a cycle: return a copy without the back reference'
      : 'JSON cannot hold it: return plain data (strings, numbers, booleans, null, arrays, objects)';
  return `${subject}${found.path} is ${found.what}; ${hint}`;
}
