import type Database from 'better-sqlite3';
import { safeJson } from '../rows.js';
import { TaskRuleError } from '../task-errors.js';
import {
  applyTaskPatch,
  byNumber,
  taskDiff as diff,
  isCountableId,
  isOpen,
  iso,
  normalizeLabels,
  pushTo as push,
  redactedTaskRow,
  taskSnapshot as snapshot,
  type TaskRow,
  taskFromRow,
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

// Ties within one millisecond fall back to the id; the primary key puts id in every index entry, so the index alone orders.
const ORDER = 'ORDER BY priority, created_at, id';
const EDGES = `(SELECT json_group_array(blocker_id) FROM task_deps d WHERE d.list_id = t.list_id AND d.task_id = t.id) AS blocked_by_json,
  (SELECT json_group_array(task_id) FROM task_deps d WHERE d.list_id = t.list_id AND d.blocker_id = t.id) AS blocks_json`;

/**
 * The task board in SQLite. Every public method is one IMMEDIATE transaction,
 * so rules (no cycles, no claiming blocked or claimed work) hold under any
 * number of processes sharing the file.
 */
export class SqliteTaskStore implements TaskStore {
  private readonly s;

  constructor(db: Database.Database) {
    this.runTx = db.transaction((fn: () => unknown) => fn());
    this.s = {
      ensureList: db.prepare('INSERT INTO task_lists (id, high_water, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING'),
      highWater: db.prepare('SELECT high_water FROM task_lists WHERE id = ?').pluck(),
      setHighWater: db.prepare('UPDATE task_lists SET high_water = MAX(high_water, ?) WHERE id = ?'),
      resetHighWater: db.prepare('UPDATE task_lists SET high_water = ? WHERE id = ?'),
      ids: db.prepare('SELECT id FROM tasks WHERE list_id = ?').pluck(),
      get: db.prepare('SELECT * FROM tasks WHERE list_id = ? AND id = ?'),
      insert:
        db.prepare(`INSERT INTO tasks (list_id, id, subject, description, active_form, status, owner, priority, labels_json, metadata_json, lease_expires_at, open_blockers, created_at, updated_at)
        VALUES (@list_id, @id, @subject, @description, @active_form, @status, @owner, @priority, @labels_json, @metadata_json, @lease_expires_at, 0, @created_at, @updated_at)`),
      update:
        db.prepare(`UPDATE tasks SET subject = @subject, description = @description, active_form = @active_form, status = @status, owner = @owner,
        priority = @priority, labels_json = @labels_json, metadata_json = @metadata_json, lease_expires_at = @lease_expires_at, updated_at = @updated_at
        WHERE list_id = @list_id AND id = @id`),
      // Claims and completions change only these columns; a narrow SET keeps SQLite away from unrelated index entries.
      setState: db.prepare(
        'UPDATE tasks SET status = @status, owner = @owner, lease_expires_at = @lease_expires_at, updated_at = @updated_at WHERE list_id = @list_id AND id = @id',
      ),
      bumpOpen: db.prepare('UPDATE tasks SET open_blockers = open_blockers + ? WHERE list_id = ? AND id = ?'),
      bumpDependents: db.prepare(
        'UPDATE tasks SET open_blockers = open_blockers + ? WHERE list_id = ? AND id IN (SELECT task_id FROM task_deps WHERE list_id = ? AND blocker_id = ?)',
      ),
      blockersOf: db.prepare('SELECT blocker_id FROM task_deps WHERE list_id = ? AND task_id = ?').pluck(),
      dependentsOf: db.prepare('SELECT task_id FROM task_deps WHERE list_id = ? AND blocker_id = ?').pluck(),
      openBlockersOf: db
        .prepare(`SELECT d.blocker_id FROM task_deps d JOIN tasks b ON b.list_id = d.list_id AND b.id = d.blocker_id
        WHERE d.list_id = ? AND d.task_id = ? AND b.status IN ('pending', 'in_progress')`)
        .pluck(),
      hasEdge: db.prepare('SELECT 1 FROM task_deps WHERE list_id = ? AND task_id = ? AND blocker_id = ?').pluck(),
      insertEdge: db.prepare('INSERT INTO task_deps (list_id, task_id, blocker_id) VALUES (?, ?, ?)'),
      deleteEdge: db.prepare('DELETE FROM task_deps WHERE list_id = ? AND task_id = ? AND blocker_id = ?'),
      expired: db.prepare(
        "SELECT * FROM tasks WHERE list_id = ? AND status = 'in_progress' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ?",
      ),
      countReady: db.prepare("SELECT COUNT(*) FROM tasks WHERE list_id = ? AND status = 'pending' AND open_blockers = 0").pluck(),
      bestReady: db.prepare(`SELECT * FROM tasks WHERE list_id = ? AND status = 'pending' AND open_blockers = 0 ${ORDER} LIMIT 1`),
      // Each row carries its edges, gathered inside SQLite by two index lookups.
      ready: db.prepare(`SELECT *, ${EDGES} FROM tasks t WHERE list_id = ? AND status = 'pending' AND open_blockers = 0 ${ORDER} LIMIT ?`),
      edges: db.prepare(`SELECT ${EDGES} FROM tasks t WHERE list_id = ? AND id = ?`),
      anyExpired: db
        .prepare(
          "SELECT 1 FROM tasks WHERE list_id = ? AND status = 'in_progress' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ? LIMIT 1",
        )
        .pluck(),
      all: db.prepare('SELECT * FROM tasks WHERE list_id = ? ORDER BY CAST(id AS INTEGER), id'),
      allDeps: db.prepare('SELECT task_id, blocker_id FROM task_deps WHERE list_id = ?'),
      event: db.prepare('INSERT INTO task_events (list_id, task_id, at, actor, session, kind, data_json) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      historyAll: db.prepare('SELECT * FROM task_events WHERE list_id = ? ORDER BY seq'),
      historyOne: db.prepare('SELECT * FROM task_events WHERE list_id = ? AND task_id = ? ORDER BY seq'),
      lastSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) FROM task_events WHERE list_id = ?').pluck(),
      lists: db.prepare('SELECT id FROM task_lists ORDER BY id').pluck(),
      nextLease: db
        .prepare("SELECT MIN(lease_expires_at) FROM tasks WHERE list_id = ? AND status = 'in_progress' AND lease_expires_at IS NOT NULL")
        .pluck(),
      deleteTask: db.prepare('DELETE FROM tasks WHERE list_id = ? AND id = ?'),
      renameTask: db.prepare('UPDATE tasks SET id = ?, updated_at = ? WHERE list_id = ? AND id = ?'),
      renameDepTask: db.prepare('UPDATE task_deps SET task_id = ? WHERE list_id = ? AND task_id = ?'),
      renameDepBlocker: db.prepare('UPDATE task_deps SET blocker_id = ? WHERE list_id = ? AND blocker_id = ?'),
      // Claim bookkeeping, read only when a writer is not plainly the holder (never on the claim/complete fast path).
      lastClaims: db.prepare(
        "SELECT seq, actor, session, data_json FROM task_events WHERE list_id = ? AND task_id = ? AND kind = 'claimed' ORDER BY seq DESC LIMIT 100",
      ),
      claimEnds: db.prepare(
        "SELECT kind, at, data_json FROM task_events WHERE list_id = ? AND task_id = ? AND seq > ? AND kind IN ('lease_expired', 'released', 'completed', 'cancelled', 'claimed', 'updated', 'deleted') ORDER BY seq",
      ),
    };
  }

  /** One transaction wrapper for every method: better-sqlite3 builds a new one per db.transaction() call. */
  private readonly runTx: Database.Transaction<(fn: () => unknown) => unknown>;

  private tx<T>(fn: () => T): T {
    return this.runTx.immediate(fn) as T;
  }

  /** A deferred transaction: one consistent snapshot for reads, no write lock. */
  private read<T>(fn: () => T): T {
    return this.runTx(fn) as T;
  }

  /** Read paths take the write lock only when some lease has run out and must be returned first. */
  private expireDueLeases(listId: string, now: number): void {
    if (this.s.anyExpired.get(listId, now)) this.tx(() => this.expireLeases(listId, now));
  }

  private row(listId: string, id: string): TaskRow {
    const row = this.s.get.get(listId, id) as TaskRow | undefined;
    if (!row) throw new TaskRuleError('MISSING_TASK', `task #${id} does not exist in list ${listId}`);
    return row;
  }

  /** The task as stored now, with its edges, in one query. */
  private record(row: TaskRow): TaskRecord {
    const edges = this.s.edges.get(row.list_id, row.id) as { blocked_by_json: string; blocks_json: string };
    return this.toRecord(row, parseIds(edges.blocks_json), parseIds(edges.blocked_by_json));
  }

  private toRecord(row: TaskRow, blocks: string[], blockedBy: string[]): TaskRecord {
    return taskFromRow(row, blocks, blockedBy);
  }

  private event(listId: string, taskId: string, kind: TaskEventKind, data: Record<string, unknown>, actor: Actor, now: number): void {
    this.s.event.run(listId, taskId, now, actor.name, actor.session ?? null, kind, safeJson(data));
  }

  private write(row: TaskRow): void {
    // In place: the record the caller gets back shows what was stored.
    Object.assign(row, redactedTaskRow(row));
    this.s.update.run(row);
  }

  private writeState(row: TaskRow): void {
    this.s.setState.run({
      status: row.status,
      owner: row.owner,
      lease_expires_at: row.lease_expires_at,
      updated_at: row.updated_at,
      list_id: row.list_id,
      id: row.id,
    });
  }

  /** Changes status, keeping dependents' open-blocker counts in step. */
  private setStatus(row: TaskRow, status: TaskStatus): void {
    if (isOpen(row.status) !== isOpen(status)) {
      this.s.bumpDependents.run(isOpen(status) ? 1 : -1, row.list_id, row.list_id, row.id);
    }
    row.status = status;
  }

  /** Leases that ran out return their tasks to pending (recorded). */
  private expireLeases(listId: string, now: number): void {
    for (const row of this.s.expired.all(listId, now) as TaskRow[]) {
      const { owner, lease_expires_at: leaseExpiresAt } = row;
      row.status = 'pending';
      row.owner = null;
      row.lease_expires_at = null;
      row.updated_at = now;
      this.writeState(row);
      this.event(listId, row.id, 'lease_expired', { owner, leaseExpiresAt }, { name: 'drover' }, now);
    }
  }

  private assertNotBlocked(row: TaskRow, verb: string): void {
    if (row.open_blockers > 0) {
      const open = (this.s.openBlockersOf.all(row.list_id, row.id) as string[]).sort(byNumber);
      throw new TaskRuleError('BLOCKED', `task #${row.id} cannot be ${verb}: blocked by unfinished ${open.map((b) => `#${b}`).join(', ')}`);
    }
  }

  /**
   * The list's high-water mark. A mark past 2^53−1 (left by a drover that took a huge id
   * from a file) is repaired from the ids the list holds, so allocation works again.
   */
  private highWater(listId: string): number {
    const high = (this.s.highWater.get(listId) as number | undefined) ?? 0;
    if (Number.isSafeInteger(high)) return high;
    let repaired = 0;
    for (const id of this.s.ids.all(listId) as string[]) if (isCountableId(id)) repaired = Math.max(repaired, Number(id));
    this.s.resetHighWater.run(repaired, listId);
    return repaired;
  }

  /** Whether the writer holds the task's claim (see `Claimant`). */
  private holds(row: TaskRow, actor: Actor, claimant: Claimant): boolean {
    if (claimant === null) return true;
    if (typeof claimant === 'string') return claimant === row.owner;
    if (actor.name === row.owner) return true;
    const last = this.s.lastClaims.get(row.list_id, row.id) as { actor: string; session: string | null } | undefined;
    return !!last && last.actor === actor.name && last.session === (actor.session ?? null);
  }

  /** When the writer's own latest claim of this task ended by its lease running out: that lease's end. */
  private expiredClaim(row: TaskRow, actor: Actor, claimant: Claimant): number | null {
    if (claimant === null) return null;
    const claims = this.s.lastClaims.all(row.list_id, row.id) as {
      seq: number;
      actor: string;
      session: string | null;
      data_json: string;
    }[];
    const mine = claims.find((c) => {
      const owner = (JSON.parse(c.data_json) as { owner?: string }).owner;
      if (typeof claimant === 'string') return owner === claimant;
      return owner === actor.name || (c.actor === actor.name && c.session === (actor.session ?? null));
    });
    if (!mine) return null;
    for (const e of this.s.claimEnds.iterate(row.list_id, row.id, mine.seq) as Iterable<{
      kind: TaskEventKind;
      at: number;
      data_json: string;
    }>) {
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
  private assertClaim(row: TaskRow, actor: Actor, claimant: Claimant, verb: string): void {
    if (claimant === null) return;
    const claimed = row.status === 'in_progress' && row.lease_expires_at !== null;
    if (claimed && this.holds(row, actor, claimant)) return;
    const who = claimant === undefined ? actor.name : claimant || 'a writer naming no owner';
    const expired = this.expiredClaim(row, actor, claimant);
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

  /** A path blocker → … → target following "is blocked by" edges, if one exists. */
  private pathTo(listId: string, from: string, target: string): string[] | null {
    const seen = new Set<string>();
    const stack: string[][] = [[from]];
    while (stack.length) {
      const path = stack.pop() as string[];
      const node = path[path.length - 1] as string;
      if (node === target) return path;
      if (seen.has(node)) continue;
      seen.add(node);
      for (const next of this.s.blockersOf.all(listId, node) as string[]) stack.push([...path, next]);
    }
    return null;
  }

  private addEdge(listId: string, taskId: string, blockerId: string): boolean {
    const task = this.row(listId, taskId);
    const blocker = this.row(listId, blockerId);
    if (taskId === blockerId) throw new TaskRuleError('CYCLE', `task #${taskId} cannot block itself`);
    if (this.s.hasEdge.get(listId, taskId, blockerId)) return false;
    const path = this.pathTo(listId, blockerId, taskId);
    if (path) {
      const cycle = [taskId, ...path].map((id) => `#${id}`).join(' → ');
      throw new TaskRuleError('CYCLE', `#${taskId} blocked by #${blockerId} would close a cycle: ${cycle} (→ means "waits for")`);
    }
    this.s.insertEdge.run(listId, taskId, blockerId);
    if (isOpen(blocker.status)) this.s.bumpOpen.run(1, listId, task.id);
    return true;
  }

  private removeEdge(listId: string, taskId: string, blockerId: string): boolean {
    if (!this.s.hasEdge.get(listId, taskId, blockerId)) return false;
    const blocker = this.s.get.get(listId, blockerId) as TaskRow | undefined;
    this.s.deleteEdge.run(listId, taskId, blockerId);
    if (blocker && isOpen(blocker.status)) this.s.bumpOpen.run(-1, listId, taskId);
    return true;
  }

  async createTask(listId: string, input: NewTask, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => this.createRow(listId, input, actor, now));
  }

  private createRow(listId: string, input: NewTask, actor: Actor, now: number, extra: Record<string, unknown> = {}): TaskRecord {
    {
      if (!input.subject?.trim()) throw new TaskRuleError('INVALID_TASK', 'a task needs a subject');
      this.s.ensureList.run(listId, now);
      let id = input.id;
      if (id === undefined) {
        id = String(this.highWater(listId) + 1);
      } else if (this.s.get.get(listId, id)) {
        throw new TaskRuleError('INVALID_TASK', `task #${id} already exists in list ${listId}`);
      } else if (/^\d+$/.test(id) && !isCountableId(id)) {
        throw new TaskRuleError(
          'INVALID_TASK',
          `task id ${id}: a numeric id must be a whole number from 0 to 2^53−1 without leading zeros`,
        );
      }
      if (isCountableId(id)) this.s.setHighWater.run(Number(id), listId);
      const status = input.status ?? 'pending';
      this.s.insert.run(
        redactedTaskRow({
          list_id: listId,
          id,
          subject: input.subject,
          description: input.description ?? '',
          active_form: input.activeForm ?? null,
          status: 'pending',
          owner: input.owner ?? null,
          priority: input.priority ?? 2,
          labels_json: JSON.stringify(normalizeLabels(input.labels ?? [])),
          metadata_json: JSON.stringify(input.metadata ?? {}),
          lease_expires_at: null,
          created_at: input.createdAt ?? now,
          updated_at: now,
        }),
      );
      for (const blocker of input.blockedBy ?? []) this.addEdge(listId, id, blocker);
      for (const dependent of input.blocks ?? []) this.addEdge(listId, dependent, id);
      const row = this.row(listId, id);
      if (status !== 'pending') {
        if (status === 'in_progress' || status === 'completed')
          this.assertNotBlocked(row, status === 'completed' ? 'completed' : 'started');
        this.setStatus(row, status);
        this.write(row);
      }
      const record = this.record(row);
      this.event(listId, id, 'created', { ...extra, task: snapshot(record) }, actor, now);
      return record;
    }
  }

  async updateTask(listId: string, id: string, patch: TaskPatch, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.tx(() => {
      this.expireLeases(listId, now);
      return this.patchRow(listId, id, patch, actor, now, claimant);
    });
  }

  private patchRow(
    listId: string,
    id: string,
    patch: TaskPatch,
    actor: Actor,
    now: number,
    claimant: Claimant,
    extra: Record<string, unknown> = {},
  ): TaskRecord {
    {
      const row = this.row(listId, id);
      const changesStatus = patch.status !== undefined && patch.status !== row.status;
      if (changesStatus || (patch.owner !== undefined && patch.owner !== row.owner)) {
        this.assertClaim(row, actor, claimant, changesStatus ? `set ${patch.status}` : 'given to another owner');
      }
      const before = this.record(row);
      applyTaskPatch(row, patch);
      let kind: TaskEventKind = 'updated';
      if (patch.status !== undefined && patch.status !== row.status) {
        if (patch.status === 'in_progress') this.assertNotBlocked(row, 'started');
        if (patch.status === 'completed') this.assertNotBlocked(row, 'completed');
        if (patch.status !== 'in_progress') row.lease_expires_at = null;
        if (patch.status === 'pending' && patch.owner === undefined) row.owner = null;
        this.setStatus(row, patch.status);
        kind = patch.status === 'completed' ? 'completed' : patch.status === 'cancelled' ? 'cancelled' : 'updated';
      }
      const changes = diff(before, this.toRecord(row, before.blocks, before.blockedBy));
      if (Object.keys(changes).length === 0) return before; // a no-op update touches nothing
      row.updated_at = now;
      this.write(row);
      this.event(listId, id, kind, { ...extra, changes }, actor, now);
      return this.record(row);
    }
  }

  async addDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => {
      if (this.addEdge(listId, taskId, blockerId)) this.event(listId, taskId, 'dep_added', { blockedBy: blockerId }, actor, now);
      return this.record(this.row(listId, taskId));
    });
  }

  async removeDependency(listId: string, taskId: string, blockerId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => {
      this.row(listId, taskId);
      if (this.removeEdge(listId, taskId, blockerId)) this.event(listId, taskId, 'dep_removed', { blockedBy: blockerId }, actor, now);
      return this.record(this.row(listId, taskId));
    });
  }

  async getTask(listId: string, id: string, now: number): Promise<TaskRecord | undefined> {
    this.expireDueLeases(listId, now);
    return this.read(() => {
      const row = this.s.get.get(listId, id) as TaskRow | undefined;
      return row ? this.record(row) : undefined;
    });
  }

  async listTasks(
    listId: string,
    now: number,
    filter: { status?: TaskStatus; owner?: string; label?: string } = {},
  ): Promise<TaskRecord[]> {
    this.expireDueLeases(listId, now);
    return this.read(() => {
      const blocks = new Map<string, string[]>();
      const blockedBy = new Map<string, string[]>();
      for (const d of this.s.allDeps.all(listId) as { task_id: string; blocker_id: string }[]) {
        push(blockedBy, d.task_id, d.blocker_id);
        push(blocks, d.blocker_id, d.task_id);
      }
      return (this.s.all.all(listId) as TaskRow[])
        .map((r) => this.toRecord(r, (blocks.get(r.id) ?? []).sort(byNumber), (blockedBy.get(r.id) ?? []).sort(byNumber)))
        .filter(
          (t) =>
            (!filter.status || t.status === filter.status) &&
            (!filter.owner || t.owner === filter.owner) &&
            (!filter.label || t.labels.includes(filter.label)),
        );
    });
  }

  async readyTasks(listId: string, now: number, limit = 1_000_000): Promise<TaskRecord[]> {
    this.expireDueLeases(listId, now);
    const rows = this.s.ready.all(listId, limit) as (TaskRow & { blocked_by_json: string; blocks_json: string })[];
    return rows.map((r) =>
      this.toRecord(r, (JSON.parse(r.blocks_json) as string[]).sort(byNumber), (JSON.parse(r.blocked_by_json) as string[]).sort(byNumber)),
    );
  }

  async countReady(listId: string, now: number): Promise<number> {
    this.expireDueLeases(listId, now);
    return this.s.countReady.get(listId) as number;
  }

  async claimTask(listId: string, req: ClaimRequest, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => {
      this.expireLeases(listId, now);
      let row: TaskRow | undefined;
      if (req.id !== undefined) {
        row = this.row(listId, req.id);
        if (row.status === 'in_progress') {
          const until = row.lease_expires_at ? ` (lease until ${new Date(row.lease_expires_at).toISOString()})` : '';
          throw new TaskRuleError('ALREADY_CLAIMED', `task #${row.id} is already claimed by ${row.owner ?? 'someone'}${until}`);
        }
        if (row.status !== 'pending') throw new TaskRuleError('NOT_CLAIMABLE', `task #${row.id} is ${row.status}`);
        this.assertNotBlocked(row, 'claimed');
      } else {
        row = this.s.bestReady.get(listId) as TaskRow | undefined;
        if (!row) throw new TaskRuleError('NOTHING_READY', `no task is ready in list ${listId}`);
      }
      row.status = 'in_progress';
      row.owner = req.owner;
      row.lease_expires_at = now + req.leaseMs;
      row.updated_at = now;
      this.writeState(row);
      this.event(listId, row.id, 'claimed', { owner: req.owner, leaseExpiresAt: row.lease_expires_at }, actor, now);
      return this.record(row);
    });
  }

  async heartbeatTask(listId: string, id: string, owner: string, leaseMs: number, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => {
      this.expireLeases(listId, now);
      const row = this.row(listId, id);
      if (row.status !== 'in_progress' || row.owner !== owner) {
        const expired = this.expiredClaim(row, actor, owner);
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
      this.writeState(row);
      this.event(listId, id, 'heartbeat', { leaseExpiresAt: row.lease_expires_at }, actor, now);
      return this.record(row);
    });
  }

  private finish(listId: string, id: string, status: 'completed' | 'cancelled', actor: Actor, now: number, claimant: Claimant): TaskRecord {
    const row = this.row(listId, id);
    if (status === 'completed') this.assertClaim(row, actor, claimant, 'completed');
    if (row.status === status) return this.record(row);
    if (status === 'completed') this.assertNotBlocked(row, 'completed');
    const from = row.status;
    this.setStatus(row, status);
    row.lease_expires_at = null;
    row.updated_at = now;
    this.writeState(row);
    this.event(listId, id, status, { from }, actor, now);
    return this.record(row);
  }

  async completeTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.tx(() => {
      // A lease that ran out must show as such before the holder check, or a stale claimant would pass it.
      if (this.s.anyExpired.get(listId, now)) this.expireLeases(listId, now);
      return this.finish(listId, id, 'completed', actor, now, claimant);
    });
  }

  async cancelTask(listId: string, id: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => this.finish(listId, id, 'cancelled', actor, now, null));
  }

  async releaseTask(listId: string, id: string, actor: Actor, now: number, claimant?: Claimant): Promise<TaskRecord> {
    return this.tx(() => {
      this.expireLeases(listId, now);
      const row = this.row(listId, id);
      this.assertClaim(row, actor, claimant, 'released');
      if (row.status !== 'in_progress') throw new TaskRuleError('NOT_OWNER', `task #${id} is ${row.status}, not claimed`);
      const owner = row.owner;
      row.status = 'pending';
      row.owner = null;
      row.lease_expires_at = null;
      row.updated_at = now;
      this.writeState(row);
      this.event(listId, id, 'released', { owner }, actor, now);
      return this.record(row);
    });
  }

  async deleteTask(listId: string, id: string, options: { cascade: boolean }, actor: Actor, now: number): Promise<string[]> {
    return this.tx(() => {
      this.row(listId, id);
      const doomed: string[] = [];
      const visit = (taskId: string) => {
        if (doomed.includes(taskId)) return;
        doomed.push(taskId);
        for (const dep of this.s.dependentsOf.all(listId, taskId) as string[]) visit(dep);
      };
      const dependents = (this.s.dependentsOf.all(listId, id) as string[]).sort(byNumber);
      if (dependents.length > 0 && !options.cascade) {
        throw new TaskRuleError(
          'HAS_DEPENDENTS',
          `task #${id} blocks ${dependents.map((d) => `#${d}`).join(', ')}; delete with cascade to remove them too`,
        );
      }
      visit(id);
      for (const taskId of doomed) {
        const row = this.row(listId, taskId);
        for (const blocker of this.s.blockersOf.all(listId, taskId) as string[]) this.removeEdge(listId, taskId, blocker);
        for (const dep of this.s.dependentsOf.all(listId, taskId) as string[]) this.removeEdge(listId, dep, taskId);
        this.s.deleteTask.run(listId, taskId);
        this.event(
          listId,
          taskId,
          'deleted',
          { task: snapshot(this.toRecord(row, [], [])), cascadeFrom: taskId === id ? null : id },
          actor,
          now,
        );
      }
      return doomed.sort(byNumber);
    });
  }

  async renumberTask(listId: string, id: string, newId: string, actor: Actor, now: number): Promise<TaskRecord> {
    return this.tx(() => {
      this.row(listId, id);
      if (this.s.get.get(listId, newId)) throw new TaskRuleError('INVALID_TASK', `task #${newId} already exists in list ${listId}`);
      this.s.renameTask.run(newId, now, listId, id);
      this.s.renameDepTask.run(newId, listId, id);
      this.s.renameDepBlocker.run(newId, listId, id);
      if (isCountableId(newId)) this.s.setHighWater.run(Number(newId), listId);
      this.event(listId, newId, 'renumbered', { from: id }, actor, now);
      this.event(listId, id, 'renumbered', { to: newId }, actor, now);
      return this.record(this.row(listId, newId));
    });
  }

  async mirrorTasks(
    listId: string,
    items: TaskMirrorItem[],
    actor: Actor,
    now: number,
    options: TaskMirrorOptions,
  ): Promise<TaskMirrorResult> {
    return this.tx(() => {
      this.s.ensureList.run(listId, now);
      this.expireLeases(listId, now);
      const extra = options.eventData ?? {};
      const result: TaskMirrorResult = { created: [], updated: [], unchanged: [], refused: [] };
      const refuse = (item: TaskMirrorItem, part: 'task' | 'edge' | 'state', err: unknown, blockedBy?: string) => {
        if (!(err instanceof TaskRuleError)) throw err;
        const where = item.source ? `${item.source}: ` : '';
        if (options.atomic) throw new TaskRuleError(err.code as 'INVALID_TASK', `${where}${err.message}`);
        result.refused.push({ id: item.id, part, ...(blockedBy !== undefined ? { blockedBy } : {}), code: err.code, reason: err.message });
        const data = { ...extra, ...(item.source ? { file: item.source } : {}), part, code: err.code, reason: err.message };
        this.event(listId, item.id, 'refused', data, actor, now);
      };
      // Each item's step runs in a savepoint: a refused one leaves nothing behind, the rest go on.
      const step = (fn: () => unknown) => this.runTx(fn);
      const before = new Map<string, string | null>();
      const present: TaskMirrorItem[] = [];
      // 1. Every task exists (pending, no edges yet) before any edge is looked at.
      for (const item of items) {
        const row = this.s.get.get(listId, item.id) as TaskRow | undefined;
        before.set(item.id, row ? JSON.stringify(this.record(row)) : null);
        try {
          step(() => {
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
              this.patchRow(listId, item.id, { ...fields, metadata }, actor, now, null, extra);
            } else {
              const created = {
                id: item.id,
                ...fields,
                owner: item.owner,
                metadata: item.metadata,
                ...(item.createdAt !== undefined ? { createdAt: item.createdAt } : {}),
              };
              this.createRow(listId, created, actor, now, extra);
            }
          });
          present.push(item);
        } catch (err) {
          refuse(item, 'task', err);
        }
      }
      // 2. Edges, exactly as each item lists them.
      for (const item of present) {
        const want = [...new Set(item.blockedBy)].sort(byNumber);
        for (const b of this.s.blockersOf.all(listId, item.id) as string[]) {
          if (want.includes(b)) continue;
          this.removeEdge(listId, item.id, b);
          this.event(listId, item.id, 'dep_removed', { ...extra, blockedBy: b }, actor, now);
        }
        for (const b of want) {
          try {
            step(() => {
              if (this.addEdge(listId, item.id, b)) this.event(listId, item.id, 'dep_added', { ...extra, blockedBy: b }, actor, now);
            });
          } catch (err) {
            refuse(item, 'edge', err, b);
          }
        }
      }
      // 3. Status and owner, blockers before dependents (completing a dependent first would be refused as blocked).
      for (const item of this.blockersFirst(listId, present)) {
        const row = this.row(listId, item.id);
        if (row.status === item.status && row.owner === item.owner) continue;
        try {
          step(() =>
            this.patchRow(
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
          refuse(item, 'state', err);
        }
      }
      options.beforeCommit?.();
      for (const item of items) {
        const row = this.s.get.get(listId, item.id) as TaskRow | undefined;
        const after = row ? JSON.stringify(this.record(row)) : null;
        const was = before.get(item.id) ?? null;
        if (after === null) continue;
        if (was === null) result.created.push(item.id);
        else (after === was ? result.unchanged : result.updated).push(item.id);
      }
      return result;
    });
  }

  /** Items ordered so each comes after its blockers among them (drover's graph has no cycles; iterative, so long chains are fine). */
  private blockersFirst(listId: string, items: TaskMirrorItem[]): TaskMirrorItem[] {
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
        for (const b of this.s.blockersOf.all(listId, top.item.id) as string[]) {
          const blocker = byId.get(b);
          if (blocker && !done.has(b)) stack.push({ item: blocker, expanded: false });
        }
      }
    }
    return out;
  }

  async raiseHighWater(listId: string, n: number, now: number): Promise<void> {
    if (!Number.isSafeInteger(n) || n <= 0) return;
    const high = (this.s.highWater.get(listId) as number | undefined) ?? 0;
    if (Number.isSafeInteger(high) && high >= n) return;
    this.tx(() => {
      this.s.ensureList.run(listId, now);
      this.highWater(listId);
      this.s.setHighWater.run(n, listId);
    });
  }

  async nextTaskId(listId: string): Promise<string> {
    const high = (this.s.highWater.get(listId) as number | undefined) ?? 0;
    return String((Number.isSafeInteger(high) ? high : this.tx(() => this.highWater(listId))) + 1);
  }

  async recordTaskEvent(
    listId: string,
    taskId: string,
    kind: TaskEventKind,
    data: Record<string, unknown>,
    actor: Actor,
    now: number,
  ): Promise<void> {
    this.tx(() => {
      this.s.ensureList.run(listId, now);
      this.event(listId, taskId, kind, data, actor, now);
    });
  }

  async history(listId: string, taskId?: string): Promise<TaskEvent[]> {
    const rows = (taskId === undefined ? this.s.historyAll.all(listId) : this.s.historyOne.all(listId, taskId)) as {
      seq: number;
      list_id: string;
      task_id: string;
      at: number;
      actor: string;
      session: string | null;
      kind: TaskEventKind;
      data_json: string;
    }[];
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
    return this.s.lastSeq.get(listId) as number;
  }

  async listTaskLists(): Promise<string[]> {
    return this.s.lists.all() as string[];
  }

  /** Watches a list by polling its event sequence every `pollMs` (default 250 ms). */
  async watchTasks(listId: string, options: TaskWatchOptions = {}): Promise<TaskWatch> {
    return TaskWatcher.start({
      readMark: async () => String(this.s.lastSeq.get(listId)),
      nextLeaseAt: async () => (this.s.nextLease.get(listId) as number | null) ?? null,
      pollMs: () => options.pollMs ?? 250,
    });
  }
}

/** A json_group_array of ids, sorted numerically; most tasks have none, so skip the parse then. */
function parseIds(json: string): string[] {
  return json === '[]' ? [] : (JSON.parse(json) as string[]).sort(byNumber);
}
