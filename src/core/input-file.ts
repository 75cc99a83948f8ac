import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname as dirnamePath, resolve as resolvePath } from 'node:path';
import { InputError } from './errors.js';

/** Reads a file a user named (scenario, spec, golden, OTLP dump); an unreadable one becomes the caller's error, naming the file. */
export function readInputFile(file: string, what: string, fail: (message: string) => Error): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(`${file}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * `mkdir -p` that cannot hang: Node 20's `mkdirSync(dir, { recursive: true })` loops forever (in
 * C++, deaf to SIGTERM) when a parent refuses creation with ENOENT, as /proc does. Each missing
 * level is made on its own, and any failure is an InputError naming the folder (exit 2).
 * @throws InputError (`INVALID_INPUT`) when the folder cannot be made or a part of the path is not a folder
 */
export function ensureDir(dir: string, what = 'folder'): void {
  const missing: string[] = [];
  let at = resolvePath(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirnamePath(at);
    if (parent === at) break;
    at = parent;
  }
  if (!statIsDir(at)) throw new InputError(`${dir}: cannot make the ${what}: ${at} is not a folder`);
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statIsDir(level)) continue;
      throw new InputError(`${dir}: cannot make the ${what} (${(err as NodeJS.ErrnoException).code ?? errorText(err)})`);
    }
  }
}

function statIsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
