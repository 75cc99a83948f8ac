import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { NewTask, TaskRecord, TaskStatus } from '../store/index.js';

/** Claude Code's task file (`<id>.json` in `~/.claude/tasks/<list>/`), as reference/claude-code.md records it. */
export const ClaudeTaskFileSchema = z
  .object({
    id: z.string().min(1),
    subject: z.string(),
    description: z.string().default(''),
    activeForm: z.string().optional(),
    status: z.enum(['pending', 'in_progress', 'completed']),
    blocks: z.array(z.string()).default([]),
    blockedBy: z.array(z.string()).default([]),
    owner: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export type ClaudeTaskFile = z.infer<typeof ClaudeTaskFileSchema>;

/** drover's own fields, kept under `metadata.drover` so Claude Code carries them untouched. */
const DroverMetaSchema = z
  .object({
    status: z.enum(['cancelled']).optional(),
    priority: z.number().int().optional(),
    labels: z.array(z.string()).optional(),
    createdAt: z.number().optional(),
    updatedAt: z.number().optional(),
    leaseExpiresAt: z.number().nullable().optional(),
  })
  .passthrough();

const TASK_FILE = /^([A-Za-z0-9][A-Za-z0-9._-]*)\.json$/;
const byNumber = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

/**
 * A task as Claude Code's file, keys in a fixed order and arrays sorted so a
 * re-export of an unchanged list is byte-identical. `withTimes` adds drover's
 * timestamps (export); the bridge leaves them out so only real edits rewrite files.
 */
export function toClaudeFile(t: TaskRecord, withTimes: boolean): string {
  const drover: Record<string, unknown> = {};
  if (t.status === 'cancelled') drover.status = 'cancelled';
  drover.priority = t.priority;
  drover.labels = [...t.labels].sort();
  if (withTimes) {
    drover.createdAt = t.createdAt;
    drover.updatedAt = t.updatedAt;
    drover.leaseExpiresAt = t.leaseExpiresAt;
  }
  const file: Record<string, unknown> = { id: t.id, subject: t.subject, description: t.description };
  if (t.activeForm) file.activeForm = t.activeForm;
  file.status = t.status === 'cancelled' ? 'completed' : t.status;
  file.blocks = [...t.blocks].sort(byNumber);
  file.blockedBy = [...t.blockedBy].sort(byNumber);
  if (t.owner) file.owner = t.owner;
  file.metadata = { ...sortKeys(t.metadata), drover };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

/** A file's content as drover fields. */
export function fromClaudeFile(
  f: ClaudeTaskFile,
): Required<Pick<NewTask, 'id' | 'subject' | 'description' | 'status' | 'priority' | 'labels' | 'metadata' | 'blockedBy'>> &
  Pick<NewTask, 'activeForm' | 'owner' | 'createdAt'> {
  const { drover: rawDrover, ...metadata } = f.metadata ?? {};
  const parsed = DroverMetaSchema.safeParse(rawDrover ?? {});
  const drover = parsed.success ? parsed.data : {};
  const status: TaskStatus = drover.status === 'cancelled' ? 'cancelled' : f.status;
  return {
    id: f.id,
    subject: f.subject,
    description: f.description,
    activeForm: f.activeForm ?? null,
    status,
    owner: f.owner ?? null,
    priority: drover.priority ?? 2,
    labels: drover.labels ?? [],
    metadata,
    blockedBy: [...new Set(f.blockedBy)],
    ...(drover.createdAt !== undefined ? { createdAt: drover.createdAt } : {}),
  };
}

/** A file's task as a new drover task (pending, no edges yet: callers add them once every task exists). */
export function newTaskFromFile(want: ReturnType<typeof fromClaudeFile>): NewTask {
  return {
    id: want.id,
    subject: want.subject,
    description: want.description,
    activeForm: want.activeForm ?? null,
    owner: want.owner ?? null,
    priority: want.priority,
    labels: want.labels,
    metadata: want.metadata,
    ...(want.createdAt !== undefined ? { createdAt: want.createdAt } : {}),
  };
}

/** A metadata patch that makes a task's metadata exactly `next` (keys missing from it are removed). */
export function replaceMetadata(current: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  return { ...Object.fromEntries(Object.keys(current).map((k) => [k, null])), ...next };
}

export interface TaskFileRead {
  id: string;
  path: string;
  raw: string;
  mtimeMs: number;
  task: ClaudeTaskFile;
}

export interface TaskFileProblem {
  path: string;
  message: string;
}

/** Reads every `<id>.json` of a task directory; torn or invalid files are reported, not thrown. */
export function readTaskDir(dir: string): { files: Map<string, TaskFileRead>; problems: TaskFileProblem[] } {
  const files = new Map<string, TaskFileRead>();
  const problems: TaskFileProblem[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files, problems };
    throw err;
  }
  for (const name of names.sort()) {
    const m = TASK_FILE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    let raw: string;
    let mtimeMs: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      mtimeMs = st.mtimeMs;
      raw = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while we looked
      problems.push({ path, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      problems.push({ path, message: `not valid JSON (torn or hand-edited?): ${(err as Error).message}` });
      continue;
    }
    const parsed = ClaudeTaskFileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      problems.push({ path, message: `not a task file: ${issue?.path.join('.') || '(root)'}: ${issue?.message}` });
      continue;
    }
    if (parsed.data.id !== m[1]) {
      problems.push({ path, message: `file name says task ${m[1]} but its id is ${parsed.data.id}` });
      continue;
    }
    files.set(parsed.data.id, { id: parsed.data.id, path, raw, mtimeMs, task: parsed.data });
  }
  return { files, problems };
}

/** Temp file + rename: a reader sees the old file or the new one, never a torn one. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function readHighWater(dir: string): number {
  try {
    const n = Number(readFileSync(join(dir, '.highwatermark'), 'utf8').trim());
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}
