import { createHash } from 'node:crypto';
import type pg from 'pg';
import { safeJson } from '../rows.js';
import { TaskRuleError } from '../task-errors.js';
import {
  applyTaskPatch,
  byNumber,
  isCountableId,
  isOpen,
  iso,
  normalizeLabels,
  pushTo,
  redactedTaskRow,
  type TaskRow,
  taskDiff,
  taskFromRow,
  taskSnapshot,
} from '../task-rows.js';
import type {
  Actor,
  Claimant,
  ClaimRequest,
  NewTask,
  TaskEvent,
  TaskEventKind,
  TaskMirrorItem,
  TaskMirrorOptions,
  TaskMirrorResult,
  TaskPatch,
  TaskRecord,
  TaskStatus,
  TaskStore,
  TaskWatch,
  TaskWatchOptions,
} from '../task-types.js';
import { TaskWatcher } from '../task-watch.js';
import type { PgDb, Queryable } from './db.js';

// Ties within one millisecond fall back to the id, compared bytewise as SQLite does.
const ORDER = 'ORDER BY priority, created_at, id COLLATE "C"';
const EDGES = `ARRAY(SELECT blocker_id FROM task_deps d WHERE d.list_id = t.list_id AND d.task_id = t.id) AS blocked_by,
  ARRAY(SELECT task_id FROM task_deps d WHERE d.list_id = t.list_id AND d.blocker_id = t.id) AS blocks`;
const READY = "list_id = $1 AND status = 'pending' AND open_blockers = 0";
const EXPIRED = "list_id = $1 AND status = 'in_progress' AND lease_expires_at IS NOT NULL AND lease_expires_at <= $2";
const STATE_COLUMNS = 'status = $3, owner = $4, lease_expires_at = $5, updated_at = $6';

type EdgeRow = TaskRow & { blocked_by: string[]; blocks: string[] };

export interface PgTaskStoreOptions {
  /** Poll interval of watches while LISTEN works, ms (default 2000): the net under a lost notification. */
  listeningPollMs?: number;
  /** Poll interval of watches when LISTEN is not available, ms (default 250). */
  pollingPollMs?: number;
}

/**
 * The NOTIFY channel of one list of one store: `drover_tasks:<schema>:<list>` when that fits in
 * PostgreSQL's 63-byte identifiers, else `drover_tasks:` and a SHA-256 prefix of schema and list.
 */
export function taskChannel(schema: string | null, listId: string): string {
  const plain = `drover_tasks:${schema ?? 'public'}:${listId}`;
  if (Buffer.byteLength(plain) <= 63 && !/[\0"]/.test(plain)) return plain;
  return `drover_tasks:${createHash('sha256')
    .update(`${schema ?? 'public'}\0${listId}`)
    .digest('hex')
    .slice(0, 40)}`;
}

/** SQLite's `ORDER BY CAST(id AS INTEGER), id`: a leading integer (0 when none), then the id bytewise. */
function sqliteIdOrder(a: string, b: string): number {
  const lead = (s: string) => {
    const m = /^\s*[+-]?\d+/.exec(s);
    return m ? Number(m[0]) : 0;
  };
  const d = lead(a) - lead(b);
  if (d !== 0) return d;
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ab, bb);
}

/**
 * The task board on PostgreSQL: the rules of the SQLite task store (src/store/sqlite/task-store.ts)
 * under READ COMMITTED with any number of connections and machines.
 *
 * Concurrency: every change of the graph or the id counter (create, edges, delete, renumber,
 * mirror) holds the list's row in `task_lists` FOR UPDATE — one at a time per list, as SQLite's
 * IMMEDIATE transaction gives, so two cycle checks never pass each other. Every write locks the task
 * rows it decides on, and whoever reads a blocker's status to move an open-blocker count holds that
 * blocker's row, so status changes (claim, heartbeat, complete, cancel, release, update) need only
 * row locks and run in parallel. A claim picks the best ready task with `FOR UPDATE SKIP LOCKED`
 * (racing claimers take different tasks), and only when that finds nothing waits for the rows others
 * hold, so `NOTHING_READY` means nothing is ready. Deadlocks between opposite row orders are retried.
 * Every transaction that changes a list (it records a task event) sends `pg_notify` on the list's
 * channel (`taskChannel`), delivered when it commits; `watchTasks` LISTENs on a dedicated connection.
 */
export class PgTaskStore implements TaskStore {
  private readonly listeningPollMs: number;
  private readonly pollingPollMs: number;
  private listener: Listener | null = null;

  constructor(
    readonly db: PgDb,
    options: PgTaskStoreOptions = {},
  ) {
    this.listeningPollMs = options.listeningPollMs ?? 2000;
    this.pollingPollMs = options.pollingPollMs ?? 250;
  }

  /** The NOTIFY channel of a list of this store. */
  channel(listId: string): string {
    return taskChannel(this.db.schema, listId);
  }

  /**
   * One write transaction on a list. `lock`: hold the list's row (created first when `ensure` is
   * given, the time it records) so graph and counter changes of the list run one at a time.
   */
  private write<T>(listId: string, fn: (q: Queryable) => Promise<T>, options: { lock: boolean; ensure?: number }): Promise<T> {
    return this.db.tx(async (q) => {
      if (options.ensure !== undefined) {
        await q.query('INSERT INTO task_lists (id, high_water, created_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING', [
          listId,
          options.ensure,
        ]);
      }
      if (options.lock) await q.query('SELECT 1 FROM task_lists WHERE id = $1 FOR UPDATE', [listId]);
      // Every change records an event, which sends the list's notification (`event`): watchers never wake for nothing.
      return fn(q);
    });
  }

  /** Read paths write only when some lease has run out and must be returned first. */
  private async expireDueLeases(listId: string, now: number): Promise<void> {
    const due = await this.db.rows(`SELECT 1 FROM tasks WHERE ${EXPIRED} LIMIT 1`, [listId, now]);
    if (due.length > 0) await this.write(listId, (q) => this.expireLeases(q, listId, now), { lock: false });
  }

  private async find(q: Queryable, listId: string, id: string): Promise<TaskRow | undefined> {
    return (await q.query<TaskRow>('SELECT * FROM tasks WHERE list_id = $1 AND id = $2 FOR UPDATE', [listId, id])).rows[0];
  }

  /** The task, locked for this transaction. */
  private async row(q: Queryable, listId: string, id: string): Promise<TaskRow> {
    const row = await this.find(q, listId, id);
    if (!row) throw new TaskRuleError('MISSING_TASK', `task #${id} does not exist in list ${listId}`);
    return row;
  }

  /** The task as stored now, with its edges. */
  private async record(q: Queryable, row: TaskRow): Promise<TaskRecord> {
    const edges = (
      await q.query<{ blocked_by: string[]; blocks: string[] }>(`SELECT ${EDGES} FROM tasks t WHERE list_id = $1 AND id = $2`, [
        row.list_id,
        row.id,
      ])
    ).rows[0] ?? { blocked_by: [], blocks: [] };
    return taskFromRow(row, edges.blocks.sort(byNumber), edges.blocked_by.sort(byNumber));
  }

  private async event(
    q: Queryable,
    listId: string,
    taskId: string,
    kind: TaskEventKind,
    data: Record<string, unknown>,
    actor: Actor,
    now: number,
  ): Promise<void> {
    // The event and its announcement in one round trip; PostgreSQL sends one notification per channel
    // per transaction, at commit, and drops those of a rolled-back savepoint.
    await q.query(
      `WITH e AS (INSERT INTO task_events (list_id, task_id, at, actor, session, kind, data_json) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1)
       SELECT pg_notify($8, '') FROM e`,
      [listId, taskId, now, actor.name, actor.session ?? null, kind, safeJson(data), this.channel(listId)],
    );
  }

  private async writeRow(q: Queryable, row: TaskRow): Promise<void> {
    // In place: the record the caller gets back shows what was stored.
    Object.assign(row, redactedTaskRow(row));
    await q.query(
      `UPDATE tasks SET subject = $3, description = $4, active_form = $5, status = $6, owner = $7, priority = $8, labels_json = $9,
        metadata_json = $10, lease_expires_at = $11, updated_at = $12 WHERE list_id = $1 AND id = $2`,
      [
        row.list_id,
        row.id,
        row.subject,
        row.description,
        row.active_form,
        row.status,
        row.owner,
        row.priority,
        row.labels_json,
        row.metadata_json,
        row.lease_expires_at,
        row.updated_at,
      ],
    );
  }

  private async writeState(q: Queryable, row: TaskRow): Promise<void> {
    await q.query(`UPDATE tasks SET ${STATE_COLUMNS} WHERE list_id = $1 AND id = $2`, [
      row.list_id,
      row.id,
      row.status,
      row.owner,
      row.lease_expires_at,
      row.updated_at,
    ]);
  }

  /** Changes status, keeping dependents' open-blocker counts in step. */
  private async setStatus(q: Queryable, row: TaskRow, status: TaskStatus): Promise<void> {
    if (isOpen(row.status) !== isOpen(status)) {
      await q.query(
        'UPDATE tasks SET open_blockers = open_blockers + $1 WHERE list_id = $2 AND id IN (SELECT task_id FROM task_deps WHERE list_id = $2 AND blocker_id = $3)',
        [isOpen(status) ? 1 : -1, row.list_id, row.id],
      );
    }
    row.status = status;
  }

  /** Leases that ran out return their tasks to pending (recorded). Waits for rows others hold, then looks again. */
  private async expireLeases(q: Queryable, listId: string, now: number): Promise<void> {
    const rows = (await q.query<TaskRow>(`SELECT * FROM tasks WHERE ${EXPIRED} ORDER BY id COLLATE "C" FOR UPDATE`, [listId, now])).rows;
    for (const row of rows) {
      const { owner, lease_expires_at: leaseExpiresAt } = row;
      row.status = 'pending';
      row.owner = null;
      row.lease_expires_at = null;
      row.updated_at = now;
      await this.writeState(q, row);
      await this.event(q, listId, row.id, 'lease_expired', { owner, leaseExpiresAt }, { name: 'drover' }, now);
    }
  }

  private async assertNotBlocked(q: Queryable, row: TaskRow, verb: string): Promise<void> {
    if (row.open_blockers > 0) {
      const open = (
        await q.query<{ blocker_id: string }>(
          `SELECT d.blocker_id FROM task_deps d JOIN tasks b ON b.list_id = d.list_id AND b.id = d.blocker_id
           WHERE d.list_id = $1 AND d.task_id = $2 AND b.status IN ('pending', 'in_progress')`,
          [row.list_id, row.id],
        )
      ).rows
        .map((r) => r.blocker_id)
        .sort(byNumber);
      throw new TaskRuleError('BLOCKED', `task #${row.id} cannot be ${verb}: blocked by unfinished ${open.map((b) => `#${b}`).join(', ')}`);
    }
  }

  private async readHighWater(q: Queryable | PgDb, listId: string): Promise<number> {
    const r = (await q.query<{ high_water: number }>('SELECT high_water FROM task_lists WHERE id = $1', [listId])).rows[0];
    return r?.high_water ?? 0;
  }

  private async setHighWater(q: Queryable, listId: string, n: number): Promise<void> {
    await q.query('UPDATE task_lists SET high_water = GREATEST(high_water, $1) WHERE id = $2', [n, listId]);
  }

  /**
   * The list's high-water mark. A mark past 2^53−1 (left by a drover that took a huge id
   * from a file) is repaired from the ids the list holds, so allocation works again.
   */
  private async highWater(q: Queryable, listId: string): Promise<number> {
    const high = await this.readHighWater(q, listId);
    if (Number.isSafeInteger(high)) return high;
    let repaired = 0;
    for (const { id } of (await q.query<{ id: string }>('SELECT id FROM tasks WHERE list_id = $1', [listId])).rows) {
      if (isCountableId(id)) repaired = Math.max(repaired, Number(id));
    }
    await q.query('UPDATE task_lists SET high_water = $1 WHERE id = $2', [repaired, listId]);
    return repaired;
  }

  private async lastClaims(q: Queryable, row: TaskRow) {
    return (
      await q.query<{ seq: number; actor: string; session: string | null; data_json: string }>(
        "SELECT seq, actor, session, data_json FROM task_events WHERE list_id = $1 AND task_id = $2 AND kind = 'claimed' ORDER BY seq DESC LIMIT 100",
        [row.list_id, row.id],
      )
    ).rows;
  }

  /** Whether the writer holds the task's claim (see `Claimant`). */
  private async holds(q: Queryable, row: TaskRow, actor: Actor, claimant: Claimant): Promise<boolean> {
    if (claimant === null) return true;
    if (typeof claimant === 'string') return claimant === row.owner;
    if (actor.name === row.owner) return true;
    const last = (await this.lastClaims(q, row))[0];
    return !!last && last.actor === actor.name && last.session === (actor.session ?? null);
  }

  /** When the writer's own latest claim of this task ended by its lease running out: that lease's end. */
  private async expiredClaim(q: Queryable, row: TaskRow, actor: Actor, claimant: Claimant): Promise<number | null> {
    if (claimant === null) return null;
    const mine = (await this.lastClaims(q, row)).find((c) => {
      const owner = (JSON.parse(c.data_json) as { owner?: string }).owner;
      if (typeof claimant === 'string') return owner === claimant;
      return owner === actor.name || (c.actor === actor.name && c.session === (actor.session ?? null));
    });
    if (!mine) return null;
    const ends = (
      await q.query<{ kind: TaskEventKind; at: number; data_json: string }>(
        "SELECT kind, at, data_json FROM task_events WHERE list_id = $1 AND task_id = $2 AND seq > $3 AND kind IN ('lease_expired', 'released', 'completed', 'cancelled', 'claimed', 'updated', 'deleted') ORDER BY seq",
        [row.list_id, row.id, mine.seq],
      )
    ).rows;
    for (const e of ends) {
      if (e.kind === 'updated' && !(JSON.parse(e.data_json) as { changes?: Record<string, unknown> }).changes?.status) continue;
      if (e.kind !== 'lease_expired') return null;
      return ((JSON.parse(e.data_json) as { leaseExpiresAt?: number }).leaseExpiresAt ?? e.at) as number;
    }
    return null;
  }

  /**
   * A claimant's write (complete, release, a status or owner change) must come
   * from the holder of the claim while the task is claimed, and never from a
   * writer whose own claim ran out. Checked in the writer's transaction.
   */
  private async assertClaim(q: Queryable, row: TaskRow, actor: Actor, claimant: Claimant, verb: string): Promise<void> {
    if (claimant === null) return;
    const claimed = row.status === 'in_progress' && row.lease_expires_at !== null;
    if (claimed && (await this.holds(q, row, actor, claimant))) return;
    const who = claimant === undefined ? actor.name : claimant || 'a writer naming no owner';
    const expired = await this.expiredClaim(q, row, actor, claimant);
    if (expired !== null) {
      throw new TaskRuleError(
        'LEASE_EXPIRED',
        `task #${row.id} cannot be ${verb} by ${who}: that claim's lease ran out at ${iso(expired)} and the task is now ${claimed ? `claimed by ${row.owner} (lease until ${iso(row.lease_expires_at)})` : row.status}; claim it again`,
      );
    }
    if (claimed) {
      throw new TaskRuleError(
        'NOT_OWNER',
        `task #${row.id} cannot be ${verb} by ${who}: it is claimed by ${row.owner ?? 'someone'} (lease until ${iso(row.lease_expires_at)})`,
      );
    }
  }

  private async blockersOf(q: Queryable, listId: string, taskId: string): Promise<string[]> {
    return (
      await q.query<{ blocker_id: string }>('SELECT blocker_id FROM task_deps WHERE list_id = $1 AND task_id = $2', [listId, taskId])
    ).rows.map((r) => r.blocker_id);
  }

  private async dependentsOf(q: Queryable, listId: string, taskId: string): Promise<string[]> {
    return (
      await q.query<{ task_id: string }>('SELECT task_id FROM task_deps WHERE list_id = $1 AND blocker_id = $2', [listId, taskId])
    ).rows.map((r) => r.task_id);
  }

  private async hasEdge(q: Queryable, listId: string, taskId: string, blockerId: string): Promise<boolean> {
    return (
      ((await q.query('SELECT 1 FROM task_deps WHERE list_id = $1 AND task_id = $2 AND blocker_id = $3', [listId, taskId, blockerId]))
        .rowCount ?? 0) > 0
    );
  }

  /** A path blocker → … → target following "is blocked by" edges, if one exists (one query per node, as SQLite does). */
  private async pathTo(q: Queryable, listId: string, from: string, target: string): Promise<string[] | null> {
    const seen = new Set<string>();
    const stack: string[][] = [[from]];
    while (stack.length) {
      const path = stack.pop() as string[];
      const node = path[path.length - 1] as string;
      if (node === target) return path;
      if (seen.has(node)) continue;
      seen.add(node);
      for (const next of await this.blockersOf(q, listId, node)) stack.push([...path, next]);
    }
    return null;
  }

  private async addEdge(q: Queryable, listId: string, taskId: string, blockerId: string): Promise<boolean> {
    const task = await this.row(q, listId, taskId);
    const blocker = await this.row(q, listId, blockerId);
    if (taskId === blockerId) throw new TaskRuleError('CYCLE', `task #${taskId} cannot block itself`);
    if (await this.hasEdge(q, listId, taskId, blockerId)) return false;
    const path = await this.pathTo(q, listId, blockerId, taskId);
    if (path) {
      const cycle = [taskId, ...path].map((id) => `#${id}`).join(' → ');
      throw new TaskRuleError('CYCLE', `#${taskId} blocked by #${blockerId} would close a cycle: ${cycle} (→ means "waits for")`);
    }
    await q.query('INSERT INTO task_deps (list_id, task_id, blocker_id) VALUES ($1, $2, $3)', [listId, taskId, blockerId]);
    if (isOpen(blocker.status)) await this.bumpOpen(q, listId, task.id, 1);
    return true;
  }

  private async bumpOpen(q: Queryable, listId: string, id: string, by: number): Promise<void> {
    await q.query('UPDATE tasks SET open_blockers = open_blockers + $1 WHERE list_id = $2 AND id = $3', [by, listId, id]);
  }

  private async removeEdge(q: Queryable, listId: string, taskId: string, blockerId: string): Promise<boolean> {
    if (!(await this.hasEdge(q, listId, taskId, blockerId))) return false;
    const blocker = await this.find(q, listId, blockerId);
    await q.query('DELETE FROM task_deps WHERE list_id = $1 AND task_id = $2 AND blocker_id = $3', [listId, taskId, blockerId]);
    if (blocker && isOpen(blocker.status)) await this.bumpOpen(q, listId, taskId, -1);
    return true;
  }

  async createTask(listId: string, input: NewTask, actor: Actor, now: number): Promise<TaskRecord> {
    if (!input.subject?.trim()) throw new TaskRuleError('INVALID_TASK', 'a task needs a subject');
    return this.write(listId, (q) => this.createRow(q, listId, input, actor, now), { lock: true, ensure: now });
  }

  /** Creates a task; the caller holds the list's lock (the id counter). */
  private async createRow(
    q: Queryable,
    listId: string,
    input: NewTask,
    actor: Actor,
    now: number,
    extra: Record<string, unknown> = {},
  ): Promise<TaskRecord> {
    if (!input.subject?.trim()) throw new TaskRuleError('INVALID_TASK', 'a task needs a subject');
    let id = input.id;
    if (id === undefined) {
      id = String((await this.highWater(q, listId)) + 1);
    } else if (await this.find(q, listId, id)) {
      throw new TaskRuleError('INVALID_TASK', `task #${id} already exists in list ${listId}`);
    } else if (/^\d+$/.test(id) && !isCountableId(id)) {
      throw new TaskRuleError('INVALID_TASK', `task id ${id}: a numeric id must be a whole number from 0 to 2^53−1 without leading zeros`);
    }
    if (isCountableId(id)) await this.setHighWater(q, listId, Number(id));
    const status = input.status ?? 'pending';
    const r = redactedTaskRow({
      subject: input.subject,
      description: input.description ?? '',
      active_form: input.activeForm ?? null,
      labels_json: JSON.stringify(normalizeLabels(input.labels ?? [])),
      metadata_json: JSON.stringify(input.metadata ?? {}),
    });
    await q.query(
      `INSERT INTO tasks (list_id, id, subject, description, active_form, status, owner, priority, labels_json, metadata_json,
        lease_expires_at, open_blockers, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, NULL, 0, $10, $11)`,
      [
        listId,
        id,
        r.subject,
        r.description,
        r.active_form,
        input.owner ?? null,
        input.priority ?? 2,
        r.labels_json,
        r.metadata_json,
        input.createdAt ?? now,
        now,
      ],
    );
    for (const blocker of input.blockedBy ?? []) await this.addEdge(q, listId, id, blocker);
    for (const dependent of input.blocks ?? []) await this.addEdge(q, listId, dependent, id);
    const row = await this.row(q, listId, id);
    if (status !== 'pending') {
      if (status === 'in_progress' || status === 'completed')
        await this.assertNotBlocked(q, row, status === 'completed' ? 'completed' : 'started');
      await this.setStatus(q, row, status);
      await this.writeRow(q, row);
    }
    const record = await this.record(q, row);
    await this.event(q, listId, id, 'created', { ...extra, task: taskSnapshot(record) }, actor, now);
    return record;
  }

  async updateTask(listId: string, id: string, patch: TaskPatch, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.expireLeases(q, listId, now);
        return this.patchRow(q, listId, id, patch, actor, now, claimant);
      },
      { lock: false },
    );
  }

  private async patchRow(
    q: Queryable,
    listId: string,
    id: string,
    patch: TaskPatch,
    actor: Actor,
    now: number,
    claimant: Claimant,
    extra: Record<string, unknown> = {},
  ): Promise<TaskRecord> {
    const row = await this.row(q, listId, id);
    const changesStatus = patch.status !== undefined && patch.status !== row.status;
    if (changesStatus || (patch.owner !== undefined && patch.owner !== row.owner)) {
      await this.assertClaim(q, row, actor, claimant, changesStatus ? `set ${patch.status}` : 'given to another owner');
    }
    const before = await this.record(q, row);
    applyTaskPatch(row, patch);
    let kind: TaskEventKind = 'updated';
    if (patch.status !== undefined && patch.status !== row.status) {
      if (patch.status === 'in_progress') await this.assertNotBlocked(q, row, 'started');
      if (patch.status === 'completed') await this.assertNotBlocked(q, row, 'completed');
      if (patch.status !== 'in_progress') row.lease_expires_at = null;
      if (patch.status === 'pending' && patch.owner === undefined) row.owner = null;
      await this.setStatus(q, row, patch.status);
      kind = patch.status === 'completed' ? 'completed' : patch.status === 'cancelled' ? 'cancelled' : 'updated';
    }
    const changes = taskDiff(before, taskFromRow(row, before.blocks, before.blockedBy));
    if (Object.keys(changes).length === 0) return before; // a no-op update touches nothing
    row.updated_at = now;
    await this.writeRow(q, row);
    await this.event(q, listId, id, kind, { ...extra, changes }, actor, now);
    return this.record(q, row);
  }

  async addDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        if (await this.addEdge(q, listId, taskId, blockerId))
          await this.event(q, listId, taskId, 'dep_added', { blockedBy: blockerId }, actor, now);
        return this.record(q, await this.row(q, listId, taskId));
      },
      { lock: true },
    );
  }

  async removeDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.row(q, listId, taskId);
        if (await this.removeEdge(q, listId, taskId, blockerId))
          await this.event(q, listId, taskId, 'dep_removed', { blockedBy: blockerId }, actor, now);
        return this.record(q, await this.row(q, listId, taskId));
      },
      { lock: true },
    );
  }

  async getTask(listId: string, id: string, now: number): Promise<TaskRecord | undefined> {
    await this.expireDueLeases(listId, now);
    const row = (await this.db.rows<EdgeRow>(`SELECT *, ${EDGES} FROM tasks t WHERE list_id = $1 AND id = $2`, [listId, id]))[0];
    return row ? taskFromRow(row, row.blocks.sort(byNumber), row.blocked_by.sort(byNumber)) : undefined;
  }

  async listTasks(
    listId: string,
    now: number,
    filter: { status?: TaskStatus; owner?: string; label?: string } = {},
  ): Promise<TaskRecord[]> {
    await this.expireDueLeases(listId, now);
    // One snapshot for rows and edges.
    const { rows, deps } = await this.db.tx(
      async (q) => ({
        rows: (await q.query<TaskRow>('SELECT * FROM tasks WHERE list_id = $1', [listId])).rows,
        deps: (
          await q.query<{ task_id: string; blocker_id: string }>('SELECT task_id, blocker_id FROM task_deps WHERE list_id = $1', [listId])
        ).rows,
      }),
      { isolation: 'repeatable read' },
    );
    const blocks = new Map<string, string[]>();
    const blockedBy = new Map<string, string[]>();
    for (const d of deps) {
      pushTo(blockedBy, d.task_id, d.blocker_id);
      pushTo(blocks, d.blocker_id, d.task_id);
    }
    return rows
      .sort((a, b) => sqliteIdOrder(a.id, b.id))
      .map((r) => taskFromRow(r, (blocks.get(r.id) ?? []).sort(byNumber), (blockedBy.get(r.id) ?? []).sort(byNumber)))
      .filter(
        (t) =>
          (!filter.status || t.status === filter.status) &&
          (!filter.owner || t.owner === filter.owner) &&
          (!filter.label || t.labels.includes(filter.label)),
      );
  }

  async readyTasks(listId: string, now: number, limit = 1_000_000): Promise<TaskRecord[]> {
    await this.expireDueLeases(listId, now);
    const rows = await this.db.rows<EdgeRow>(`SELECT *, ${EDGES} FROM tasks t WHERE ${READY} ${ORDER} LIMIT $2`, [listId, limit]);
    return rows.map((r) => taskFromRow(r, r.blocks.sort(byNumber), r.blocked_by.sort(byNumber)));
  }

  async countReady(listId: string, now: number): Promise<number> {
    await this.expireDueLeases(listId, now);
    return (await this.db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM tasks WHERE ${READY}`, [listId]))[0]?.n ?? 0;
  }

  async claimTask(listId: string, req: ClaimRequest, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.expireLeases(q, listId, now);
        let row: TaskRow | undefined;
        if (req.id !== undefined) {
          row = await this.row(q, listId, req.id);
          if (row.status === 'in_progress') {
            const until = row.lease_expires_at ? ` (lease until ${new Date(row.lease_expires_at).toISOString()})` : '';
            throw new TaskRuleError('ALREADY_CLAIMED', `task #${row.id} is already claimed by ${row.owner ?? 'someone'}${until}`);
          }
          if (row.status !== 'pending') throw new TaskRuleError('NOT_CLAIMABLE', `task #${row.id} is ${row.status}`);
          await this.assertNotBlocked(q, row, 'claimed');
        } else {
          // Racing claimers skip each other's rows; only when that leaves nothing, wait for the rows others
          // hold and look again (PostgreSQL re-checks a locked row's conditions), so NOTHING_READY is exact.
          // Picked, updated and read back (with its edges) in one statement.
          const lease = now + req.leaseMs;
          const take = (lock: string) =>
            q.query<EdgeRow>(
              `WITH pick AS MATERIALIZED (SELECT id FROM tasks WHERE ${READY} ${ORDER} LIMIT 1 ${lock})
               UPDATE tasks t SET status = 'in_progress', owner = $2, lease_expires_at = $3, updated_at = $4
               FROM pick WHERE t.list_id = $1 AND t.id = pick.id RETURNING t.*, ${EDGES}`,
              [listId, req.owner, lease, now],
            );
          const taken = (await take('FOR UPDATE SKIP LOCKED')).rows[0] ?? (await take('FOR UPDATE')).rows[0];
          if (!taken) throw new TaskRuleError('NOTHING_READY', `no task is ready in list ${listId}`);
          await this.event(q, listId, taken.id, 'claimed', { owner: req.owner, leaseExpiresAt: lease }, actor, now);
          return taskFromRow(taken, taken.blocks.sort(byNumber), taken.blocked_by.sort(byNumber));
        }
        row.status = 'in_progress';
        row.owner = req.owner;
        row.lease_expires_at = now + req.leaseMs;
        row.updated_at = now;
        await this.writeState(q, row);
        await this.event(q, listId, row.id, 'claimed', { owner: req.owner, leaseExpiresAt: row.lease_expires_at }, actor, now);
        return this.record(q, row);
      },
      { lock: false },
    );
  }

  async heartbeatTask(listId: string, id: string, owner: string, leaseMs: number, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.expireLeases(q, listId, now);
        const row = await this.row(q, listId, id);
        if (row.status !== 'in_progress' || row.owner !== owner) {
          const expired = await this.expiredClaim(q, row, actor, owner);
          if (expired !== null) {
            throw new TaskRuleError(
              'LEASE_EXPIRED',
              `task #${id}: the lease of ${owner} ran out at ${iso(expired)} and the task is now ${row.status === 'in_progress' ? `claimed by ${row.owner ?? 'someone'}` : row.status}; claim it again`,
            );
          }
          throw new TaskRuleError(
            'NOT_OWNER',
            `task #${id} is not held by ${owner} (status ${row.status}${row.owner ? `, owner ${row.owner}` : ''}); claim it again`,
          );
        }
        row.lease_expires_at = now + leaseMs;
        row.updated_at = now;
        await this.writeState(q, row);
        await this.event(q, listId, id, 'heartbeat', { leaseExpiresAt: row.lease_expires_at }, actor, now);
        return this.record(q, row);
      },
      { lock: false },
    );
  }

  private async finish(
    q: Queryable,
    listId: string,
    id: string,
    status: 'completed' | 'cancelled',
    actor: Actor,
    now: number,
    claimant: Claimant,
  ): Promise<TaskRecord> {
    const row = await this.row(q, listId, id);
    if (status === 'completed') await this.assertClaim(q, row, actor, claimant, 'completed');
    if (row.status === status) return this.record(q, row);
    if (status === 'completed') await this.assertNotBlocked(q, row, 'completed');
    const from = row.status;
    await this.setStatus(q, row, status);
    row.lease_expires_at = null;
    row.updated_at = now;
    await this.writeState(q, row);
    await this.event(q, listId, id, status, { from }, actor, now);
    return this.record(q, row);
  }

  async completeTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        // A lease that ran out must show as such before the holder check, or a stale claimant would pass it.
        await this.expireLeases(q, listId, now);
        return this.finish(q, listId, id, 'completed', actor, now, claimant);
      },
      { lock: false },
    );
  }

  async cancelTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(listId, (q) => this.finish(q, listId, id, 'cancelled', actor, now, null), { lock: false });
  }

  async releaseTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.expireLeases(q, listId, now);
        const row = await this.row(q, listId, id);
        await this.assertClaim(q, row, actor, claimant, 'released');
        if (row.status !== 'in_progress') throw new TaskRuleError('NOT_OWNER', `task #${id} is ${row.status}, not claimed`);
        const owner = row.owner;
        row.status = 'pending';
        row.owner = null;
        row.lease_expires_at = null;
        row.updated_at = now;
        await this.writeState(q, row);
        await this.event(q, listId, id, 'released', { owner }, actor, now);
        return this.record(q, row);
      },
      { lock: false },
    );
  }

  async deleteTask(listId: string, id: string, options: { cascade: boolean }, actor: Actor, now: number): Promise<string[]> {
    return this.write(
      listId,
      async (q) => {
        await this.row(q, listId, id);
        const dependents = (await this.dependentsOf(q, listId, id)).sort(byNumber);
        if (dependents.length > 0 && !options.cascade) {
          throw new TaskRuleError(
            'HAS_DEPENDENTS',
            `task #${id} blocks ${dependents.map((d) => `#${d}`).join(', ')}; delete with cascade to remove them too`,
          );
        }
        const doomed: string[] = [];
        const visit = async (taskId: string) => {
          if (doomed.includes(taskId)) return;
          doomed.push(taskId);
          for (const dep of await this.dependentsOf(q, listId, taskId)) await visit(dep);
        };
        await visit(id);
        for (const taskId of doomed) {
          const row = await this.row(q, listId, taskId);
          for (const blocker of await this.blockersOf(q, listId, taskId)) await this.removeEdge(q, listId, taskId, blocker);
          for (const dep of await this.dependentsOf(q, listId, taskId)) await this.removeEdge(q, listId, dep, taskId);
          await q.query('DELETE FROM tasks WHERE list_id = $1 AND id = $2', [listId, taskId]);
          await this.event(
            q,
            listId,
            taskId,
            'deleted',
            { task: taskSnapshot(taskFromRow(row, [], [])), cascadeFrom: taskId === id ? null : id },
            actor,
            now,
          );
        }
        return doomed.sort(byNumber);
      },
      { lock: true },
    );
  }

  async renumberTask(listId: string, id: string, newId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.write(
      listId,
      async (q) => {
        await this.row(q, listId, id);
        if (await this.find(q, listId, newId)) throw new TaskRuleError('INVALID_TASK', `task #${newId} already exists in list ${listId}`);
        await q.query('UPDATE tasks SET id = $1, updated_at = $2 WHERE list_id = $3 AND id = $4', [newId, now, listId, id]);
        await q.query('UPDATE task_deps SET task_id = $1 WHERE list_id = $2 AND task_id = $3', [newId, listId, id]);
        await q.query('UPDATE task_deps SET blocker_id = $1 WHERE list_id = $2 AND blocker_id = $3', [newId, listId, id]);
        if (isCountableId(newId)) await this.setHighWater(q, listId, Number(newId));
        await this.event(q, listId, newId, 'renumbered', { from: id }, actor, now);
        await this.event(q, listId, id, 'renumbered', { to: newId }, actor, now);
        return this.record(q, await this.row(q, listId, newId));
      },
      { lock: true },
    );
  }

  async mirrorTasks(
    listId: string,
    items: TaskMirrorItem[],
    actor: Actor,
    now: number,
    options: TaskMirrorOptions,
  ): Promise<TaskMirrorResult> {
    return this.write(
      listId,
      async (q) => {
        await this.expireLeases(q, listId, now);
        const extra = options.eventData ?? {};
        const result: TaskMirrorResult = { created: [], updated: [], unchanged: [], refused: [] };
        const refuse = async (item: TaskMirrorItem, part: 'task' | 'edge' | 'state', err: unknown, blockedBy?: string) => {
          if (!(err instanceof TaskRuleError)) throw err;
          const where = item.source ? `${item.source}: ` : '';
          if (options.atomic) throw new TaskRuleError(err.code as 'INVALID_TASK', `${where}${err.message}`);
          result.refused.push({
            id: item.id,
            part,
            ...(blockedBy !== undefined ? { blockedBy } : {}),
            code: err.code,
            reason: err.message,
          });
          const data = { ...extra, ...(item.source ? { file: item.source } : {}), part, code: err.code, reason: err.message };
          await this.event(q, listId, item.id, 'refused', data, actor, now);
        };
        // Each item's step runs in a savepoint: a refused one leaves nothing behind, the rest go on.
        const step = async (fn: () => Promise<unknown>) => {
          await q.query('SAVEPOINT mirror_step');
          try {
            await fn();
          } catch (err) {
            await q.query('ROLLBACK TO SAVEPOINT mirror_step');
            throw err;
          }
          await q.query('RELEASE SAVEPOINT mirror_step');
        };
        const recordOf = async (id: string) => {
          const row = await this.find(q, listId, id);
          return row ? JSON.stringify(await this.record(q, row)) : null;
        };
        const before = new Map<string, string | null>();
        const present: TaskMirrorItem[] = [];
        // 1. Every task exists (pending, no edges yet) before any edge is looked at.
        for (const item of items) {
          const row = await this.find(q, listId, item.id);
          before.set(item.id, row ? JSON.stringify(await this.record(q, row)) : null);
          try {
            await step(async () => {
              const fields = {
                subject: item.subject,
                description: item.description,
                activeForm: item.activeForm,
                ...(item.priority !== undefined ? { priority: item.priority } : {}),
                ...(item.labels !== undefined ? { labels: item.labels } : {}),
              };
              if (row) {
                const current = JSON.parse(row.metadata_json) as Record<string, unknown>;
                const metadata = { ...Object.fromEntries(Object.keys(current).map((k) => [k, null])), ...item.metadata };
                await this.patchRow(q, listId, item.id, { ...fields, metadata }, actor, now, null, extra);
              } else {
                const created = {
                  id: item.id,
                  ...fields,
                  owner: item.owner,
                  metadata: item.metadata,
                  ...(item.createdAt !== undefined ? { createdAt: item.createdAt } : {}),
                };
                await this.createRow(q, listId, created, actor, now, extra);
              }
            });
            present.push(item);
          } catch (err) {
            await refuse(item, 'task', err);
          }
        }
        // 2. Edges, exactly as each item lists them.
        for (const item of present) {
          const want = [...new Set(item.blockedBy)].sort(byNumber);
          for (const b of await this.blockersOf(q, listId, item.id)) {
            if (want.includes(b)) continue;
            await this.removeEdge(q, listId, item.id, b);
            await this.event(q, listId, item.id, 'dep_removed', { ...extra, blockedBy: b }, actor, now);
          }
          for (const b of want) {
            try {
              await step(async () => {
                if (await this.addEdge(q, listId, item.id, b))
                  await this.event(q, listId, item.id, 'dep_added', { ...extra, blockedBy: b }, actor, now);
              });
            } catch (err) {
              await refuse(item, 'edge', err, b);
            }
          }
        }
        // 3. Status and owner, blockers before dependents (completing a dependent first would be refused as blocked).
        for (const item of await this.blockersFirst(q, listId, present)) {
          const row = await this.row(q, listId, item.id);
          if (row.status === item.status && row.owner === item.owner) continue;
          try {
            await step(() =>
              this.patchRow(
                q,
                listId,
                item.id,
                { status: item.status, owner: item.owner },
                actor,
                now,
                options.claims === 'owner' ? (item.owner ?? '') : null,
                extra,
              ),
            );
          } catch (err) {
            await refuse(item, 'state', err);
          }
        }
        options.beforeCommit?.();
        for (const item of items) {
          const after = await recordOf(item.id);
          const was = before.get(item.id) ?? null;
          if (after === null) continue;
          if (was === null) result.created.push(item.id);
          else (after === was ? result.unchanged : result.updated).push(item.id);
        }
        return result;
      },
      { lock: true, ensure: now },
    );
  }

  /** Items ordered so each comes after its blockers among them (drover's graph has no cycles; iterative, so long chains are fine). */
  private async blockersFirst(q: Queryable, listId: string, items: TaskMirrorItem[]): Promise<TaskMirrorItem[]> {
    const byId = new Map(items.map((i) => [i.id, i]));
    const out: TaskMirrorItem[] = [];
    const done = new Set<string>();
    for (const start of items) {
      const stack: { item: TaskMirrorItem; expanded: boolean }[] = [{ item: start, expanded: false }];
      while (stack.length) {
        const top = stack.pop() as { item: TaskMirrorItem; expanded: boolean };
        if (done.has(top.item.id)) continue;
        if (top.expanded) {
          done.add(top.item.id);
          out.push(top.item);
          continue;
        }
        stack.push({ item: top.item, expanded: true });
        for (const b of await this.blockersOf(q, listId, top.item.id)) {
          const blocker = byId.get(b);
          if (blocker && !done.has(b)) stack.push({ item: blocker, expanded: false });
        }
      }
    }
    return out;
  }

  async raiseHighWater(listId: string, n: number, now: number): Promise<void> {
    if (!Number.isSafeInteger(n) || n <= 0) return;
    const high = await this.readHighWater(this.db, listId);
    if (Number.isSafeInteger(high) && high >= n) return;
    await this.write(
      listId,
      async (q) => {
        await this.highWater(q, listId);
        await this.setHighWater(q, listId, n);
      },
      { lock: true, ensure: now },
    );
  }

  async nextTaskId(listId: string): Promise<string> {
    const high = await this.readHighWater(this.db, listId);
    if (Number.isSafeInteger(high)) return String(high + 1);
    return String((await this.write(listId, (q) => this.highWater(q, listId), { lock: true })) + 1);
  }

  async recordTaskEvent(
    listId: string,
    taskId: string,
    kind: TaskEventKind,
    data: Record<string, unknown>,
    actor: Actor,
    now: number,
  ): Promise<void> {
    await this.write(listId, (q) => this.event(q, listId, taskId, kind, data, actor, now), { lock: false, ensure: now });
  }

  async history(listId: string, taskId?: string): Promise<TaskEvent[]> {
    const rows = await this.db.rows<{
      seq: number;
      list_id: string;
      task_id: string;
      at: number;
      actor: string;
      session: string | null;
      kind: TaskEventKind;
      data_json: string;
    }>(
      taskId === undefined
        ? 'SELECT * FROM task_events WHERE list_id = $1 ORDER BY seq'
        : 'SELECT * FROM task_events WHERE list_id = $1 AND task_id = $2 ORDER BY seq',
      taskId === undefined ? [listId] : [listId, taskId],
    );
    return rows.map((r) => ({
      seq: r.seq,
      listId: r.list_id,
      taskId: r.task_id,
      at: r.at,
      actor: r.actor,
      session: r.session,
      kind: r.kind,
      data: JSON.parse(r.data_json),
    }));
  }

  async lastTaskEventSeq(listId: string): Promise<number> {
    return (
      (await this.db.rows<{ n: number }>('SELECT COALESCE(MAX(seq), 0) AS n FROM task_events WHERE list_id = $1', [listId]))[0]?.n ?? 0
    );
  }

  async listTaskLists(): Promise<string[]> {
    return (await this.db.rows<{ id: string }>('SELECT id FROM task_lists ORDER BY id COLLATE "C"')).map((r) => r.id);
  }

  /**
   * Watches a list: LISTEN on its channel on this store's dedicated connection (opened on first
   * use), polling every `listeningPollMs` as a net; when LISTEN cannot be set up, or its connection
   * is lost, polling every `pollingPollMs` (or `options.pollMs` for both).
   *
   * The polled mark is the count and highest sequence of the list's events: unlike the highest
   * sequence alone, it moves when a transaction that drew a lower sequence commits after a later one.
   */
  async watchTasks(listId: string, options: TaskWatchOptions = {}): Promise<TaskWatch> {
    this.listener ??= new Listener(this.db);
    const listener = this.listener;
    const channel = this.channel(listId);
    let watcher: TaskWatcher | undefined;
    const onNotify = () => watcher?.notify();
    const generation = listener.generation + (listener.alive ? 0 : 1);
    const listening = await listener.add(channel, onNotify).then(
      () => true,
      () => false,
    );
    watcher = await TaskWatcher.start({
      readMark: async () => {
        const r = (
          await this.db.rows<{ n: number; seq: number }>(
            'SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS seq FROM task_events WHERE list_id = $1',
            [listId],
          )
        )[0];
        return `${r?.n ?? 0}:${r?.seq ?? 0}`;
      },
      nextLeaseAt: async () =>
        (
          await this.db.rows<{ at: number | null }>(
            "SELECT MIN(lease_expires_at) AS at FROM tasks WHERE list_id = $1 AND status = 'in_progress' AND lease_expires_at IS NOT NULL",
            [listId],
          )
        )[0]?.at ?? null,
      pollMs: () =>
        options.pollMs ?? (listening && listener.alive && listener.generation === generation ? this.listeningPollMs : this.pollingPollMs),
      onClose: () => (listening ? listener.remove(channel, onNotify) : undefined),
    }).catch(async (err) => {
      if (listening) await listener.remove(channel, onNotify);
      throw err;
    });
    return watcher;
  }

  /** Closes the LISTEN connection (open watches fall back to polling until they close). */
  async close(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    await listener?.close();
  }
}

/**
 * One pooled connection kept for LISTEN, shared by every watch of a store: channels are listened
 * to while some watch wants them. A lost connection is dropped (watches poll faster); the next
 * watch opens a new one.
 */
class Listener {
  private client: pg.PoolClient | null = null;
  private connecting: Promise<pg.PoolClient> | null = null;
  private readonly handlers = new Map<string, Set<() => void>>();
  private readonly listens = new Map<string, Promise<void>>();
  alive = false;
  /** Counts connections: a watch set up on one connection knows when it was lost, even after a new one opened. */
  generation = 0;

  constructor(private readonly db: PgDb) {}

  private connect(): Promise<pg.PoolClient> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      await this.db.query('SELECT 1'); // the store's migration first
      const client = await this.db.pool.connect();
      const lost = () => {
        if (this.client !== client) return;
        this.client = null;
        this.alive = false;
        this.handlers.clear();
        this.listens.clear();
        client.release(true);
      };
      client.on('notification', (msg) => {
        for (const fn of this.handlers.get(msg.channel) ?? []) fn();
      });
      client.on('error', lost);
      client.on('end', lost);
      this.client = client;
      this.alive = true;
      this.generation++;
      return client;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  async add(channel: string, fn: () => void): Promise<void> {
    const client = await this.connect();
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      const listen = client.query(`LISTEN ${quoteIdent(channel)}`).then(() => {});
      this.listens.set(channel, listen);
      listen.catch(() => {
        if (this.listens.get(channel) === listen) this.listens.delete(channel);
        this.handlers.delete(channel);
      });
    }
    set.add(fn);
    // Resolves once the server listens for this channel: every commit after it is announced.
    await this.listens.get(channel);
  }

  async remove(channel: string, fn: () => void): Promise<void> {
    const set = this.handlers.get(channel);
    if (!set) return;
    set.delete(fn);
    if (set.size > 0) return;
    this.handlers.delete(channel);
    this.listens.delete(channel);
    await this.client?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => {});
  }

  async close(): Promise<void> {
    const client = this.client ?? (await this.connecting?.catch(() => null));
    this.client = null;
    this.alive = false;
    this.handlers.clear();
    this.listens.clear();
    if (client) {
      await client.query('UNLISTEN *').catch(() => {});
      client.release();
    }
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
