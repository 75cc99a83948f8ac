/**
 * @module Where a worker drives a run: the run's own working directory when this machine has it
 * (same machine, or a shared path), else a detached git worktree of the worker's checkout
 * (`drover worker --checkout <dir>`) at the commit recorded when the run was queued.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { DroverError, InputError } from '../core/index.js';
import type { RunRecord } from '../store/index.js';

/** A run this worker cannot drive here (code `NO_WORKSPACE`): no such directory, no checkout, or a commit it cannot reach. */
export class WorkspaceError extends DroverError {
  constructor(message: string) {
    super('NO_WORKSPACE', message, { exitCode: 2 });
  }
}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function tryGit(cwd: string, args: string[]): string | undefined {
  try {
    return git(cwd, args) || undefined;
  } catch {
    return undefined;
  }
}

/** The repository root, HEAD commit and `origin` URL of `dir`; undefined outside git or before the first commit. */
export function gitCommitOf(dir: string): { root: string; commit: string; remote?: string } | undefined {
  const root = tryGit(dir, ['rev-parse', '--show-toplevel']);
  const commit = root ? tryGit(root, ['rev-parse', 'HEAD']) : undefined;
  if (!root || !commit) return undefined;
  const remote = tryGit(root, ['remote', 'get-url', 'origin']);
  return { root, commit, ...(remote ? { remote } : {}) };
}

export interface Workspace {
  /** Where the run's agents and sh steps work. */
  workdir: string;
  /** `stored`: the run's own directory; `worktree`: a checkout of its commit made for this drive. */
  kind: 'stored' | 'worktree';
}

/** What a workspace is made from: the run (or job) id, its directory where it was started, and the git commit of that directory. */
export interface WorkspaceSource {
  id: string;
  workdir?: string | undefined;
  repo?: { root: string; commit: string; remote?: string } | undefined;
}

/** A run's workspace source: its stored settings. */
export function runWorkspaceSource(run: RunRecord): WorkspaceSource {
  return { id: run.id, workdir: (run.settings as { workdir?: string }).workdir, repo: run.settings.repo };
}

/**
 * Checks `drover worker --checkout <dir>` before the worker starts: the folder of a git clone.
 * Returns the repository's top folder.
 * @throws InputError (exit 2) when `dir` does not exist or is not inside a git repository
 */
export function checkCheckout(dir: string): string {
  if (!existsSync(dir)) throw new InputError(`--checkout: ${dir} does not exist (give a clone of the runs' repository)`);
  const top = tryGit(dir, ['rev-parse', '--show-toplevel']);
  if (!top) throw new InputError(`--checkout: ${dir} is not a git repository (give a clone of the runs' repository)`);
  return top;
}

/**
 * The directory to work in on this machine for `source` (a run, or an agent job of one).
 * @throws WorkspaceError when the directory is not here and the worker has no checkout, or the checkout cannot reach the commit
 */
export function workspaceFor(source: WorkspaceSource, checkout: string | undefined, worktrees: string): Workspace {
  if (source.workdir && existsSync(source.workdir)) return { workdir: source.workdir, kind: 'stored' };
  const repo = source.repo;
  if (!repo) {
    throw new WorkspaceError(
      `run ${source.id}: its working directory ${source.workdir ?? '(none)'} is not on this machine, and it was queued outside a git repository`,
    );
  }
  if (!checkout) {
    throw new WorkspaceError(
      `run ${source.id}: its working directory ${source.workdir} is not on this machine; start the worker with --checkout <a clone of ${repo.remote ?? repo.root}>`,
    );
  }
  const top = tryGit(checkout, ['rev-parse', '--show-toplevel']);
  if (!top) throw new WorkspaceError(`--checkout ${checkout} is not a git repository`);
  if (!tryGit(top, ['cat-file', '-e', `${repo.commit}^{commit}`])) {
    // The commit may be on the remote only.
    tryGit(top, ['fetch', '--quiet', 'origin', repo.commit]);
    if (!tryGit(top, ['cat-file', '-e', `${repo.commit}^{commit}`])) {
      throw new WorkspaceError(`run ${source.id}: commit ${repo.commit} is not in ${top} and could not be fetched from its origin`);
    }
  }
  mkdirSync(worktrees, { recursive: true });
  const path = join(worktrees, `${source.id}-${repo.commit.slice(0, 12)}`);
  if (!existsSync(path)) {
    try {
      git(top, ['worktree', 'add', '--quiet', '--detach', path, repo.commit]);
    } catch (err) {
      throw new WorkspaceError(`run ${source.id}: git worktree add at ${repo.commit} failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  // The run worked in a folder of the repository: the same folder of the checkout.
  const inside = source.workdir ? relative(repo.root, source.workdir) : '';
  const workdir = inside && !inside.startsWith('..') ? resolve(path, inside) : path;
  return { workdir, kind: 'worktree' };
}
