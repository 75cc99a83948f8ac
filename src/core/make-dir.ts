/**
 * @module Creating a folder a user named, with an error that names the flag. By hand rather than
 * `mkdirSync(dir, { recursive: true })`: on Node 20 that never returns for a path under a
 * pseudo-filesystem such as /proc (it retries forever), and its errors (`EEXIST` for a file in the
 * way) do not say which option was wrong.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errorMessage, InputError } from './errors.js';

/**
 * Makes sure `dir` is a folder, creating it and its missing parents one level at a time.
 * `what` names it in errors (`--record`, `--cassettes`). Returns the absolute path.
 * @throws InputError (`BAD_DIRECTORY`, exit 2) when a file is in the way or a level cannot be created
 */
export function makeDirectory(dir: string, what: string): string {
  const target = resolve(dir);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    const stat = statSync(at, { throwIfNoEntry: false });
    if (stat) {
      if (!stat.isDirectory()) throw new InputError(`${what}: ${at} is a file, not a folder`, 'BAD_DIRECTORY');
      break;
    }
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(level, { throwIfNoEntry: false })?.isDirectory()) continue;
      throw new InputError(`${what}: cannot create ${target} (${errorMessage(err)})`, 'BAD_DIRECTORY');
    }
  }
  return target;
}
