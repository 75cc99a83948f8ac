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

/** The task board's persistence; every rule is enforced inside one transaction. */
export interface TaskStore {
  createTask(listId: string, task: NewTask, actor: Actor, now: number): Promise<TaskRecord>;
  updateTask(listId: string, id: string, patch: TaskPatch, actor: Actor, now: number): Promise<TaskRecord>;
  addDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord>;
  removeDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord>;
  getTask(listId: string, id: string, now: number): Promise<TaskRecord | undefined>;
  listTasks(listId: string, now: number, filter?: { status?: TaskStatus; owner?: string; label?: string }): Promise<TaskRecord[]>;
  readyTasks(listId: string, now: number, limit?: number): Promise<TaskRecord[]>;
  /** How many tasks are ready (an index count: no rows built). */
  countReady(listId: string, now: number): Promise<number>;
  claimTask(listId: string, request: ClaimRequest, actor: Actor, now: number): Promise<TaskRecord>;
  heartbeatTask(listId: string, id: string, owner: string, leaseMs: number, actor: Actor, now: number): Promise<TaskRecord>;
  completeTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord>;
  cancelTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord>;
  releaseTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord>;
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
}
