/** Task board records (DESIGN.md "Tasks"): Claude Code's fields plus priority, labels, lease, times. */

export type TaskStatus = 'pending' | 'in_progress' | 'completed' | 'cancelled';

export interface TaskRecord {
  listId: string;
  id: string;
  subject: string;
  description: string;
  activeForm: string | null;
  status: TaskStatus;
  owner: string | null;
  /** Tasks this one blocks (they wait for it). */
  blocks: string[];
  /** Tasks that block this one. */
  blockedBy: string[];
  metadata: Record<string, unknown>;
  /** 0 is most urgent; `claim` takes the lowest number first, then the oldest. */
  priority: number;
  labels: string[];
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Actor {
  /** Who acted: a person, an agent label, a process. */
  name: string;
  /** Which session/agent/run it came from, when known. */
  session?: string;
}

export interface NewTask {
  /** Explicit id (import, bridge); otherwise the next number of the list. */
  id?: string;
  subject: string;
  description?: string;
  activeForm?: string | null;
  status?: TaskStatus;
  owner?: string | null;
  priority?: number;
  labels?: string[];
  metadata?: Record<string, unknown>;
  blockedBy?: string[];
  blocks?: string[];
  createdAt?: number;
}

export interface TaskPatch {
  subject?: string;
  description?: string;
  activeForm?: string | null;
  status?: TaskStatus;
  owner?: string | null;
  priority?: number;
  labels?: string[];
  /** Merged into the task's metadata; a key set to null is removed. */
  metadata?: Record<string, unknown>;
}

export type TaskEventKind =
  | 'created'
  | 'updated'
  | 'claimed'
  | 'heartbeat'
  | 'released'
  | 'lease_expired'
  | 'completed'
  | 'cancelled'
  | 'dep_added'
  | 'dep_removed'
  | 'deleted'
  | 'renumbered'
  | 'conflict'
  | 'refused';

export interface TaskEvent {
  seq: number;
  listId: string;
  taskId: string;
  at: number;
  actor: string;
  session: string | null;
  kind: TaskEventKind;
  data: Record<string, unknown>;
}

export interface ClaimRequest {
  /** A specific task; otherwise the best ready one (priority, then age). */
  id?: string;
  owner: string;
  leaseMs: number;
}

/**
 * Who writes to a claimed task. A task is *claimed* while it is `in_progress`
 * with a lease (`claim`); a claimed task's status and owner change only by its
 * holder, checked in the same transaction as the write. `undefined`: the actor
 * is the holder when its name is the owner or it made the claim (same name and
 * session); a string: the holder must be the owner of that name; `null`: no
 * check (administrative writes such as `import`).
 * Refusals: `TaskRuleError` `NOT_OWNER` (someone else holds the claim) or
 * `LEASE_EXPIRED` (the writer's own claim ran out), both exit 6.
 */
export type Claimant = string | null | undefined;

/** A task as another system holds it (a Claude Code file, an exported folder), for `mirrorTasks`. */
export interface TaskMirrorItem {
  id: string;
  subject: string;
  description: string;
  activeForm: string | null;
  status: TaskStatus;
  owner: string | null;
  /** Unchanged when absent. */
  priority?: number;
  /** Unchanged when absent. */
  labels?: string[];
  /** The whole metadata (keys not named are removed). */
  metadata: Record<string, unknown>;
  /** Exactly the blockers wanted: edges not named are removed. */
  blockedBy: string[];
  createdAt?: number;
  /** Where the item comes from (a file path): named in refusals. */
  source?: string;
}

export interface TaskMirrorOptions {
  /** true: the first refusal throws (its message names the item's source) and nothing is written. false: each refusal is reported and the rest applied. */
  atomic: boolean;
  /** 'owner': status/owner changes of a claimed task must come from its holder, named by the item's owner; 'ignore': no claim check. */
  claims: 'owner' | 'ignore';
  /** Added to every event this writes (e.g. `{ source: 'claude' }`). */
  eventData?: Record<string, unknown>;
  /** Runs inside the transaction just before it commits (tests use it to kill the process there). */
  beforeCommit?: () => void;
}

export interface TaskMirrorRefusal {
  id: string;
  /** What was refused: the task itself, one blocker edge, or its status/owner. */
  part: 'task' | 'edge' | 'state';
  /** The refused blocker, for `part: 'edge'`. */
  blockedBy?: string;
  code: string;
  reason: string;
}

export interface TaskMirrorResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  refused: TaskMirrorRefusal[];
}

/** The task board's persistence; every rule is enforced inside one transaction. */
export interface TaskStore {
  createTask(listId: string, task: NewTask, actor: Actor, now: number): Promise<TaskRecord>;
  /** A change of status or owner of a claimed task is checked against `claimant` (see `Claimant`). */
  updateTask(listId: string, id: string, patch: TaskPatch, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord>;
  addDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord>;
  removeDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord>;
  getTask(listId: string, id: string, now: number): Promise<TaskRecord | undefined>;
  listTasks(listId: string, now: number, filter?: { status?: TaskStatus; owner?: string; label?: string }): Promise<TaskRecord[]>;
  readyTasks(listId: string, now: number, limit?: number): Promise<TaskRecord[]>;
  /** How many tasks are ready (an index count: no rows built). */
  countReady(listId: string, now: number): Promise<number>;
  claimTask(listId: string, request: ClaimRequest, actor: Actor, now: number): Promise<TaskRecord>;
  heartbeatTask(listId: string, id: string, owner: string, leaseMs: number, actor: Actor, now: number): Promise<TaskRecord>;
  /** Refused (`NOT_OWNER`, `LEASE_EXPIRED`) unless `claimant` holds the claim, when the task is claimed or the writer's claim ran out. */
  completeTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord>;
  /** Not a claimant's write: anyone may cancel (it unblocks dependents). */
  cancelTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord>;
  /** Gives a claim back; only its holder may (`NOT_OWNER`, `LEASE_EXPIRED`). */
  releaseTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord>;
  /**
   * Makes drover's tasks match `items` in one transaction: every task is created
   * or updated first, then edges, then statuses (blockers first), so an edge to a
   * task later in the batch is never refused as missing.
   */
  mirrorTasks(listId: string, items: TaskMirrorItem[], actor: Actor, now: number, options: TaskMirrorOptions): Promise<TaskMirrorResult>;
  /** Raises the list's id high-water mark to at least `n` (ids handed out elsewhere are never reused). */
  raiseHighWater(listId: string, n: number, now: number): Promise<void>;
  deleteTask(listId: string, id: string, options: { cascade: boolean }, actor: Actor, now: number): Promise<string[]>;
  /** Gives a task a new id (the Claude Code bridge resolves id collisions this way). */
  renumberTask(listId: string, id: string, newId: string, actor: Actor, now: number): Promise<TaskRecord>;
  nextTaskId(listId: string): Promise<string>;
  recordTaskEvent(
    listId: string,
    taskId: string,
    kind: TaskEventKind,
    data: Record<string, unknown>,
    actor: Actor,
    now: number,
  ): Promise<void>;
  history(listId: string, taskId?: string): Promise<TaskEvent[]>;
  /** Highest event sequence of a list: watchers compare it to see whether anything changed. */
  lastTaskEventSeq(listId: string): Promise<number>;
  listTaskLists(): Promise<string[]>;
  /**
   * Starts watching a list for changes: the watch sees every change committed after this
   * resolves, by any process (so a caller watches first, then looks, then waits: no change is
   * missed in between). SQLite: polls the list's event sequence. PostgreSQL: LISTEN on the list's
   * channel (every committed change of the list sends NOTIFY), with polling as the fallback.
   */
  watchTasks(listId: string, options?: TaskWatchOptions): Promise<TaskWatch>;
}

export interface TaskWatchOptions {
  /**
   * How often the list's change mark is polled, ms. SQLite: the only way to see other processes'
   * changes (default 250). PostgreSQL: the fallback for a lost LISTEN connection (default 2000
   * while listening, 250 when LISTEN is not available).
   */
  pollMs?: number;
}

/**
 * What woke a wait: `notify` (PostgreSQL NOTIFY of a committed change), `poll` (the change mark
 * moved), `lease` (a claimed task's lease ran out, which no writer announces), `timeout`, `aborted`.
 */
export type TaskWake = 'notify' | 'poll' | 'lease' | 'timeout' | 'aborted';

/** A watch of one list (`TaskStore.watchTasks`); close it when done (PostgreSQL: releases the LISTEN). */
export interface TaskWatch {
  /**
   * Resolves at once when the list changed since the watch began or since the previous `next`
   * resolved; otherwise at the next change, at the earliest lease of the list running out
   * (by this machine's clock), at `timeoutMs` (default: no limit) or when `signal` aborts.
   */
  next(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<TaskWake>;
  close(): Promise<void>;
}
