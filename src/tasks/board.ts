import { parseDuration } from '../core/index.js';
import type {
  Actor,
  Claimant,
  NewTask,
  Store,
  TaskMirrorItem,
  TaskMirrorOptions,
  TaskMirrorResult,
  TaskPatch,
  TaskRecord,
  TaskStatus,
} from '../store/index.js';
import { TaskRuleError } from '../store/task-errors.js';

export const DEFAULT_LEASE_MS = 10 * 60_000;

/**
 * One task list seen by one actor: the API the CLI, the MCP server, the
 * Claude Code bridge and workflows share. Rules live in the store.
 */
/** Default page of `ready`. */
export const READY_PAGE = 100;

export class TaskBoard {
  constructor(
    readonly store: Store,
    readonly listId: string,
    readonly actor: Actor,
    private readonly clock: () => number = Date.now,
  ) {}

  private get tasks() {
    return this.store.tasks;
  }

  create(task: NewTask): Promise<TaskRecord> {
    return this.tasks.createTask(this.listId, task, this.actor, this.clock());
  }
  /**
   * Changes a task. A change of status or owner of a claimed task must come from
   * its holder: this actor (by name, or as the maker of the claim), or
   * `options.claimant` when given. Throws `TaskRuleError` `NOT_OWNER` / `LEASE_EXPIRED` (exit 6).
   */
  update(id: string, patch: TaskPatch, options: { claimant?: Claimant } = {}): Promise<TaskRecord> {
    return this.tasks.updateTask(this.listId, id, patch, this.actor, this.clock(), options.claimant);
  }
  addDependency(id: string, blockedBy: string): Promise<TaskRecord> {
    return this.tasks.addDependency(this.listId, id, blockedBy, this.actor, this.clock());
  }
  removeDependency(id: string, blockedBy: string): Promise<TaskRecord> {
    return this.tasks.removeDependency(this.listId, id, blockedBy, this.actor, this.clock());
  }
  get(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.getTask(this.listId, id, this.clock());
  }
  list(filter?: { status?: TaskStatus; owner?: string; label?: string }): Promise<TaskRecord[]> {
    return this.tasks.listTasks(this.listId, this.clock(), filter);
  }
  /**
   * The best ready tasks (priority, then age), a page of READY_PAGE unless `limit` says
   * otherwise (`Infinity` for every one): what an agent picks from is the top of the list,
   * and a page stays fast on any board size.
   */
  ready(limit: number = READY_PAGE): Promise<TaskRecord[]> {
    return this.tasks.readyTasks(this.listId, this.clock(), Number.isFinite(limit) ? limit : 1_000_000_000);
  }
  readyCount(): Promise<number> {
    return this.tasks.countReady(this.listId, this.clock());
  }
  claim(options: { id?: string; owner?: string; leaseMs?: number } = {}): Promise<TaskRecord> {
    return this.tasks.claimTask(
      this.listId,
      {
        ...(options.id !== undefined ? { id: options.id } : {}),
        owner: options.owner ?? this.actor.name,
        leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
      },
      this.actor,
      this.clock(),
    );
  }
  /**
   * `claim`, waiting when there is nothing to take: on `NOTHING_READY` (or, for a named task,
   * `ALREADY_CLAIMED` / `BLOCKED`) it waits for the list to change — a commit by any process (at
   * once on PostgreSQL, by LISTEN/NOTIFY; by polling on SQLite) or a lease running out — and tries
   * again, for at most `waitMs` (then the last refusal is thrown). `onWait` runs each time it starts waiting.
   * Throws `TaskRuleError` as `claim` does.
   */
  claimWait(options: {
    id?: string;
    owner?: string;
    leaseMs?: number;
    waitMs: number;
    signal?: AbortSignal;
    onWait?: () => void;
    pollMs?: number;
  }): Promise<TaskRecord> {
    const { waitMs, signal, onWait, pollMs, ...claim } = options;
    const waitable = claim.id === undefined ? ['NOTHING_READY'] : ['ALREADY_CLAIMED', 'BLOCKED'];
    return this.untilChange(
      async () => {
        try {
          return await this.claim(claim);
        } catch (err) {
          if (err instanceof TaskRuleError && waitable.includes(err.code)) return { refused: err };
          throw err;
        }
      },
      { waitMs, ...(signal ? { signal } : {}), ...(onWait ? { onWait } : {}), ...(pollMs !== undefined ? { pollMs } : {}) },
    );
  }
  /**
   * `ready`, waiting for at least one ready task for at most `waitMs` (same wake-ups as
   * `claimWait`); an empty page when none became ready in time.
   */
  async readyWait(
    limit: number,
    options: { waitMs: number; signal?: AbortSignal; onWait?: () => void; pollMs?: number },
  ): Promise<TaskRecord[]> {
    try {
      return await this.untilChange(async () => {
        const tasks = await this.ready(limit);
        return tasks.length > 0 ? tasks : { refused: new TaskRuleError('NOTHING_READY', `no task is ready in list ${this.listId}`) };
      }, options);
    } catch (err) {
      if (err instanceof TaskRuleError && err.code === 'NOTHING_READY') return [];
      throw err;
    }
  }
  /** Runs `attempt` until it gives a value, waiting for a change of the list between tries (the watch starts first, so no change is missed). */
  private async untilChange<T>(
    attempt: () => Promise<T | { refused: TaskRuleError }>,
    options: { waitMs: number; signal?: AbortSignal; onWait?: () => void; pollMs?: number },
  ): Promise<T> {
    const deadline = Date.now() + options.waitMs;
    const watch = await this.tasks.watchTasks(this.listId, options.pollMs !== undefined ? { pollMs: options.pollMs } : {});
    try {
      for (;;) {
        const out = await attempt();
        if (!(out && typeof out === 'object' && 'refused' in out && out.refused instanceof TaskRuleError)) return out as T;
        const left = deadline - Date.now();
        if (left <= 0 || options.signal?.aborted) throw out.refused;
        options.onWait?.();
        const woke = await watch.next({ timeoutMs: left, ...(options.signal ? { signal: options.signal } : {}) });
        if (woke === 'aborted') throw out.refused;
      }
    } finally {
      await watch.close();
    }
  }
  heartbeat(id: string, options: { owner?: string; leaseMs?: number } = {}): Promise<TaskRecord> {
    return this.tasks.heartbeatTask(
      this.listId,
      id,
      options.owner ?? this.actor.name,
      options.leaseMs ?? DEFAULT_LEASE_MS,
      this.actor,
      this.clock(),
    );
  }
  /**
   * Completes a task. While it is claimed, only its holder may: the owner named by
   * `options.owner`, else this actor (its name is the owner, or it made the claim).
   * A writer whose own lease ran out is refused even when nobody holds the task now.
   * Throws `TaskRuleError` `NOT_OWNER` / `LEASE_EXPIRED` (exit 6), `BLOCKED`.
   */
  complete(id: string, options: { owner?: string } = {}): Promise<TaskRecord> {
    return this.tasks.completeTask(this.listId, id, this.actor, this.clock(), options.owner);
  }
  cancel(id: string): Promise<TaskRecord> {
    return this.tasks.cancelTask(this.listId, id, this.actor, this.clock());
  }
  /** Gives a claim back to the board; only its holder may (same rule and errors as `complete`). */
  release(id: string, options: { owner?: string } = {}): Promise<TaskRecord> {
    return this.tasks.releaseTask(this.listId, id, this.actor, this.clock(), options.owner);
  }
  delete(id: string, cascade = false): Promise<string[]> {
    return this.tasks.deleteTask(this.listId, id, { cascade }, this.actor, this.clock());
  }
  /** Makes the list match `items` in one transaction (import, the Claude Code bridge): see `TaskStore.mirrorTasks`. */
  mirror(items: TaskMirrorItem[], options: TaskMirrorOptions): Promise<TaskMirrorResult> {
    return this.tasks.mirrorTasks(this.listId, items, this.actor, this.clock(), options);
  }
  /** Now, by this board's clock (ms since the epoch). */
  now(): number {
    return this.clock();
  }
  history(id?: string) {
    return this.tasks.history(this.listId, id);
  }
}

export function parseLease(text: string | undefined): number {
  return text === undefined ? DEFAULT_LEASE_MS : parseDuration(text, '--lease');
}

/** `--wait [duration]`: undefined when absent (no waiting), Infinity when given without a duration, else ms. */
export function parseWait(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  return value === true ? Number.POSITIVE_INFINITY : parseDuration(value, '--wait');
}

/** Claude Code's TaskList line: `#1 [in_progress] Build service (agent-a)`, `#2 [pending] Test [blocked by #1]`. */
export function taskLine(t: TaskRecord, open?: Set<string>): string {
  const openBlockers = open ? t.blockedBy.filter((b) => open.has(b)) : t.blockedBy;
  return `#${t.id} [${t.status}] ${t.subject}${t.owner ? ` (${t.owner})` : ''}${openBlockers.length ? ` [blocked by ${openBlockers.map((b) => `#${b}`).join(', ')}]` : ''}`;
}

export function openIds(tasks: TaskRecord[]): Set<string> {
  return new Set(tasks.filter((t) => t.status === 'pending' || t.status === 'in_progress').map((t) => t.id));
}
