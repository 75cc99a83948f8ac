import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where an agent CLI is: an explicit path (env override), else PATH, else a
 * node_modules/.bin above the working directory or above drover itself
 * (the CLIs are optional peer tools for users and dev dependencies here).
 */
export function locateCli(name: string, options: { override?: string | undefined; cwd?: string } = {}): string | null {
  if (options.override) return executable(options.override) ? resolve(options.override) : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  const starts = [options.cwd ?? process.cwd(), dirname(fileURLToPath(import.meta.url))];
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, 'node_modules', '.bin', name);
      if (executable(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return null;
}
