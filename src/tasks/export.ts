import { existsSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, InputError } from '../core/index.js';
import type { TaskBoard } from './board.js';
import { fromClaudeFile, isCountableId, readTaskDir, toClaudeFile, writeFileAtomic } from './claude-format.js';

/**
 * `drover tasks export <dir>`: one pretty JSON file per task in Claude Code's
 * format (drover's fields under metadata.drover), plus `.highwatermark`.
 * Files of tasks no longer in the list are removed, so the folder mirrors it.
 */
export async function exportTasks(board: TaskBoard, dir: string): Promise<{ written: number; removed: number }> {
  ensureDir(dir, 'export folder');
  const tasks = await board.list();
  const keep = new Set(tasks.map((t) => `${t.id}.json`));
  let removed = 0;
  for (const name of readdirSync(dir)) {
    if (/^[A-Za-z0-9][A-Za-z0-9._-]*\.json$/.test(name) && !keep.has(name)) {
      unlinkSync(join(dir, name));
      removed++;
    }
  }
  for (const t of tasks) writeFileAtomic(join(dir, `${t.id}.json`), toClaudeFile(t, true));
  // Ids are never reused: the list's high-water mark counts deleted tasks too.
  let high = Number(await board.store.tasks.nextTaskId(board.listId)) - 1;
  for (const t of tasks) if (isCountableId(t.id)) high = Math.max(high, Number(t.id));
  writeFileAtomic(join(dir, '.highwatermark'), `${high}\n`);
  return { written: tasks.length, removed };
}

export interface ImportReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** Test hook: with `DROVER_TEST_IMPORT_HOLD=<dir>`, an import writes `<dir>/reached` just before it commits and waits for `<dir>/go`. */
function holdBeforeCommit(): (() => void) | undefined {
  const dir = process.env.DROVER_TEST_IMPORT_HOLD;
  if (!dir) return undefined;
  return () => {
    writeFileSync(join(dir, 'reached'), String(process.pid));
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (!existsSync(join(dir, 'go'))) Atomics.wait(cell, 0, 0, 10);
  };
}

/**
 * `drover tasks import <dir>`: every file is checked before anything is
 * written; a bad file refuses the whole import, naming its path. The import is
 * one transaction (`TaskStore.mirrorTasks`, atomic): tasks first, then edges,
 * then statuses, and a refusal anywhere (a cycle, a missing blocker) leaves the
 * list as it was; so does a crash. Claims are not checked: an import restores.
 * Throws `InputError` (`INVALID_TASK_FILE`) for bad files, `TaskRuleError` naming the file for a refused task.
 */
export async function importTasks(board: TaskBoard, dir: string): Promise<ImportReport> {
  if (!existsSync(dir)) throw new InputError(`${dir}: no such folder`);
  const { files, problems } = readTaskDir(dir);
  if (problems.length > 0) throw new InputError(problems.map((p) => `${p.path}: ${p.message}`).join('\n'), 'INVALID_TASK_FILE');
  const incoming = [...files.values()].map((f) => fromClaudeFile(f.task, f.path));
  const known = new Set(incoming.map((t) => t.id));
  for (const t of incoming) {
    for (const b of t.blockedBy)
      if (!known.has(b) && !(await board.get(b)))
        throw new InputError(`${t.source}: blockedBy names task ${b}, which is in neither the folder nor the list`);
  }
  const hold = holdBeforeCommit();
  const r = await board.mirror(incoming, { atomic: true, claims: 'ignore', ...(hold ? { beforeCommit: hold } : {}) });
  return { created: r.created, updated: r.updated, unchanged: r.unchanged };
}
