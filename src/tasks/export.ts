import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/index.js';
import type { TaskBoard } from './board.js';
import { fromClaudeFile, newTaskFromFile, readTaskDir, replaceMetadata, toClaudeFile, writeFileAtomic } from './claude-format.js';

/**
 * `drover tasks export <dir>`: one pretty JSON file per task in Claude Code's
 * format (drover's fields under metadata.drover), plus `.highwatermark`.
 * Files of tasks no longer in the list are removed, so the folder mirrors it.
 */
export async function exportTasks(board: TaskBoard, dir: string): Promise<{ written: number; removed: number }> {
  mkdirSync(dir, { recursive: true });
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
  const high = Math.max(0, ...tasks.map((t) => Number(t.id)).filter(Number.isFinite));
  writeFileAtomic(join(dir, '.highwatermark'), `${high}\n`);
  return { written: tasks.length, removed };
}

export interface ImportReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/**
 * `drover tasks import <dir>`: every file is checked before anything is
 * written; a bad file refuses the whole import, naming its path.
 */
export async function importTasks(board: TaskBoard, dir: string): Promise<ImportReport> {
  if (!existsSync(dir)) throw new InputError(`${dir}: no such folder`);
  const { files, problems } = readTaskDir(dir);
  if (problems.length > 0) throw new InputError(problems.map((p) => `${p.path}: ${p.message}`).join('\n'), 'INVALID_TASK_FILE');
  const incoming = [...files.values()].map((f) => fromClaudeFile(f.task));
  const known = new Set(incoming.map((t) => t.id));
  for (const t of incoming) {
    for (const b of t.blockedBy)
      if (!known.has(b) && !(await board.get(b)))
        throw new InputError(`${join(dir, `${t.id}.json`)}: blockedBy names task ${b}, which is in neither the folder nor the list`);
  }
  const report: ImportReport = { created: [], updated: [], unchanged: [] };
  // Tasks first (pending, no edges), then edges, then statuses: so blockers exist and rules hold.
  for (const t of incoming) {
    const existing = await board.get(t.id);
    if (!existing) {
      await board.create(newTaskFromFile(t));
      report.created.push(t.id);
    } else {
      const before = JSON.stringify(existing);
      const after = await board.update(t.id, {
        subject: t.subject,
        description: t.description,
        activeForm: t.activeForm ?? null,
        priority: t.priority,
        labels: t.labels,
        metadata: replaceMetadata(existing.metadata, t.metadata),
      });
      (JSON.stringify(after) === before ? report.unchanged : report.updated).push(t.id);
    }
  }
  for (const t of incoming) {
    const current = await board.get(t.id);
    for (const b of current?.blockedBy ?? []) if (!t.blockedBy.includes(b)) await board.removeDependency(t.id, b);
    for (const b of t.blockedBy) await board.addDependency(t.id, b);
  }
  // Blockers before dependents, so completing a dependent is never refused as blocked.
  for (const t of blockersFirst(incoming)) {
    const current = await board.get(t.id);
    if (current && (current.status !== t.status || current.owner !== (t.owner ?? null)))
      await board.update(t.id, { status: t.status, owner: t.owner ?? null });
  }
  return report;
}

function blockersFirst<T extends { id: string; blockedBy: string[] }>(tasks: T[]): T[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const out: T[] = [];
  const seen = new Set<string>();
  const visit = (t: T) => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    for (const b of t.blockedBy) {
      const blocker = byId.get(b);
      if (blocker) visit(blocker);
    }
    out.push(t);
  };
  for (const t of tasks) visit(t);
  return out;
}
