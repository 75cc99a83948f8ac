import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { TaskMirrorItem, TaskRecord, TaskStatus } from '../store/index.js';

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
/** The largest id both sides count exactly (Claude Code's ids are JavaScript numbers as strings). */
const MAX_ID = Number.MAX_SAFE_INTEGER;

/** A numeric id both drover and Claude Code count exactly: 0 … 2^53−1, no leading zeros. */
export function isCountableId(id: string): boolean {
  return /^(0|[1-9]\d*)$/.test(id) && Number(id) <= MAX_ID;
}
const byNumber = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

/**
 * A task as Claude Code's file, keys in a fixed order and arrays sorted so a
 * re-export of an unchanged list is byte-identical. `withTimes` adds drover's
 * timestamps (export); the bridge leaves them out so only real edits rewrite files.
 */
export function toClaudeFile(t: TaskRecord, withTimes: boolean, extra: { blocks?: string[]; blockedBy?: string[] } = {}): string {
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
  file.blocks = [...new Set([...t.blocks, ...(extra.blocks ?? [])])].sort(byNumber);
  file.blockedBy = [...new Set([...t.blockedBy, ...(extra.blockedBy ?? [])])].sort(byNumber);
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

/**
 * A file's content as drover's task. Status: the file's `status` is Claude Code's
 * word and always wins; `metadata.drover.status: "cancelled"` only qualifies
 * `completed` (Claude Code has no cancelled). So a task drover cancelled and
 * Claude Code reopened (`TaskUpdate {status: "pending"}` leaves the metadata as
 * it was) reads as pending. Priority and labels are absent (kept as drover has
 * them) when the file carries none.
 */
export function fromClaudeFile(f: ClaudeTaskFile, source?: string): TaskMirrorItem {
  const { drover: rawDrover, ...metadata } = f.metadata ?? {};
  const parsed = DroverMetaSchema.safeParse(rawDrover ?? {});
  const drover = parsed.success ? parsed.data : {};
  const status: TaskStatus = f.status === 'completed' && drover.status === 'cancelled' ? 'cancelled' : f.status;
  return {
    id: f.id,
    subject: f.subject,
    description: f.description,
    activeForm: f.activeForm ?? null,
    status,
    owner: f.owner ?? null,
    ...(drover.priority !== undefined ? { priority: drover.priority } : {}),
    ...(drover.labels !== undefined ? { labels: drover.labels } : {}),
    metadata,
    blockedBy: [...new Set(f.blockedBy)],
    ...(drover.createdAt !== undefined ? { createdAt: drover.createdAt } : {}),
    ...(source !== undefined ? { source } : {}),
  };
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
  /** The task id the file's name stands for, when it has one: that task is left alone this pass. */
  id?: string;
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
    if (!m) {
      if (name.endsWith('.json') && !name.startsWith('.'))
        problems.push({
          path: join(dir, name),
          id: name.slice(0, -5),
          message: 'not a task file name (<id>.json, id of letters, digits, . _ -); skipped',
        });
      continue;
    }
    const id = m[1] as string;
    const path = join(dir, name);
    if (/^\d+$/.test(id) && !isCountableId(id)) {
      problems.push({
        path,
        id,
        message: `task id ${id} is not a whole number drover and Claude Code can count (0 to ${MAX_ID}, no leading zeros); skipped, and no id is allocated after it`,
      });
      continue;
    }
    let raw: string;
    let mtimeMs: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) continue;
      mtimeMs = st.mtimeMs;
      raw = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while we looked
      problems.push({ path, id, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      problems.push({ path, id, message: `not valid JSON (torn or hand-edited?): ${(err as Error).message}` });
      continue;
    }
    const parsed = ClaudeTaskFileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      problems.push({ path, id, message: `not a task file: ${issue?.path.join('.') || '(root)'}: ${issue?.message}` });
      continue;
    }
    if (parsed.data.id !== m[1]) {
      problems.push({ path, id, message: `file name says task ${id} but its id is ${parsed.data.id}` });
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

/**
 * `.highwatermark`: the last id Claude Code handed out (0 when missing). A value
 * that is not a countable id is a problem, reported with the path, and read as 0.
 */
export function readHighWaterChecked(dir: string): { value: number; problem?: TaskFileProblem } {
  const path = join(dir, '.highwatermark');
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    return { value: 0 };
  }
  if (text === '') return { value: 0 };
  if (!isCountableId(text))
    return { value: 0, problem: { path, message: `"${text.slice(0, 40)}" is not a countable id (0 to ${MAX_ID}); ignored` } };
  return { value: Number(text) };
}

export function readHighWater(dir: string): number {
  return readHighWaterChecked(dir).value;
}
