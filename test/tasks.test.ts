import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, type PostgresStore, type TaskRecord, TaskRuleError } from '../src/store/index.js';
import { taskChannel } from '../src/store/postgres/task-store.js';
import type { TaskWatcher } from '../src/store/task-watch.js';
import { ClaudeTaskBridge, exportTasks, importTasks, resolveTaskListId, TaskBoard, toMermaid } from '../src/tasks/index.js';
import { cli, lastJson, ON_POSTGRES, onCleanup, spawnCli, tempDir, tempStore, waitFor, write } from './helpers.js';

function board(name = 'alice', listId = 'l1') {
  const { store, path } = tempStore();
  return { b: new TaskBoard(store, listId, { name }), store, path };
}

async function refusal(p: Promise<unknown>): Promise<TaskRuleError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(TaskRuleError);
  return err as TaskRuleError;
}

describe('task rules', () => {
  it('stores an edge once and shows it from both sides', async () => {
    const { b } = board();
    await b.create({ subject: 'build' });
    const test = await b.create({ subject: 'test', blockedBy: ['1'] });
    expect(test.blockedBy).toEqual(['1']);
    expect((await b.get('1'))?.blocks).toEqual(['2']);
    await b.addDependency('2', '1'); // idempotent
    expect((await b.history('2')).filter((e) => e.kind === 'dep_added')).toHaveLength(0);
  });

  it('refuses a cycle, naming it, and an edge to a missing task', async () => {
    const { b } = board();
    await b.create({ subject: 'a' });
    await b.create({ subject: 'b', blockedBy: ['1'] });
    await b.create({ subject: 'c', blockedBy: ['2'] });
    const cycle = await refusal(b.addDependency('1', '3'));
    expect(cycle.code).toBe('CYCLE');
    expect(cycle.message).toBe('#1 blocked by #3 would close a cycle: #1 → #3 → #2 → #1 (→ means "waits for")');
    expect((await refusal(b.addDependency('1', '1'))).code).toBe('CYCLE');
    const missing = await refusal(b.addDependency('2', '99'));
    expect(missing).toMatchObject({ code: 'MISSING_TASK', message: 'task #99 does not exist in list l1' });
    expect((await refusal(b.create({ subject: 'd', blockedBy: ['42'] }))).code).toBe('MISSING_TASK');
    expect((await b.list()).map((t) => t.id)).toEqual(['1', '2', '3']); // the refused create left nothing
  });

  it('a blocked task cannot be claimed or started; completing or cancelling the blocker unblocks it', async () => {
    const { b } = board();
    await b.create({ subject: 'a' });
    await b.create({ subject: 'b' });
    await b.create({ subject: 'c', blockedBy: ['1', '2'] });
    const blocked = await refusal(b.claim({ id: '3' }));
    expect(blocked).toMatchObject({ code: 'BLOCKED', message: 'task #3 cannot be claimed: blocked by unfinished #1, #2', exitCode: 6 });
    expect((await refusal(b.update('3', { status: 'in_progress' }))).code).toBe('BLOCKED');
    expect((await b.ready()).map((t) => t.id)).toEqual(['1', '2']);
    await b.claim({ id: '1' });
    await b.complete('1');
    expect((await b.ready()).map((t) => t.id)).toEqual(['2']);
    await b.cancel('2');
    expect((await b.ready()).map((t) => t.id)).toEqual(['3']);
    // Reopening a blocker blocks the dependent again.
    await b.update('2', { status: 'pending' });
    expect((await b.ready()).map((t) => t.id)).toEqual(['2']);
  });

  it('ready gives the best 100 by default, with the count of the rest; any limit, or every one, on request', async () => {
    const { b } = board();
    for (let i = 0; i < 105; i++) await b.create({ subject: `t${i}`, priority: i === 104 ? 0 : 2 });
    const page = await b.ready();
    expect(page).toHaveLength(100);
    expect(page[0]?.id).toBe('105'); // the urgent one first
    expect(await b.readyCount()).toBe(105);
    expect(await b.ready(3)).toHaveLength(3);
    expect(await b.ready(Number.POSITIVE_INFINITY)).toHaveLength(105);
  });

  it('claim is atomic: the second claimer of a task is refused; claim with no id takes priority, then age', async () => {
    const { b, store } = board();
    await b.create({ subject: 'old, normal' });
    await b.create({ subject: 'newer, urgent', priority: 0 });
    await b.create({ subject: 'newest, urgent', priority: 0 });
    const bob = new TaskBoard(store, 'l1', { name: 'bob' });
    expect((await b.claim()).id).toBe('2');
    expect((await bob.claim()).id).toBe('3');
    const taken = await refusal(bob.claim({ id: '2' }));
    expect(taken.code).toBe('ALREADY_CLAIMED');
    expect(taken.message).toMatch(/^task #2 is already claimed by alice \(lease until /);
    expect((await b.claim()).id).toBe('1');
    const none = await refusal(b.claim());
    expect(none).toMatchObject({ code: 'NOTHING_READY', exitCode: 3 });
    expect((await refusal(bob.heartbeat('1'))).code).toBe('NOT_OWNER');
  });

  it('an expired lease returns the task to pending, recorded; heartbeats extend it', async () => {
    const { store } = board();
    let now = 1_000_000;
    const b = new TaskBoard(store, 'l1', { name: 'alice' }, () => now);
    await b.create({ subject: 'work' });
    await b.claim({ leaseMs: 1000 });
    now += 800;
    await b.heartbeat('1', { leaseMs: 1000 });
    now += 800;
    expect((await b.get('1'))?.status).toBe('in_progress');
    now += 300;
    const t = await b.get('1');
    expect(t).toMatchObject({ status: 'pending', owner: null, leaseExpiresAt: null });
    const kinds = (await b.history('1')).map((e) => e.kind);
    expect(kinds).toEqual(['created', 'claimed', 'heartbeat', 'lease_expired']);
    expect((await b.history('1'))[3]?.data).toEqual({ owner: 'alice', leaseExpiresAt: 1_000_800 + 1000 });
  });

  it('deleting a task with dependents is refused unless cascading; nothing auto-deletes', async () => {
    const { b } = board();
    await b.create({ subject: 'a' });
    await b.create({ subject: 'b', blockedBy: ['1'] });
    await b.create({ subject: 'c', blockedBy: ['2'] });
    await b.create({ subject: 'd' });
    expect(await refusal(b.delete('1'))).toMatchObject({
      code: 'HAS_DEPENDENTS',
      message: 'task #1 blocks #2; delete with cascade to remove them too',
    });
    expect(await b.delete('1', true)).toEqual(['1', '2', '3']);
    await b.claim({ id: '4' });
    await b.complete('4');
    expect((await b.list()).map((t) => [t.id, t.status])).toEqual([['4', 'completed']]);
  });

  it('records every change with who, when and what', async () => {
    const { store } = board();
    const b = new TaskBoard(store, 'l1', { name: 'alice', session: 'sess-1' }, () => 5000);
    await b.create({ subject: 's' });
    await b.update('1', { subject: 't', labels: ['x'], metadata: { k: 1 } });
    const [created, updated] = await b.history('1');
    expect(created).toMatchObject({ kind: 'created', actor: 'alice', session: 'sess-1', at: 5000 });
    expect(updated?.data).toEqual({ changes: { subject: ['s', 't'], labels: [[], ['x']], metadata: [{}, { k: 1 }] } });
    expect(toMermaid(await b.list())).toContain('t1["#1 t (pending)"]');
  });
});

describe('task list ids', () => {
  it('DROVER_TASK_LIST, then CLAUDE_CODE_TASK_LIST_ID, then <repo>@<branch>', async () => {
    expect(resolveTaskListId({ env: { DROVER_TASK_LIST: 'a', CLAUDE_CODE_TASK_LIST_ID: 'b' } })).toBe('a');
    expect(resolveTaskListId({ env: { CLAUDE_CODE_TASK_LIST_ID: 'b' } })).toBe('b');
    const dir = tempDir();
    const { execFileSync } = await import('node:child_process');
    execFileSync('git', ['init', '-q', '-b', 'feature/x', join(dir, 'repo')]);
    expect(resolveTaskListId({ env: {}, cwd: join(dir, 'repo') })).toBe('repo@feature/x');
    expect(() => resolveTaskListId({ explicit: '../etc' })).toThrow(/not a valid task list id/);
  });
});

describe('drover tasks CLI', () => {
  it('ready shows a page and says how many more are ready; --all shows every one', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db'), DROVER_TASK_LIST: 'cli' };
    for (const s of ['one', 'two', 'three']) await cli(['tasks', 'add', s], { env });
    const page = await cli(['tasks', 'ready', '--limit', '1'], { env });
    expect(page.stdout).toMatch(/#1 \[pending\] one/);
    expect(page.stdout).toContain('… and 2 more ready (--limit <n> or --all to see them)');
    const all = lastJson((await cli(['tasks', 'ready', '--all', '--json'], { env })).stdout) as unknown as unknown[];
    expect(all).toHaveLength(3);
  });

  it('add, dep add (cycle named, non-zero), claim (exit 3 when nothing is ready), list --json', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db'), DROVER_TASK_LIST: 'cli' };
    const a = lastJson((await cli(['tasks', 'add', 'Build', '--description', 'compile it', '--json'], { env })).stdout);
    expect(a).toMatchObject({ id: '1', subject: 'Build', description: 'compile it', status: 'pending' });
    await cli(['tasks', 'add', 'Test', '--blocked-by', '1'], { env });
    const cyc = await cli(['tasks', 'dep', 'add', '1', '--blocked-by', '2'], { env });
    expect(cyc.code).toBe(2);
    expect(cyc.stderr).toContain('#1 blocked by #2 would close a cycle: #1 → #2 → #1');
    const claimed = await cli(['tasks', 'claim', '--owner', 'ci', '--lease', '5m', '--json'], { env });
    expect(lastJson(claimed.stdout)).toMatchObject({ id: '1', owner: 'ci', status: 'in_progress' });
    const none = await cli(['tasks', 'claim', '--json'], { env });
    expect(none.code).toBe(3);
    expect(lastJson(none.stdout)).toMatchObject({ error: { code: 'NOTHING_READY' } });
    const blocked = await cli(['tasks', 'claim', '2'], { env });
    expect(blocked.code).toBe(6);
    const list = JSON.parse((await cli(['tasks', 'list', '--json'], { env })).stdout.trim().split('\n').pop() as string);
    expect(
      list.map((t: Record<string, unknown>) => ({
        id: t.id,
        subject: t.subject,
        status: t.status,
        owner: t.owner,
        blockedBy: t.blockedBy,
        blocks: t.blocks,
      })),
    ).toEqual([
      { id: '1', subject: 'Build', status: 'in_progress', owner: 'ci', blockedBy: [], blocks: ['2'] },
      { id: '2', subject: 'Test', status: 'pending', owner: null, blockedBy: ['1'], blocks: [] },
    ]);
    const bad = await cli(['tasks', 'claim', '--lease', 'forever'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lease: "forever" is not a duration/);
  });

  it('a killed claimer’s task comes back after its lease', async () => {
    const dir = tempDir();
    const storePath = join(dir, 's.db');
    const env = { DROVER_STORE: storePath, DROVER_TASK_LIST: 'lease' };
    await cli(['tasks', 'add', 'Long job'], { env });
    // A worker that claims with a 1 s lease and heartbeats every 300 ms, until killed.
    const worker = write(
      dir,
      'worker.mjs',
      `import { createStore } from '${join(import.meta.dirname, '..', 'dist', 'index.js')}';
       import { TaskBoard } from '${join(import.meta.dirname, '..', 'dist', 'tasks', 'index.js')}';
       const b = new TaskBoard(createStore(${JSON.stringify(storePath)}), 'lease', { name: 'worker' });
       await b.claim({ leaseMs: 1000 });
       console.log('claimed');
       setInterval(() => b.heartbeat('1', { leaseMs: 1000 }), 300);`,
    );
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [worker], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    await new Promise((r) => setTimeout(r, 1500)); // heartbeats keep it through more than one lease
    expect(lastJson((await cli(['tasks', 'show', '1', '--json'], { env })).stdout)).toMatchObject({
      status: 'in_progress',
      owner: 'worker',
    });
    child.kill('SIGKILL');
    const back = await waitFor(
      async () => {
        const t = lastJson((await cli(['tasks', 'show', '1', '--json'], { env })).stdout);
        return t.status === 'pending' ? t : undefined;
      },
      10_000,
      'lease expiry',
    );
    expect(back.owner).toBeNull();
    const history = JSON.parse((await cli(['tasks', 'history', '1', '--json'], { env })).stdout.trim().split('\n').pop() as string);
    expect(history.map((e: { kind: string }) => e.kind).filter((k: string) => k !== 'heartbeat')).toEqual([
      'created',
      'claimed',
      'lease_expired',
    ]);
  });

  it('8 processes claiming and completing at once: every task claimed exactly once', async () => {
    const dir = tempDir();
    const { store, path: storePath } = tempStore(dir);
    const b = new TaskBoard(store, 'race', { name: 'setup' });
    const N = 400;
    for (let i = 0; i < N; i++) await b.create({ subject: `t${i}` });
    const worker = write(
      dir,
      'claimer.mjs',
      `import { createStore, TaskRuleError } from '${join(import.meta.dirname, '..', 'dist', 'index.js')}';
       import { TaskBoard } from '${join(import.meta.dirname, '..', 'dist', 'tasks', 'index.js')}';
       const me = process.argv[2];
       const store = createStore(${JSON.stringify(storePath)});
       const b = new TaskBoard(store, 'race', { name: me });
       const mine = [];
       for (;;) {
         try { const t = await b.claim(); mine.push(t.id); await b.complete(t.id); }
         catch (e) { if (e.code === 'NOTHING_READY') break; throw e; }
       }
       await store.close();
       console.log(JSON.stringify(mine));`,
    );
    const { spawn } = await import('node:child_process');
    const runs = Array.from(
      { length: 8 },
      (_, i) =>
        new Promise<string[]>((resolve, reject) => {
          const c = spawn(process.execPath, [worker, `w${i}`], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          c.stdout.on('data', (d) => (out += d));
          c.stderr.on('data', (d) => (err += d));
          c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
        }),
    );
    const claimed = (await Promise.all(runs)).flat();
    expect(claimed).toHaveLength(N);
    expect(new Set(claimed).size).toBe(N);
    const events = await b.history();
    const claims = events.filter((e) => e.kind === 'claimed');
    expect(claims).toHaveLength(N);
    expect(new Set(claims.map((e) => e.taskId)).size).toBe(N);
    expect(events.filter((e) => e.kind === 'completed')).toHaveLength(N);
    expect((await b.list()).every((t) => t.status === 'completed')).toBe(true);
  });
});

describe('waiting for work', () => {
  it('racing creators on two connections never get the same id', async () => {
    const { store, path } = tempStore();
    const other = createStore(path);
    onCleanup(() => other.close());
    const a = new TaskBoard(store, 'ids', { name: 'a' });
    const b = new TaskBoard(other, 'ids', { name: 'b' });
    const made = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => a.create({ subject: `a${i}` })),
      ...Array.from({ length: 30 }, (_, i) => b.create({ subject: `b${i}` })),
    ]);
    expect(made.map((t) => Number(t.id)).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await a.store.tasks.nextTaskId('ids')).toBe('61');
  });

  it('edges added on one connection while blockers complete on another keep every open-blocker count right', async () => {
    const { store, path } = tempStore();
    const other = createStore(path);
    onCleanup(() => other.close());
    const a = new TaskBoard(store, 'counts', { name: 'a' });
    const b = new TaskBoard(other, 'counts', { name: 'b' });
    const N = 20;
    const blockers: TaskRecord[] = [];
    const dependents: TaskRecord[] = [];
    for (let i = 0; i < N; i++) blockers.push(await a.create({ subject: `blocker ${i}` }));
    for (let i = 0; i < N; i++) dependents.push(await a.create({ subject: `dependent ${i}` }));
    // Half the blockers are claimed first: completing them is a holder's write racing the edge.
    for (let i = 0; i < N; i += 2) await a.claim({ id: blockers[i]?.id as string });
    await Promise.all([
      ...blockers.map((t) => a.complete(t.id)),
      ...dependents.map((t, i) => b.addDependency(t.id, blockers[i]?.id as string)),
    ]);
    // Every blocker is completed, so every dependent is ready, whichever transaction went first.
    const ready = (await b.ready(Number.POSITIVE_INFINITY)).map((t) => t.id).sort((x, y) => Number(x) - Number(y));
    expect(ready).toEqual(dependents.map((t) => t.id));
    for (const t of dependents) expect((await b.get(t.id))?.blockedBy).toHaveLength(1);
    // And reopening a blocker blocks its dependent again.
    await a.update(blockers[0]?.id as string, { status: 'pending' });
    expect((await refusal(b.claim({ id: dependents[0]?.id as string }))).code).toBe('BLOCKED');
  });

  it('claim --wait takes a task added while it waits (exit 3 when the wait runs out)', async () => {
    const { store, path } = tempStore();
    const env = { DROVER_STORE: path, DROVER_TASK_LIST: 'wait' };
    const b = new TaskBoard(store, 'wait', { name: 'setup' });
    const none = await cli(['tasks', 'claim', '--wait', '1ms'], { env });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no task is ready in list wait/);
    const bad = await cli(['tasks', 'claim', '--wait', 'soon'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--wait: "soon" is not a duration/);
    const claimer = spawnCli(['tasks', 'claim', '--wait', '2m', '--owner', 'w1', '--json'], { env });
    await new Promise<void>((resolve) => {
      let err = '';
      claimer.stderr?.on('data', (d) => {
        err += d;
        if (err.includes('waiting for a change of task list wait')) resolve();
      });
    });
    const t = await b.create({ subject: 'arrives later' });
    const out = await claimer.done;
    expect(out.code).toBe(0);
    expect(lastJson(out.stdout)).toMatchObject({ id: t.id, status: 'in_progress', owner: 'w1' });
    expect((await b.get(t.id))?.owner).toBe('w1');
  });

  it('ready --wait shows a task once one is ready: a blocker completed elsewhere', async () => {
    const { store, path } = tempStore();
    const env = { DROVER_STORE: path, DROVER_TASK_LIST: 'wait' };
    const b = new TaskBoard(store, 'wait', { name: 'setup' });
    const first = await b.create({ subject: 'first' });
    await b.claim({ id: first.id });
    const second = await b.create({ subject: 'second', blockedBy: [first.id] });
    const reader = spawnCli(['tasks', 'ready', '--wait', '--json'], { env });
    await new Promise<void>((resolve) => reader.stderr?.on('data', (d) => String(d).includes('waiting for a change') && resolve()));
    await b.complete(first.id);
    const out = await reader.done;
    expect(out.code).toBe(0);
    expect((lastJson(out.stdout) as unknown as { id: string }[]).map((t) => t.id)).toEqual([second.id]);
  });

  it('a wait also ends when a claimed task’s lease runs out, which no writer announces', async () => {
    const { store } = tempStore();
    const b = new TaskBoard(store, 'lease', { name: 'setup' });
    const t = await b.create({ subject: 'held' });
    await b.claim({ id: t.id, owner: 'gone', leaseMs: 300 });
    // No change is committed after this: only the lease timer can end the wait before its 60 s.
    const claimed = await b.claimWait({ owner: 'next', waitMs: 60_000, pollMs: 10 * 60_000 });
    expect(claimed).toMatchObject({ id: t.id, owner: 'next' });
    expect((await b.history(t.id)).map((e) => e.kind)).toEqual(['created', 'claimed', 'lease_expired', 'claimed']);
  });

  it.runIf(ON_POSTGRES)('on PostgreSQL a waiting claimer wakes on NOTIFY, not by polling', async () => {
    const { store, path } = tempStore();
    // Another "machine": its own pool on the same schema.
    const other = createStore(path);
    onCleanup(() => other.close());
    const b = new TaskBoard(store, 'notify', { name: 'waiter' });
    await new TaskBoard(other, 'notify', { name: 'setup' }).create({ subject: 'makes the list' });
    await b.claim();
    const tenMinutes = 10 * 60_000;
    // A watch with a ten-minute poll: anything that ends it within the test's timeout is a notification.
    const watch = await store.tasks.watchTasks('notify', { pollMs: tenMinutes });
    onCleanup(() => watch.close());
    const woke = watch.next({ timeoutMs: tenMinutes });
    await waitFor(() => (watch as TaskWatcher).waiting, 20_000, 'the watch to wait');
    const pending = await new TaskBoard(other, 'notify', { name: 'producer' }).create({ subject: 'new work' });
    expect(await woke).toBe('notify');
    // The same for a claimer: it starts waiting, another connection adds a task, the claim takes it.
    let started: () => void = () => {};
    const waiting = new Promise<void>((r) => {
      started = r;
    });
    await b.claim({ id: pending.id });
    const claim = b.claimWait({ owner: 'waiter', waitMs: tenMinutes, pollMs: tenMinutes, onWait: () => started() });
    await waiting;
    const produced = await new TaskBoard(other, 'notify', { name: 'producer' }).create({ subject: 'more work' });
    expect(await claim).toMatchObject({ id: produced.id, owner: 'waiter', status: 'in_progress' });
    // A change committed while nobody waits is kept for the next wait, not lost.
    await new TaskBoard(other, 'notify', { name: 'producer' }).create({ subject: 'between waits' });
    expect(['notify', 'poll']).toContain(await watch.next({ timeoutMs: tenMinutes }));
    // The channel is the schema's and the list's.
    expect((store as PostgresStore).tasks.channel('notify')).toBe(taskChannel((store as PostgresStore).db.schema, 'notify'));
  });

  it.runIf(ON_POSTGRES)('on PostgreSQL a lost LISTEN connection falls back to polling, and a later watch listens again', async () => {
    const { store, path } = tempStore();
    const pg = store as PostgresStore;
    const other = createStore(path);
    onCleanup(() => other.close());
    const producer = new TaskBoard(other, 'lost', { name: 'producer' });
    await producer.create({ subject: 'makes the list' });
    const watch = await pg.tasks.watchTasks('lost');
    onCleanup(() => watch.close());
    // The server ends the listening backend (an admin, a failover, a proxy restart).
    const ended = await pg.db.rows<{ n: number }>('SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE query = $1', [
      `LISTEN "${pg.tasks.channel('lost')}"`,
    ]);
    expect(ended[0]?.n).toBe(1);
    // Nobody hears the NOTIFY of this change: only the polling fallback can see it.
    const polled = watch.next({ timeoutMs: 60_000 });
    await waitFor(() => (watch as TaskWatcher).waiting, 20_000, 'the watch to wait');
    await producer.create({ subject: 'after the loss' });
    expect(await polled).toBe('poll');
    await watch.close();
    const again = await pg.tasks.watchTasks('lost', { pollMs: 10 * 60_000 });
    onCleanup(() => again.close());
    const woke = again.next({ timeoutMs: 10 * 60_000 });
    await waitFor(() => (again as TaskWatcher).waiting, 20_000, 'the watch to wait');
    await producer.create({ subject: 'heard again' });
    expect(await woke).toBe('notify');
  });

  it('NOTIFY channels fit PostgreSQL identifiers and differ by schema and list', () => {
    expect(taskChannel('team_a', 'repo@main')).toBe('drover_tasks:team_a:repo@main');
    const long = 'x'.repeat(200);
    expect(Buffer.byteLength(taskChannel('team_a', long))).toBeLessThanOrEqual(63);
    expect(taskChannel('team_a', long)).not.toBe(taskChannel('team_b', long));
    expect(taskChannel('team_a', `${long}1`)).not.toBe(taskChannel('team_a', `${long}2`));
    expect(Buffer.byteLength(taskChannel(null, 'é'.repeat(40)))).toBeLessThanOrEqual(63);
  });
});

describe('export and import', () => {
  it('round-trips a list through a folder of Claude Code task files, byte-stable', async () => {
    const { b, store } = board();
    await b.create({ subject: 'a', description: 'first', labels: ['x', 'a'], priority: 1, metadata: { team: 'core' } });
    await b.create({ subject: 'b', blockedBy: ['1'], activeForm: 'Doing b' });
    await b.create({ subject: 'c', blockedBy: ['1', '2'] });
    await b.claim({ id: '1', owner: 'ann' });
    await b.complete('1');
    await b.cancel('2');
    const dir = tempDir();
    await exportTasks(b, dir);
    const file1 = JSON.parse(readFileSync(join(dir, '1.json'), 'utf8'));
    expect(Object.keys(file1)).toEqual(['id', 'subject', 'description', 'status', 'blocks', 'blockedBy', 'owner', 'metadata']);
    expect(file1).toMatchObject({
      id: '1',
      status: 'completed',
      blocks: ['2', '3'],
      owner: 'ann',
      metadata: { team: 'core', drover: { priority: 1, labels: ['a', 'x'] } },
    });
    expect(JSON.parse(readFileSync(join(dir, '2.json'), 'utf8'))).toMatchObject({
      status: 'completed',
      activeForm: 'Doing b',
      metadata: { drover: { status: 'cancelled' } },
    });
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8').trim()).toBe('3');
    const before = readFileSync(join(dir, '3.json'), 'utf8');
    await exportTasks(b, dir);
    expect(readFileSync(join(dir, '3.json'), 'utf8')).toBe(before);

    const other = new TaskBoard(store, 'l2', { name: 'importer' });
    const report = await importTasks(other, dir);
    expect(report.created).toEqual(['1', '2', '3']);
    const strip = (ts: Awaited<ReturnType<TaskBoard['list']>>) => ts.map(({ listId: _l, updatedAt: _u, ...t }) => t);
    expect(strip(await other.list())).toEqual(strip(await b.list()));
    const again = await importTasks(other, dir);
    expect(again).toEqual({ created: [], updated: [], unchanged: ['1', '2', '3'] });
  });

  it('refuses a folder with a bad file, naming the file, and changes nothing', async () => {
    const { b } = board();
    const dir = tempDir();
    write(dir, '1.json', JSON.stringify({ id: '1', subject: 'ok', description: '', status: 'pending', blocks: [], blockedBy: [] }));
    write(dir, '2.json', '{"id": "2", "subject": "torn", "descr');
    await expect(importTasks(b, dir)).rejects.toThrow(`${join(dir, '2.json')}: not valid JSON`);
    expect(await b.list()).toEqual([]);
  });
});

describe('Claude Code bridge (files)', () => {
  it('syncs both ways, reports torn files by path, refuses cycles and blocked starts', async () => {
    const { b } = board('bridge', 'shared');
    const dir = join(tempDir(), 'tasks', 'shared');
    mkdirSync(dir, { recursive: true });
    const bridge = new ClaudeTaskBridge(b, dir);
    await b.create({ subject: 'drover task' });
    let r = await bridge.syncOnce();
    expect(r.toClaude).toEqual(['1']);
    expect(JSON.parse(readFileSync(join(dir, '1.json'), 'utf8'))).toMatchObject({ id: '1', subject: 'drover task', status: 'pending' });
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8')).toBe('1');

    // Claude Code side: a new task blocked by 1, written the way Claude Code writes it.
    write(
      dir,
      '2.json',
      JSON.stringify(
        { id: '2', subject: 'claude task', description: 'from claude', status: 'pending', blocks: [], blockedBy: ['1'] },
        null,
        2,
      ),
    );
    writeFileSync(join(dir, '.highwatermark'), '2');
    write(dir, '3.json', '{"id": "3", "subj');
    r = await bridge.syncOnce();
    expect(r.toDrover).toEqual(['2']);
    expect(r.problems).toEqual([{ path: join(dir, '3.json'), id: '3', message: expect.stringMatching(/^not valid JSON/) }]);
    expect((await b.get('2'))?.blockedBy).toEqual(['1']);

    // Claude Code starts the blocked task: drover refuses, records it, and rewrites the file.
    const file2 = JSON.parse(readFileSync(join(dir, '2.json'), 'utf8'));
    write(dir, '2.json', JSON.stringify({ ...file2, status: 'in_progress', owner: 'claude' }, null, 2));
    r = await bridge.syncOnce();
    expect(r.refused[0]?.reason).toMatch(/status in_progress: task #2 cannot be started: blocked by unfinished #1/);
    expect((await b.get('2'))?.status).toBe('pending');
    expect(JSON.parse(readFileSync(join(dir, '2.json'), 'utf8')).status).toBe('pending');
    expect((await b.history('2')).some((e) => e.kind === 'refused')).toBe(true);

    // A cycle written by Claude Code is refused too.
    const file1 = JSON.parse(readFileSync(join(dir, '1.json'), 'utf8'));
    write(dir, '1.json', JSON.stringify({ ...file1, blockedBy: ['2'] }, null, 2));
    r = await bridge.syncOnce();
    expect(r.refused[0]?.reason).toMatch(/would close a cycle/);
    expect((await b.get('1'))?.blockedBy).toEqual([]);

    // drover completes 1: the file follows; nothing changes on a quiet pass.
    await b.claim({ id: '1' });
    await b.complete('1');
    r = await bridge.syncOnce();
    expect(r.toClaude).toEqual(['1']);
    expect(JSON.parse(readFileSync(join(dir, '1.json'), 'utf8')).status).toBe('completed');
    r = await bridge.syncOnce();
    expect([r.toClaude, r.toDrover]).toEqual([[], []]);
  });

  it('an id taken on both sides: Claude Code keeps it, drover’s task is renumbered', async () => {
    const { b } = board('bridge', 'ids');
    const dir = tempDir();
    await b.create({ subject: 'mine' });
    write(dir, '1.json', JSON.stringify({ id: '1', subject: 'theirs', description: '', status: 'pending', blocks: [], blockedBy: [] }));
    writeFileSync(join(dir, '.highwatermark'), '1');
    const r = await new ClaudeTaskBridge(b, dir).syncOnce();
    expect(r.renumbered).toEqual([{ from: '1', to: '2' }]);
    expect((await b.list()).map((t) => [t.id, t.subject])).toEqual([
      ['1', 'theirs'],
      ['2', 'mine'],
    ]);
    expect(JSON.parse(readFileSync(join(dir, '2.json'), 'utf8')).subject).toBe('mine');
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8')).toBe('2');
  });

  it('both sides changed one task: the newer wins and the loser is in history', async () => {
    const { store } = board();
    let now = Date.now() - 60_000;
    const b = new TaskBoard(store, 'c', { name: 'x' }, () => now);
    const dir = tempDir();
    const bridge = new ClaudeTaskBridge(b, dir);
    await b.create({ subject: 'v0' });
    await bridge.syncOnce();
    await b.update('1', { subject: 'drover edit' }); // older than the file edit below
    const f = JSON.parse(readFileSync(join(dir, '1.json'), 'utf8'));
    write(dir, '1.json', JSON.stringify({ ...f, subject: 'claude edit' }, null, 2));
    const r = await bridge.syncOnce();
    expect(r.conflicts).toMatchObject([{ id: '1', winner: 'claude' }]);
    expect((await b.get('1'))?.subject).toBe('claude edit');
    const conflict = (await b.history('1')).find((e) => e.kind === 'conflict');
    expect(conflict?.data).toMatchObject({ winner: 'claude', rule: 'newer change wins', lost: { subject: 'drover edit' } });
    now = Date.now();
  });
});
