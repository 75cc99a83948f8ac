import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { AgentOutcome, WorktreeInfo } from '../agents/index.js';
import { DroverError } from '../core/index.js';

const run = promisify(execFile);

export class WorktreeError extends DroverError {
  constructor(message: string) {
    super('WORKTREE', message);
  }
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new WorktreeError(`git ${args.join(' ')} failed in ${cwd}: ${(e.stderr || e.message).trim().split('\n')[0]}`);
  }
}

export interface PreparedWorktree {
  path: string;
  branch: string;
  base: string;
  /** Where the agent works: the call's cwd, mapped into the worktree. */
  cwd: string;
}

/**
 * `isolation: 'worktree'`: a fresh `git worktree` on its own branch, from the
 * repository's HEAD. Kept under the repository's git dir so it never shows up
 * as untracked files in the main checkout.
 */
export async function prepareWorktree(cwd: string, runId: string, callKey: string): Promise<PreparedWorktree> {
  let top: string;
  try {
    top = await git(cwd, ['rev-parse', '--show-toplevel']);
  } catch {
    throw new WorktreeError(`isolation 'worktree' needs a git repository; ${cwd} is not inside one`);
  }
  const base = await git(top, ['rev-parse', 'HEAD']).catch(() => {
    throw new WorktreeError(`isolation 'worktree' needs a commit to start from; ${top} has none yet`);
  });
  const commonDir = resolve(top, await git(top, ['rev-parse', '--git-common-dir']));
  const short = callKey.replace(/^.*:/, '').slice(0, 12);
  const id = `${runId}-${short}`;
  const path = join(commonDir, 'drover-worktrees', id);
  const branch = `drover/${runId}/${short}`;
  // A call that ran before without finishing left its worktree: start it afresh.
  if (existsSync(path)) await git(top, ['worktree', 'remove', '--force', path]);
  await git(top, ['worktree', 'prune']);
  const exists = await git(top, ['branch', '--list', branch]);
  if (exists) await git(top, ['branch', '-D', branch]);
  await git(top, ['worktree', 'add', '-q', '-b', branch, path, base]);
  return { path, branch, base, cwd: join(path, relative(top, resolve(cwd))) };
}

/** Commits what the agent left, then removes the worktree (and its branch) when nothing changed. */
export async function finishWorktree(wt: PreparedWorktree, message: string): Promise<WorktreeInfo> {
  await git(wt.path, ['add', '-A']);
  const dirty = (await git(wt.path, ['status', '--porcelain'])) !== '';
  if (dirty) {
    await git(wt.path, ['-c', 'user.name=drover', '-c', 'user.email=drover@localhost', 'commit', '-q', '--no-verify', '-m', message]);
  }
  const head = await git(wt.path, ['rev-parse', 'HEAD']);
  const changed = head !== wt.base;
  if (!changed) {
    const top = await git(wt.path, ['rev-parse', '--git-common-dir']).then((d) => resolve(wt.path, d, '..'));
    await git(top, ['worktree', 'remove', '--force', wt.path]);
    await git(top, ['branch', '-D', wt.branch]);
  }
  return { path: wt.path, branch: wt.branch, commit: changed ? head : null, changed, kept: changed };
}

/**
 * Finishes an agent's worktree (its changes committed on its branch) and says where they are: in
 * the outcome's `detail.worktree`, and, for a text answer, in a note after the text.
 */
export async function settleWorktree(wt: PreparedWorktree, outcome: AgentOutcome, label: string): Promise<AgentOutcome> {
  const info = await finishWorktree(wt, `drover: ${label}`);
  const detail = { ...outcome.detail, worktree: info };
  if (!outcome.ok) return { ...outcome, detail };
  const note = info.changed ? `\n\n[worktree: changes on branch ${info.branch} at commit ${info.commit} (${info.path})]` : '';
  return { ...outcome, detail, text: outcome.object === undefined ? `${outcome.text}${note}` : outcome.text };
}
