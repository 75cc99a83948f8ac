import { existsSync, mkdirSync, readFileSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { DroverError, errorMessage, InputError, sha256Hex } from '../core/index.js';
import type { TaskRecord } from '../store/index.js';
import { TaskRuleError } from '../store/index.js';
import type { TaskBoard } from './board.js';
import {
  fromClaudeFile,
  newTaskFromFile,
  readHighWater,
  readTaskDir,
  replaceMetadata,
  type TaskFileProblem,
  type TaskFileRead,
  toClaudeFile,
  writeFileAtomic,
} from './claude-format.js';

/**
 * Keeps a drover list and a Claude Code task directory in step, both ways.
 *
 * Locking follows Claude Code's own (the proper-lockfile convention, measured
 * with strace): creating a task and moving `.highwatermark` happen under the
 * list lock (`mkdir <dir>/.lock.lock`); rewriting a task happens under its own
 * lock (`mkdir <dir>/<n>.json.lock`); a lock directory older than 10 s is stale
 * and may be taken over. drover writes a temp file and renames it, so Claude
 * Code never reads a torn file (it does not do the same for us: torn or invalid
 * files are reported with their path and skipped until they parse).
 *
 * Change detection: `.drover-sync` in the directory remembers, per task, the
 * hash of the file and of drover's rendering at the last sync. Whichever side
 * differs from it changed. Conflict rule (both sides changed one task): the
 * newer change wins — file mtime against drover's updatedAt — and the losing
 * version is recorded in the task's history as a `conflict` event. A task
 * deleted from the directory is cancelled in drover (drover never deletes on
 * its own); a task deleted in drover is removed from the directory.
 * Rules Claude Code does not enforce — cycles, edges to unknown ids, starting
 * a blocked task — are refused in drover, recorded as `refused` events, and the
 * file is rewritten with drover's state.
 */

export interface SyncReport {
  toDrover: string[];
  toClaude: string[];
  conflicts: { id: string; winner: 'claude' | 'drover'; loser: unknown }[];
  refused: { id: string; reason: string }[];
  renumbered: { from: string; to: string }[];
  problems: TaskFileProblem[];
}

interface SyncState {
  version: 1;
  listId: string;
  entries: Record<string, { file: string | null; drover: string | null }>;
}

const STATE_FILE = '.drover-sync';
const LOCK_OPTIONS = { realpath: false, stale: 10_000, update: 5_000, retries: { retries: 100, minTimeout: 10, maxTimeout: 200 } };
const hash = (text: string) => sha256Hex(text);
const render = (t: TaskRecord) => toClaudeFile(t, false);

export class ClaudeTaskBridge {
  constructor(
    readonly board: TaskBoard,
    readonly dir: string,
  ) {}

  private loadState(): SyncState {
    const path = join(this.dir, STATE_FILE);
    if (!existsSync(path)) return { version: 1, listId: this.board.listId, entries: {} };
    let state: SyncState;
    try {
      state = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new InputError(`${path}: unreadable sync state (${errorMessage(err)}); remove it to start a fresh sync`);
    }
    if (state.listId !== this.board.listId) {
      throw new InputError(
        `${this.dir} is bridged to task list ${state.listId}, not ${this.board.listId}; use --list ${state.listId} or another folder`,
      );
    }
    return state;
  }

  private async withLock<T>(file: string, fn: () => T | Promise<T>): Promise<T> {
    const release = await lockfile.lock(file, LOCK_OPTIONS);
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** The list lock (creates and `.highwatermark`); its target `.lock` is an empty file, made if missing. */
  private withListLock<T>(fn: () => Promise<T>): Promise<T> {
    const target = join(this.dir, '.lock');
    if (!existsSync(target)) writeFileSync(target, '');
    return this.withLock(target, fn);
  }

  /** An id neither side has used. Call under the list lock. */
  private async freeId(): Promise<string> {
    const onDisk = [...readTaskDir(this.dir).files.keys()].map(Number).filter(Number.isFinite);
    const inDrover = Number(await this.board.store.tasks.nextTaskId(this.board.listId)) - 1;
    return String(Math.max(readHighWater(this.dir), inDrover, ...onDisk) + 1);
  }

  /** Writes (or creates) a task's file from drover's state; on an id collision at creation, renumbers the drover task. */
  private async writeTask(t: TaskRecord, report: SyncReport): Promise<TaskRecord> {
    const path = join(this.dir, `${t.id}.json`);
    if (existsSync(path)) {
      await this.withLock(path, () => writeFileAtomic(path, render(t)));
      return t;
    }
    return this.withListLock(async () => {
      let task = t;
      if (existsSync(join(this.dir, `${task.id}.json`))) {
        // Claude Code created this id since we looked: its task keeps the id, ours moves.
        const newId = await this.freeId();
        task = await this.board.store.tasks.renumberTask(this.board.listId, t.id, newId, this.board.actor, Date.now());
        report.renumbered.push({ from: t.id, to: newId });
      }
      writeFileAtomic(join(this.dir, `${task.id}.json`), render(task));
      if (Number(task.id) > readHighWater(this.dir)) writeFileAtomic(join(this.dir, '.highwatermark'), String(Number(task.id)));
      return task;
    });
  }

  /** Applies a file's content to drover; what drover's rules refuse is reported. */
  private async applyFile(
    f: TaskFileRead,
    existing: TaskRecord | undefined,
    report: SyncReport,
  ): Promise<{ task: TaskRecord; refused: boolean }> {
    const want = fromClaudeFile(f.task);
    const board = this.board;
    let refused = false;
    const refuse = async (reason: string) => {
      refused = true;
      report.refused.push({ id: want.id, reason });
      await board.store.tasks.recordTaskEvent(
        board.listId,
        want.id,
        'refused',
        { source: 'claude', file: f.path, reason },
        board.actor,
        Date.now(),
      );
    };
    let task = existing
      ? await board.update(want.id, {
          subject: want.subject,
          description: want.description,
          activeForm: want.activeForm ?? null,
          owner: want.owner ?? null,
          metadata: replaceMetadata(existing.metadata, want.metadata),
        })
      : await board.create(newTaskFromFile(want));
    for (const b of task.blockedBy) if (!want.blockedBy.includes(b)) task = await board.removeDependency(want.id, b);
    for (const b of want.blockedBy) {
      if (task.blockedBy.includes(b)) continue;
      try {
        task = await board.addDependency(want.id, b);
      } catch (err) {
        if (!(err instanceof TaskRuleError)) throw err;
        await refuse(
          err.code === 'MISSING_TASK'
            ? `blockedBy #${b}: no such task (Claude Code ignores unknown ids; drover refuses them)`
            : err.message,
        );
      }
    }
    if (want.status !== task.status) {
      try {
        task = await board.update(want.id, { status: want.status, owner: want.owner ?? null });
      } catch (err) {
        if (!(err instanceof TaskRuleError)) throw err;
        await refuse(`status ${want.status}: ${err.message}`);
      }
    }
    return { task: (await board.get(want.id)) ?? task, refused };
  }

  /** One two-way pass. */
  async syncOnce(): Promise<SyncReport> {
    mkdirSync(this.dir, { recursive: true });
    const state = this.loadState();
    const report: SyncReport = { toDrover: [], toClaude: [], conflicts: [], refused: [], renumbered: [], problems: [] };
    const { files, problems } = readTaskDir(this.dir);
    report.problems = problems;
    const broken = new Set(problems.map((p) => /([^/]+)\.json$/.exec(p.path)?.[1]).filter((x): x is string => !!x));
    const tasks = new Map((await this.board.list()).map((t) => [t.id, t]));
    const ids = new Set([...files.keys(), ...tasks.keys(), ...Object.keys(state.entries)]);
    const remember = (id: string, file: string | null, task: TaskRecord | undefined) => {
      state.entries[id] = { file: file === null ? null : hash(file), drover: task ? hash(render(task)) : null };
    };
    // Blockers first, so edges from files land on tasks that exist.
    const ordered = [...ids].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    for (const id of ordered) {
      if (broken.has(id)) continue; // a torn file is reported and retried next pass
      try {
        await this.syncTask(id, files.get(id), tasks.get(id), state, report, remember);
      } catch (err) {
        if (err instanceof DroverError) report.refused.push({ id, reason: err.message });
        else throw err;
      }
    }
    writeFileAtomic(join(this.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    return report;
  }

  private async syncTask(
    id: string,
    file: TaskFileRead | undefined,
    task: TaskRecord | undefined,
    state: SyncState,
    report: SyncReport,
    remember: (id: string, file: string | null, task: TaskRecord | undefined) => void,
  ): Promise<void> {
    const seen = state.entries[id];
    const fileChanged = (file ? hash(file.raw) : null) !== (seen?.file ?? null);
    const droverChanged = (task ? hash(render(task)) : null) !== (seen?.drover ?? null);
    const toClaude = async (t: TaskRecord) => {
      const written = await this.writeTask(t, report);
      report.toClaude.push(written.id);
      if (written.id !== t.id) delete state.entries[t.id];
      remember(written.id, render(written), written);
    };
    const toDrover = async (f: TaskFileRead, t: TaskRecord | undefined) => {
      const { task: after, refused } = await this.applyFile(f, t, report);
      report.toDrover.push(f.id);
      if (refused) await toClaude(after);
      else remember(f.id, f.raw, after);
    };

    if (!seen) {
      if (file && task) {
        if (file.task.subject !== task.subject) {
          // Two different tasks took one id on either side: Claude Code's keeps it, drover's is renumbered.
          const newId = await this.withListLock(async () => {
            const next = await this.freeId();
            writeFileAtomic(join(this.dir, '.highwatermark'), next);
            return next;
          });
          const moved = await this.board.store.tasks.renumberTask(this.board.listId, id, newId, this.board.actor, Date.now());
          report.renumbered.push({ from: id, to: newId });
          await toClaude(moved);
          await toDrover(file, undefined);
        } else if (render(task) === file.raw) remember(id, file.raw, task);
        else if (file.mtimeMs > task.updatedAt) await toDrover(file, task);
        else await toClaude(task);
      } else if (file) await toDrover(file, undefined);
      else if (task) await toClaude(task);
      return;
    }
    if (!fileChanged && !droverChanged) return;
    if (fileChanged && droverChanged && file && task) {
      const claudeNewer = file.mtimeMs > task.updatedAt;
      report.conflicts.push({ id, winner: claudeNewer ? 'claude' : 'drover', loser: claudeNewer ? render(task) : file.raw });
      await this.board.store.tasks.recordTaskEvent(
        this.board.listId,
        id,
        'conflict',
        { winner: claudeNewer ? 'claude' : 'drover', rule: 'newer change wins', lost: claudeNewer ? JSON.parse(render(task)) : file.task },
        this.board.actor,
        Date.now(),
      );
      if (claudeNewer) await toDrover(file, task);
      else await toClaude(task);
      return;
    }
    if (fileChanged) {
      if (file) await toDrover(file, task);
      else if (task) {
        // Deleted in Claude Code: cancelled here, never deleted.
        const after = task.status === 'pending' || task.status === 'in_progress' ? await this.board.cancel(id) : task;
        await this.board.store.tasks.recordTaskEvent(
          this.board.listId,
          id,
          'updated',
          { source: 'claude', note: 'file deleted in the Claude Code task directory' },
          this.board.actor,
          Date.now(),
        );
        report.toDrover.push(id);
        remember(id, null, after);
      } else delete state.entries[id];
      return;
    }
    if (task) await toClaude(task);
    else if (file) {
      await this.withLock(file.path, () => unlinkSync(file.path));
      report.toClaude.push(id);
      delete state.entries[id];
    } else delete state.entries[id];
  }

  /** Syncs whenever the directory or the list changes, until `signal` aborts. */
  async watch(signal: AbortSignal, onReport: (r: SyncReport) => void, intervalMs = 500): Promise<void> {
    let lastSeq = -1;
    let dirty = true;
    mkdirSync(this.dir, { recursive: true });
    const watcher = watch(this.dir, () => {
      dirty = true;
    });
    try {
      while (!signal.aborted) {
        const seq = await this.board.store.tasks.lastTaskEventSeq(this.board.listId);
        if (dirty || seq !== lastSeq) {
          dirty = false;
          onReport(await this.syncOnce());
          lastSeq = await this.board.store.tasks.lastTaskEventSeq(this.board.listId);
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    } finally {
      watcher.close();
    }
  }
}
