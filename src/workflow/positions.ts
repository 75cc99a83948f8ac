import { fileURLToPath } from 'node:url';
import { isErrorLike, type SourcePosition } from '../core/index.js';

/** The first stack frame inside `file`: where in the script a runtime error happened. */
export function positionInStack(err: unknown, file: string): SourcePosition | undefined {
  const stack = isErrorLike(err) ? err.stack : undefined;
  if (!stack) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^()\s]+):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m?.[1]) continue;
    let frameFile = m[1].replace(/\?.*$/, '');
    if (frameFile.startsWith('file://')) frameFile = fileURLToPath(frameFile);
    if (frameFile === file) return { file, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}
