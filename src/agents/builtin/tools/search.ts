/**
 * @module What the glob and grep tools do, run only inside the search worker
 * (search-worker.ts): the model's patterns are matched here, never on the
 * driver's thread. The walk follows symlinks that stay inside the workspace and
 * skips, and names, those that leave it.
 */
import * as fs from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { type GlobOptions, globSync } from 'tinyglobby';
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

/**
 * Runs one search job to its text result. Synchronous on purpose: it runs on
 * the worker's own thread, where blocking calls are the fastest and block nothing else.
 * @throws SearchRefusal for a bad pattern.
 */
export function runSearchJob(job: SearchJob): string {
  const confined = new Confinement(job.root, job.realRoot);
  const text = job.tool === 'glob' ? globJob(job, confined) : grepJob(job, confined);
  return confined.skipped.size === 0 ? text : `${text}\n${confined.note()}`;
}

function globJob(job: Extract<SearchJob, { tool: 'glob' }>, confined: Confinement): string {
  const found = globSync(job.pattern, confined.globOptions(job.root));
  // The walk skips links it meets; a pattern whose fixed start goes through one (`ext/*`) starts beyond it.
  const files: string[] = [];
  for (const file of found) if (confined.exitOf(resolve(job.root, file)) === null) files.push(file);
  files.sort();
  if (files.length === 0) return 'no files match';
  const shown = files.slice(0, MAX_FILES).join('\n');
  return files.length > MAX_FILES ? `${shown}\n[${files.length - MAX_FILES} more]` : shown;
}

function grepJob(job: Extract<SearchJob, { tool: 'grep' }>, confined: Confinement): string {
  let re: RegExp;
  try {
    re = new RegExp(job.pattern);
  } catch (err) {
    throw new SearchRefusal(`bad regular expression: ${(err as Error).message}`);
  }
  const files = job.baseIsDir ? globSync(job.glob, { ...confined.globOptions(job.base), absolute: true }).sort() : [job.base];
  const show = (file: string) => relative(job.root, file) || '.';
  const matches: string[] = [];
  for (const file of files) {
    if (confined.exitOf(file) !== null) continue;
    const text = readInside(file, job.realRoot);
    if (text === null || text.includes('\u0000')) continue; // too big, gone, outside since, or binary
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

/** The workspace's bounds during one search, and the links found leading out of them. */
class Confinement {
  /** Links that lead outside, by where they really sit, relative to the workspace. */
  readonly skipped = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly realRoot: string,
  ) {}

  /** `[skipped N links leaving the workspace: a, b]`. */
  note(): string {
    const names = [...this.skipped].sort();
    const shown = names.slice(0, MAX_SKIPPED_SHOWN).join(', ');
    const more = names.length > MAX_SKIPPED_SHOWN ? ` and ${names.length - MAX_SKIPPED_SHOWN} more` : '';
    return `[skipped ${names.length} link${names.length > 1 ? 's' : ''} leaving the workspace: ${shown}${more}]`;
  }

  /** True (and the link recorded) when `link`, which really leads to `real`, leaves the workspace. */
  leaves(link: string, real: string): boolean {
    if (isInside(this.realRoot, real)) return false;
    // Named where it really sits, so a link reached along several paths (a loop) is named once.
    let at = link;
    try {
      at = join(fs.realpathSync.native(dirname(link)), basename(link));
    } catch {
      /* keep the path as reached */
    }
    this.skipped.add(
      isInside(this.realRoot, at) ? relative(this.realRoot, at) : isInside(this.root, link) ? relative(this.root, link) : link,
    );
    return true;
  }

  /** Directories found to lie inside: every file the walk lists below them is inside too (it checks each link it meets). */
  private readonly insideDirs = new Set<string>();

  /**
   * Null when a path the walk found really lies inside; otherwise the link it
   * goes through (recorded). The walk checks each link it meets, but a pattern
   * whose fixed start goes through a link (`ext/*`) starts it beyond: so each
   * listed file's directory is checked once, from the root down.
   */
  exitOf(abs: string): string | null {
    const dir = dirname(abs);
    if (this.insideDirs.has(dir)) return null;
    const real = realpathOrNull(dir);
    if (real !== null && isInside(this.realRoot, real)) {
      this.insideDirs.add(dir);
      return null;
    }
    let at = this.root;
    for (const part of relative(this.root, dir).split(sep)) {
      at = join(at, part);
      const r = realpathOrNull(at);
      if (r !== null && this.leaves(at, r)) return at;
    }
    return abs; // gone since
  }

  /**
   * tinyglobby's options with a file system whose `realpath` — which fdir calls
   * for symlinks only — refuses links that lead outside and records them, so the
   * walk never enters (nor lists) what lies beyond them.
   */
  globOptions(cwd: string): GlobOptions {
    const abs = (link: fs.PathLike) => resolve(cwd, String(link));
    const outside = () => Object.assign(new Error('symbolic link leaves the workspace'), { code: 'EXDEV' });
    // A dangling link is skipped either way; it is named when it points outside.
    const dangling = (link: string) => {
      try {
        this.leaves(link, realTarget(link).real);
      } catch {
        /* a loop: skipped anyway */
      }
    };
    const confinedRealpath = (link: fs.PathLike, cb: (err: NodeJS.ErrnoException | null, real: string) => void) =>
      fs.realpath.native(link, (err, real) => {
        if (err) {
          if (err.code === 'ENOENT') dangling(abs(link));
          cb(err, '');
        } else if (this.leaves(abs(link), real)) cb(outside(), '');
        else cb(null, real);
      });
    const confinedRealpathSync = (link: fs.PathLike): string => {
      let real: string;
      try {
        real = fs.realpathSync.native(link);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') dangling(abs(link));
        throw err;
      }
      if (this.leaves(abs(link), real)) throw outside();
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
}

function realpathOrNull(path: string): string | null {
  try {
    return fs.realpathSync.native(path);
  } catch {
    return null;
  }
}

/**
 * A file's text when it really lies inside (checked on its real path, opened
 * with O_NOFOLLOW); null when it does not, is not a file, is too big, or is gone.
 */
function readInside(file: string, realRoot: string): string | null {
  const real = realpathOrNull(file);
  if (real === null || !isInside(realRoot, real)) return null;
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | O_NOFOLLOW | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return null; // replaced by a link since, or gone
  }
  try {
    const info = fs.fstatSync(fd);
    if (!info.isFile() || info.size > MAX_GREP_FILE_BYTES) return null;
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
