import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { InputError } from '../core/index.js';

const LIST_ID = /^[A-Za-z0-9][A-Za-z0-9._@/-]{0,127}$/;

export function validateListId(id: string, where: string): string {
  if (!LIST_ID.test(id) || id.includes('..')) {
    throw new InputError(`${where}: "${id}" is not a valid task list id (letters, digits, . _ @ / -, at most 128)`);
  }
  return id;
}

function git(args: string[], cwd: string): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The task list a process works on: `--list`, else DROVER_TASK_LIST, else
 * CLAUDE_CODE_TASK_LIST_ID, else `<repo>@<branch>` — one list per feature branch.
 */
export function resolveTaskListId(options: { explicit?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const env = options.env ?? process.env;
  if (options.explicit) return validateListId(options.explicit, '--list');
  if (env.DROVER_TASK_LIST) return validateListId(env.DROVER_TASK_LIST, 'DROVER_TASK_LIST');
  if (env.CLAUDE_CODE_TASK_LIST_ID) return validateListId(env.CLAUDE_CODE_TASK_LIST_ID, 'CLAUDE_CODE_TASK_LIST_ID');
  const cwd = options.cwd ?? process.cwd();
  const top = git(['rev-parse', '--show-toplevel'], cwd);
  const repo = basename(top ?? cwd);
  // symbolic-ref also names the branch of a repository with no commits yet; detached HEAD falls back to 'HEAD'.
  const branch = top ? (git(['symbolic-ref', '--short', 'HEAD'], cwd) ?? 'HEAD') : 'local';
  return validateListId(`${repo}@${branch}`.replace(/[^A-Za-z0-9._@/-]/g, '-'), 'derived list id');
}
