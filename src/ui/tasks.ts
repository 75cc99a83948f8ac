/** @module The task board view: a list's tasks as a DAG (blocker → blocked), with ready work, owners and leases, and a task's history. */
import type { Store, TaskEvent, TaskRecord } from '../store/index.js';
import { type DagLayout, layoutDag } from './layout.js';

export interface BoardTask extends TaskRecord {
  /** Pending with every blocker done or cancelled: what `tasks claim` would hand out. */
  ready: boolean;
  /** In progress with a lease that ran out (the next claim frees it). */
  leaseExpired: boolean;
}

export interface Board {
  listId: string;
  lists: string[];
  tasks: BoardTask[];
  counts: Record<string, number>;
  dag: DagLayout;
}

/** A list's board at `now` (ms). An unknown list is an empty board. */
export async function taskBoard(store: Store, listId: string, now = Date.now()): Promise<Board> {
  const [tasks, ready, lists] = await Promise.all([
    store.tasks.listTasks(listId, now),
    store.tasks.readyTasks(listId, now, Number.MAX_SAFE_INTEGER),
    store.tasks.listTaskLists(),
  ]);
  const readyIds = new Set(ready.map((t) => t.id));
  const board: BoardTask[] = tasks.map((t) => ({
    ...t,
    ready: readyIds.has(t.id),
    leaseExpired: t.status === 'in_progress' && t.leaseExpiresAt !== null && t.leaseExpiresAt <= now,
  }));
  const counts: Record<string, number> = { ready: readyIds.size };
  for (const t of tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  const dag = layoutDag(
    board.map((t) => ({
      id: t.id,
      label: `#${t.id} ${t.subject}`.slice(0, 40),
      data: { status: t.status, ready: t.ready, owner: t.owner },
    })),
    board.flatMap((t) => t.blockedBy.map((b) => ({ from: b, to: t.id }))),
  );
  return { listId, lists, tasks: board, counts, dag };
}

/** A task's audit history, oldest first (every task of the list without `taskId`). */
export async function taskHistory(store: Store, listId: string, taskId?: string): Promise<TaskEvent[]> {
  return store.tasks.history(listId, taskId);
}
