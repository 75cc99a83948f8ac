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
