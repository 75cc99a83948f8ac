import { existsSync, readFileSync, unlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { ensureDir, errorMessage, InputError, sha256Hex } from '../core/index.js';
import { type TaskMirrorItem, type TaskMirrorRefusal, type TaskRecord, TaskRuleError } from '../store/index.js';
import type { TaskBoard } from './board.js';
import {
  fromClaudeFile,
  isCountableId,
  readHighWater,
  readHighWaterChecked,
  readTaskDir,
  type TaskFileProblem,
  type TaskFileRead,
  toClaudeFile,
  writeFileAtomic,
} from './claude-format.js';

/**
 * Keeps a drover list and a Claude Code task directory in step, both ways.
 * docs/tasks.md ("Claude Code bridge") has the mapping table and the rules.
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
 * differs from it changed; when both did, the newer change wins (file mtime
 * against drover's updatedAt) and the loser is kept as a `conflict` event.
 *
 * A pass applies every changed file to drover in one transaction: all tasks
 * first, then edges, then statuses (blockers first), so an edge to a task
 * imported later in the same pass is never refused as missing.
 * Edges drover refuses (a cycle Claude Code let through, an unknown id) are
 * *held*: recorded once as `refused`, left in Claude Code's files (drover keeps
 * them there when it rewrites a file), reported by every pass, and retried
 * until the user resolves them on either side. A refused status or owner
 * change (starting a blocked task, changing a task someone holds a claim on)
 * is recorded and the file is rewritten with drover's state.
 */

export interface SyncReport {
  toDrover: string[];
  toClaude: string[];
  conflicts: { id: string; winner: 'claude' | 'drover'; loser: unknown }[];
  /** Changes from Claude Code's files refused this pass (each also a `refused` event). */
  refused: { id: string; reason: string }[];
  /** Edges in Claude Code's files that drover does not hold (cycle, unknown task): reported on every pass until resolved. */
  held: { id: string; blockedBy: string; reason: string }[];
  renumbered: { from: string; to: string }[];
  problems: TaskFileProblem[];
}

interface HeldEdge {
  blockedBy: string;
  reason: string;
}

interface SyncEntry {
  file: string | null;
  drover: string | null;
  held?: HeldEdge[];
}

interface SyncState {
  version: 1;
  listId: string;
  entries: Record<string, SyncEntry>;
}

/** What one pass does for one id. */
type Plan =
  | { kind: 'toDrover'; file: TaskFileRead; task: TaskRecord | undefined }
  | { kind: 'toClaude'; task: TaskRecord }
  | { kind: 'fileDeleted'; task: TaskRecord }
  | { kind: 'droverDeleted'; file: TaskFileRead }
  | { kind: 'remember'; file: TaskFileRead; task: TaskRecord }
  | { kind: 'forget'; id: string };

const STATE_FILE = '.drover-sync';
const LOCK_OPTIONS = { realpath: false, stale: 10_000, update: 5_000, retries: { retries: 100, minTimeout: 10, maxTimeout: 200 } };
const hash = (text: string) => sha256Hex(text);
const render = (t: TaskRecord) => toClaudeFile(t, false);
const byNumber = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

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

  /** An id neither side has handed out. Call under the list lock. */
  private async freeId(): Promise<string> {
    let high = Math.max(readHighWater(this.dir), Number(await this.board.store.tasks.nextTaskId(this.board.listId)) - 1);
    for (const id of readTaskDir(this.dir).files.keys()) if (isCountableId(id)) high = Math.max(high, Number(id));
    return String(high + 1);
  }

  /** A task's file text: drover's state plus the edges Claude Code wrote that drover holds back (never dropped from its files). */
  private fileText(t: TaskRecord, state: SyncState, heldBlocks: Map<string, string[]>): string {
    const blockedBy = (state.entries[t.id]?.held ?? []).map((h) => h.blockedBy);
    return toClaudeFile(t, false, { blockedBy, blocks: heldBlocks.get(t.id) ?? [] });
  }

  /**
   * Writes (or creates) a task's file from drover's state. A task new to the
   * directory whose id Claude Code already handed out (at or below
   * `.highwatermark`, or taken since we looked) is renumbered first; creating
   * moves `.highwatermark` up, as Claude Code's own creates do.
   */
  private async writeTask(t: TaskRecord, known: boolean, text: (t: TaskRecord) => string, report: SyncReport): Promise<TaskRecord> {
    const path = join(this.dir, `${t.id}.json`);
    if (known && existsSync(path)) {
      await this.withLock(path, () => writeFileAtomic(path, text(t)));
      return t;
    }
    return this.withListLock(async () => {
      let task = t;
      const taken = existsSync(join(this.dir, `${task.id}.json`));
      const handedOut = !known && isCountableId(task.id) && Number(task.id) <= readHighWater(this.dir);
      if (taken || handedOut) {
        const newId = await this.freeId();
        task = await this.board.store.tasks.renumberTask(this.board.listId, t.id, newId, this.board.actor, this.board.now());
        report.renumbered.push({ from: t.id, to: newId });
      }
      writeFileAtomic(join(this.dir, `${task.id}.json`), text(task));
      if (isCountableId(task.id) && Number(task.id) > readHighWater(this.dir))
        writeFileAtomic(join(this.dir, '.highwatermark'), String(Number(task.id)));
      return task;
    });
  }

  /** Held edges whose file is unchanged are tried again: the user may have broken the cycle in drover. */
  private async retryHeld(state: SyncState, files: Map<string, TaskFileRead>): Promise<void> {
    for (const [id, entry] of Object.entries(state.entries)) {
      if (!entry.held?.length) continue;
      const file = files.get(id);
      if (!file || hash(file.raw) !== entry.file) continue; // changed files are applied afresh this pass
      const still: HeldEdge[] = [];
      for (const h of entry.held) {
        if (!file.task.blockedBy.includes(h.blockedBy)) continue;
        try {
          await this.board.addDependency(id, h.blockedBy);
        } catch (err) {
          still.push({ blockedBy: h.blockedBy, reason: reasonOf(err) });
        }
      }
      entry.held = still;
    }
  }

  /** One two-way pass. */
  async syncOnce(): Promise<SyncReport> {
    ensureDir(this.dir, 'Claude Code task folder');
    const state = this.loadState();
    const report: SyncReport = { toDrover: [], toClaude: [], conflicts: [], refused: [], held: [], renumbered: [], problems: [] };
    const { files, problems } = readTaskDir(this.dir);
    const high = readHighWaterChecked(this.dir);
    report.problems = high.problem ? [...problems, high.problem] : problems;
    // A file that does not read (torn, invalid, an id past 2^53−1) leaves its task alone: never read as deleted.
    const broken = new Set(problems.map((p) => p.id).filter((x): x is string => x !== undefined));
    // Ids Claude Code handed out are never reused by drover's next `tasks add`.
    let claudeHigh = high.value;
    for (const id of files.keys()) if (isCountableId(id)) claudeHigh = Math.max(claudeHigh, Number(id));
    await this.board.store.tasks.raiseHighWater(this.board.listId, claudeHigh, this.board.now());
    await this.retryHeld(state, files);

    const tasks = new Map((await this.board.list()).map((t) => [t.id, t]));
    const ids = [...new Set([...files.keys(), ...tasks.keys(), ...Object.keys(state.entries)])].sort(byNumber);
    const plans: Plan[] = [];
    for (const id of ids) {
      if (broken.has(id)) continue;
      plans.push(...(await this.plan(id, files.get(id), tasks.get(id), state, report)));
    }
    const remember = (id: string, fileText: string | null, task: TaskRecord | undefined) => {
      const held = state.entries[id]?.held;
      state.entries[id] = {
        file: fileText === null ? null : hash(fileText),
        drover: task ? hash(render(task)) : null,
        ...(held?.length ? { held } : {}),
      };
    };

    // Deleted in Claude Code: cancelled here (never deleted: Claude Code empties finished lists on its own).
    for (const p of plans) {
      if (p.kind !== 'fileDeleted') continue;
      const open = p.task.status === 'pending' || p.task.status === 'in_progress';
      const after = open ? await this.board.cancel(p.task.id) : p.task;
      await this.board.store.tasks.recordTaskEvent(
        this.board.listId,
        p.task.id,
        'updated',
        { source: 'claude', note: 'file deleted in the Claude Code task directory', ...(open ? { cancelled: true } : {}) },
        this.board.actor,
        this.board.now(),
      );
      report.toDrover.push(p.task.id);
      remember(p.task.id, null, after);
    }

    // Every changed file, in one transaction: tasks, then edges, then statuses.
    const incoming = plans.filter((p): p is Extract<Plan, { kind: 'toDrover' }> => p.kind === 'toDrover');
    const rewrite = new Set<string>();
    if (incoming.length > 0) {
      const items: TaskMirrorItem[] = incoming.map((p) => fromClaudeFile(p.file.task, p.file.path));
      const result = await this.board.mirror(items, { atomic: false, claims: 'owner', eventData: { source: 'claude' } });
      const byId = new Map(items.map((i) => [i.id, i]));
      for (const p of incoming) {
        const entry = state.entries[p.file.id] ?? { file: null, drover: null };
        entry.held = [];
        state.entries[p.file.id] = entry;
      }
      for (const r of result.refused) {
        const reason = describeRefusal(r, byId.get(r.id), tasks.get(r.id));
        report.refused.push({ id: r.id, reason });
        if (r.part === 'edge' && r.blockedBy !== undefined) state.entries[r.id]?.held?.push({ blockedBy: r.blockedBy, reason });
        if (r.part === 'state') rewrite.add(r.id);
      }
      // drover's cancelled mark left on a task Claude Code reopened is dropped from the file: a later
      // `completed` there must read as completed, not as cancelled.
      for (const p of incoming)
        if (p.file.task.status !== 'completed' && droverMark(p.file.task.metadata) === 'cancelled') rewrite.add(p.file.id);
      const after = new Map((await this.board.list()).map((t) => [t.id, t]));
      for (const p of incoming) {
        report.toDrover.push(p.file.id);
        const task = after.get(p.file.id);
        if (task && rewrite.has(task.id)) plans.push({ kind: 'toClaude', task });
        else remember(p.file.id, p.file.raw, task);
      }
    }

    // drover's side to Claude Code's files.
    const heldBlocks = new Map<string, string[]>();
    for (const [id, entry] of Object.entries(state.entries))
      for (const h of entry.held ?? []) heldBlocks.set(h.blockedBy, [...(heldBlocks.get(h.blockedBy) ?? []), id]);
    const text = (t: TaskRecord) => this.fileText(t, state, heldBlocks);
    for (const p of plans) {
      if (p.kind === 'toClaude') {
        // Known: this id was in the directory before (Claude Code never hands an id out twice).
        const known = state.entries[p.task.id] !== undefined;
        const written = await this.writeTask(p.task, known, text, report);
        report.toClaude.push(written.id);
        if (written.id !== p.task.id) delete state.entries[p.task.id];
        remember(written.id, text(written), written);
      } else if (p.kind === 'droverDeleted') {
        await this.withLock(p.file.path, () => unlinkSync(p.file.path));
        report.toClaude.push(p.file.id);
        delete state.entries[p.file.id];
      } else if (p.kind === 'remember') remember(p.task.id, p.file.raw, p.task);
      else if (p.kind === 'forget') delete state.entries[p.id]; // gone from both sides
    }
    for (const id of ids) {
      const e = state.entries[id];
      if (e && e.file === null && e.drover === null) delete state.entries[id];
    }
    for (const [id, entry] of Object.entries(state.entries).sort(([a], [b]) => byNumber(a, b)))
      for (const h of entry.held ?? []) report.held.push({ id, blockedBy: h.blockedBy, reason: h.reason });
    writeFileAtomic(join(this.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    return report;
  }

  /** Decides what one id needs; renumbering a collision and recording a conflict happen here. */
  private async plan(
    id: string,
    file: TaskFileRead | undefined,
    task: TaskRecord | undefined,
    state: SyncState,
    report: SyncReport,
  ): Promise<Plan[]> {
    const seen = state.entries[id];
    if (!seen) {
      if (file && task) {
        if (file.task.subject !== task.subject) {
          // Two different tasks took one id on either side: Claude Code's keeps it, drover's is renumbered.
          // Its file is created (and `.highwatermark` moved) by the write below, under the list lock.
          const newId = await this.withListLock(() => this.freeId());
          const moved = await this.board.store.tasks.renumberTask(this.board.listId, id, newId, this.board.actor, this.board.now());
          report.renumbered.push({ from: id, to: newId });
          return [
            { kind: 'toClaude', task: moved },
            { kind: 'toDrover', file, task: undefined },
          ];
        }
        if (render(task) === file.raw) return [{ kind: 'remember', file, task }];
        return file.mtimeMs > task.updatedAt ? [{ kind: 'toDrover', file, task }] : [{ kind: 'toClaude', task }];
      }
      if (file) return [{ kind: 'toDrover', file, task: undefined }];
      if (task) return [{ kind: 'toClaude', task }];
      return [];
    }
    const fileChanged = (file ? hash(file.raw) : null) !== seen.file;
    const droverChanged = (task ? hash(render(task)) : null) !== seen.drover;
    if (!fileChanged && !droverChanged) return [];
    if (fileChanged && droverChanged && file && task) {
      const claudeNewer = file.mtimeMs > task.updatedAt;
      report.conflicts.push({ id, winner: claudeNewer ? 'claude' : 'drover', loser: claudeNewer ? render(task) : file.raw });
      await this.board.store.tasks.recordTaskEvent(
        this.board.listId,
        id,
        'conflict',
        { winner: claudeNewer ? 'claude' : 'drover', rule: 'newer change wins', lost: claudeNewer ? JSON.parse(render(task)) : file.task },
        this.board.actor,
        this.board.now(),
      );
      return claudeNewer ? [{ kind: 'toDrover', file, task }] : [{ kind: 'toClaude', task }];
    }
    if (fileChanged) {
      if (file) return [{ kind: 'toDrover', file, task }];
      if (task) return [{ kind: 'fileDeleted', task }];
      return [{ kind: 'forget', id }];
    }
    if (task) return [{ kind: 'toClaude', task }];
    if (file) return [{ kind: 'droverDeleted', file }];
    return [{ kind: 'forget', id }];
  }

  /** Syncs whenever the directory (looked at every `intervalMs`) or the list (watched: `TaskStore.watchTasks`) changes, until `signal` aborts. */
  async watch(signal: AbortSignal, onReport: (r: SyncReport) => void, intervalMs = 500): Promise<void> {
    let lastSeq = -1;
    let dirty = true;
    ensureDir(this.dir, 'Claude Code task folder');
    const watcher = watch(this.dir, () => {
      dirty = true;
    });
    // The store's side wakes the loop at once (LISTEN/NOTIFY on PostgreSQL); the folder's every intervalMs.
    const changes = await this.board.store.tasks.watchTasks(this.board.listId);
    try {
      while (!signal.aborted) {
        const seq = await this.board.store.tasks.lastTaskEventSeq(this.board.listId);
        if (dirty || seq !== lastSeq) {
          dirty = false;
          onReport(await this.syncOnce());
          lastSeq = await this.board.store.tasks.lastTaskEventSeq(this.board.listId);
        }
        // A notification counts even when the sequence looks the same: on PostgreSQL a transaction that
        // drew a lower sequence can commit after the last look.
        if ((await changes.next({ timeoutMs: intervalMs, signal })) === 'notify') dirty = true;
      }
    } finally {
      watcher.close();
      await changes.close();
    }
  }
}

/** `metadata.drover.status` of a file, if any. */
function droverMark(metadata: Record<string, unknown> | undefined): unknown {
  const drover = metadata?.drover;
  return drover && typeof drover === 'object' ? (drover as Record<string, unknown>).status : undefined;
}

/** A rule refusal's message; anything else is not ours to swallow. */
function reasonOf(err: unknown): string {
  if (err instanceof TaskRuleError) return err.message;
  throw err;
}

/** A refusal in Claude Code's terms: which part of the file drover did not take, and why. */
function describeRefusal(r: TaskMirrorRefusal, item: TaskMirrorItem | undefined, before: TaskRecord | undefined): string {
  if (r.part === 'edge') {
    return r.code === 'MISSING_TASK'
      ? `blockedBy #${r.blockedBy}: no such task (Claude Code ignores unknown ids; drover refuses them)`
      : r.reason;
  }
  if (r.part === 'state' && item) {
    const what = before && before.status === item.status ? `owner ${item.owner ?? '(none)'}` : `status ${item.status}`;
    return `${what}: ${r.reason}`;
  }
  return r.reason;
}
