import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/**
 * YAML input checked by a zod schema, where every problem is reported as
 * `file:line:column: path: what is wrong`. Shared by sim scenarios and trace
 * assertion specs. `fail` builds the caller's own error type.
 */
export function parseYamlInput<T>(
  text: string,
  file: string,
  schema: z.ZodType<T>,
  fail: (message: string) => Error,
): { data: T; at(path: readonly PropertyKey[], pointAtKey?: boolean): string } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = lineCounter.linePos(firstError.pos[0]);
    throw fail(`${file}:${pos.line}:${pos.col}: ${firstError.message.split('\n')[0]}`);
  }
  const at = (path: readonly PropertyKey[], pointAtKey = false): string => {
    let node: unknown = doc.contents;
    let offset = 0;
    for (const [i, seg] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) break;
        offset = (pair.key as { range?: [number] } | null)?.range?.[0] ?? offset;
        if (pointAtKey && i === path.length - 1) break;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else break;
      const range = (node as { range?: [number] } | null)?.range;
      if (range) offset = range[0];
    }
    const pos = lineCounter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path ?? [];
    let message = issue?.message ?? 'invalid';
    let where = path;
    if (issue?.code === 'unrecognized_keys') {
      message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      where = [...path, issue.keys[0] as string];
    }
    throw fail(`${at(where, where !== path)}: ${path.length ? `${path.join('.')}: ` : ''}${message}`);
  }
  return { data: parsed.data, at };
}
