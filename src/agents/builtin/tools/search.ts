/**
 * @module What the glob and grep tools do, run only inside the search worker
 * (search-worker.ts): the model's patterns are matched here, never on the
 * driver's thread. The walk follows symlinks that stay inside the workspace and
 * skips, and names, those that leave it.
 */
import * as fs from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type GlobOptions, glob } from 'tinyglobby';
import { isInside, realTarget } from './workspace.js';

const IGNORE = ['**/.git/**', '**/node_modules/**'];
const MAX_FILES = 500;
const MAX_MATCHES = 200;
const MAX_GREP_FILE_BYTES = 2_000_000;
const MAX_SKIPPED_SHOWN = 20;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** One search, as the tool hands it to the worker. Paths are absolute. */
export type SearchJob =
  | { tool: 'glob'; root: string; realRoot: string; pattern: string }
  | { tool: 'grep'; root: string; realRoot: string; base: string; baseIsDir: boolean; pattern: string; glob: string };

/** What the worker answers: the tool's text, or a mistake to show the model. */
export type SearchReply = { type: 'started' } | { type: 'done'; text: string } | { type: 'refused'; message: string };

/** A mistake in the model's input, found in the worker. */
export class SearchRefusal extends Error {}

/** Runs one search job to its text result. @throws SearchRefusal for a bad pattern. */
export async function runSearchJob(job: SearchJob): Promise<string> {
  const skipped = new Set<string>();
  const text = job.tool === 'glob' ? await globJob(job, skipped) : await grepJob(job, skipped);
  return skipped.size === 0 ? text : `${text}\n${skippedNote(skipped)}`;
}

function skippedNote(skipped: Set<string>): string {
  const names = [...skipped].sort();
  const shown = names.slice(0, MAX_SKIPPED_SHOWN).join(', ');
  const more = names.length > MAX_SKIPPED_SHOWN ? ` and ${names.length - MAX_SKIPPED_SHOWN} more` : '';
  return `[skipped ${names.length} link${names.length > 1 ? 's' : ''} leaving the workspace: ${shown}${more}]`;
}

async function globJob(job: Extract<SearchJob, { tool: 'glob' }>, skipped: Set<string>): Promise<string> {
  const files = (await glob(job.pattern, options(job.root, job.root, job.realRoot, skipped))).sort();
  if (files.length === 0) return 'no files match';
  const shown = files.slice(0, MAX_FILES).join('\n');
  return files.length > MAX_FILES ? `${shown}\n[${files.length - MAX_FILES} more]` : shown;
}

async function grepJob(job: Extract<SearchJob, { tool: 'grep' }>, skipped: Set<string>): Promise<string> {
  let re: RegExp;
  try {
    re = new RegExp(job.pattern);
  } catch (err) {
    throw new SearchRefusal(`bad regular expression: ${(err as Error).message}`);
  }
  const files = job.baseIsDir
    ? (await glob(job.glob, { ...options(job.base, job.root, job.realRoot, skipped), absolute: true })).sort()
    : [job.base];
  const show = (file: string) => relative(job.root, file) || '.';
  const matches: string[] = [];
  for (const file of files) {
    const text = await readInside(file, job.realRoot);
    if (text === 'outside') {
      skipped.add(show(file));
      continue;
    }
    if (text === null || text.includes('\u0000')) continue; // too big, gone, or binary
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (re.test(lines[i] as string)) {
        matches.push(`${show(file)}:${i + 1}: ${(lines[i] as string).slice(0, 300)}`);
        if (matches.length >= MAX_MATCHES) return `${matches.join('\n')}\n[stopped at ${MAX_MATCHES} matches]`;
      }
    }
  }
  return matches.length ? matches.join('\n') : 'no matches';
}

/**
 * tinyglobby's options with a file system whose `realpath` — which fdir calls
 * for symlinks only — refuses links that lead outside and records them, so the
 * walk never enters (nor lists) what lies beyond them.
 */
function options(cwd: string, root: string, realRoot: string, skipped: Set<string>): GlobOptions {
  const leaving = (link: string, real: string): boolean => {
    if (isInside(realRoot, real)) return false;
    // Named where it really sits, so a link reached along several paths (a loop) is named once.
    const abs = isAbsolute(link) ? link : resolve(cwd, link);
    let at = abs;
    try {
      at = join(fs.realpathSync(dirname(abs)), basename(abs));
    } catch {
      /* keep the path as reached */
    }
    skipped.add(isInside(realRoot, at) ? relative(realRoot, at) : isInside(root, abs) ? relative(root, abs) : abs);
    return true;
  };
  const outside = () => Object.assign(new Error('symbolic link leaves the workspace'), { code: 'EXDEV' });
  const confinedRealpath = (link: fs.PathLike, cb: (err: NodeJS.ErrnoException | null, real: string) => void) =>
    fs.realpath(link, (err, real) => {
      if (err) {
        // A dangling link is skipped either way; it is named when it points outside.
        if (err.code === 'ENOENT') leavingDangling(String(link));
        cb(err, '');
      } else if (leaving(String(link), real)) cb(outside(), '');
      else cb(null, real);
    });
  const leavingDangling = (link: string) => {
    try {
      leaving(link, realTarget(isAbsolute(link) ? link : resolve(cwd, link)).real);
    } catch {
      /* a loop: skipped anyway */
    }
  };
  const confinedRealpathSync = (link: fs.PathLike): string => {
    let real: string;
    try {
      real = fs.realpathSync(link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') leavingDangling(String(link));
      throw err;
    }
    if (leaving(String(link), real)) throw outside();
    return real;
  };
  return {
    cwd,
    ignore: IGNORE,
    onlyFiles: true,
    dot: false,
    fs: {
      readdir: fs.readdir,
      readdirSync: fs.readdirSync,
      stat: fs.stat,
      statSync: fs.statSync,
      // fdir's type is `typeof fs.realpath` (with its overloads and `.native`); it calls the (path, callback) form.
      realpath: confinedRealpath as unknown as typeof fs.realpath,
      realpathSync: confinedRealpathSync as unknown as typeof fs.realpathSync,
    },
  };
}

/**
 * A file's text when it really lies inside (checked on its real path, opened
 * with O_NOFOLLOW); 'outside' when it does not; null when it is too big or gone.
 */
async function readInside(file: string, realRoot: string): Promise<string | 'outside' | null> {
  const real = await realpath(file).catch(() => null);
  if (real === null) return null;
  if (!isInside(realRoot, real)) return 'outside';
  let handle: FileHandle;
  try {
    handle = await open(real, fs.constants.O_RDONLY | O_NOFOLLOW);
  } catch {
    return null; // replaced by a link since, or gone
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > MAX_GREP_FILE_BYTES) return null;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
