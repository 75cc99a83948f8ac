import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskRuleError } from '../src/store/index.js';
import { fromClaudeFile } from '../src/tasks/claude-format.js';
import { ClaudeTaskBridge, importTasks, TaskBoard, type TaskRecord } from '../src/tasks/index.js';
import { cli, lastJson, spawnCli, tempDir, tempStore, waitFor, write } from './helpers.js';

/** A Claude Code task file, pretty-printed as Claude Code writes it. */
function ccFile(task: { id: string; blockedBy?: string[]; blocks?: string[]; status?: string; owner?: string; subject?: string }): string {
  const { id, blockedBy = [], blocks = [], status = 'pending', owner, subject = `task ${id}` } = task;
  return JSON.stringify(
    { id, subject, description: `made by claude (${id})`, status, blocks, blockedBy, ...(owner ? { owner } : {}) },
    null,
    2,
  );
}

function claudeDir(files: Parameters<typeof ccFile>[0][], highWater?: number): string {
  const dir = join(tempDir(), 'tasks', 'list');
  mkdirSync(dir, { recursive: true });
  for (const f of files) write(dir, `${f.id}.json`, ccFile(f));
  writeFileSync(join(dir, '.highwatermark'), String(highWater ?? Math.max(0, ...files.map((f) => Number(f.id)))));
  return dir;
}

function snapshotDir(dir: string, ids: string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, readFileSync(join(dir, `${id}.json`), 'utf8')]));
}

async function refusal(p: Promise<unknown>): Promise<TaskRuleError> {
  const err = await p.then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(TaskRuleError);
  return err as TaskRuleError;
}

/** A bridged list on a controllable clock (ms). */
function bridged(dir = join(tempDir(), 'tasks', 'list')) {
  const { store, path } = tempStore();
  const clock = { now: Date.now() - 3_600_000 };
  const b = new TaskBoard(store, 'list', { name: 'bridge' }, () => clock.now);
  mkdirSync(dir, { recursive: true });
  return { b, store, path, dir, clock, bridge: new ClaudeTaskBridge(b, dir) };
}

describe('bridge: every task of a pass before its edges', () => {
  it('first sync of a list where #1 is blocked by #2 keeps the edge, leaves Claude Code’s files alone, and #1 is not ready', async () => {
    const dir = claudeDir([
      { id: '1', blockedBy: ['2'] },
      { id: '2', blocks: ['1'] },
    ]);
    const before = snapshotDir(dir, ['1', '2']);
    const { b, bridge } = bridged(dir);
    const r = await bridge.syncOnce();
    expect(r.refused).toEqual([]);
    expect(r.held).toEqual([]);
    expect(r.toDrover).toEqual(['1', '2']);
    expect((await b.get('1'))?.blockedBy).toEqual(['2']);
    expect((await b.ready()).map((t) => t.id)).toEqual(['2']);
    expect(snapshotDir(dir, ['1', '2'])).toEqual(before);
    expect((await b.history('1')).some((e) => e.kind === 'refused')).toBe(false);
    // A quiet pass moves nothing.
    const again = await bridge.syncOnce();
    expect([again.toDrover, again.toClaude, again.refused]).toEqual([[], [], []]);
  });

  it('a chain written in any order (#1 ← #3 ← #5 ← #2) arrives whole', async () => {
    const dir = claudeDir([
      { id: '1', blockedBy: ['3'] },
      { id: '2' },
      { id: '3', blockedBy: ['5'] },
      { id: '4' },
      { id: '5', blockedBy: ['2'] },
    ]);
    const { b, bridge } = bridged(dir);
    expect((await bridge.syncOnce()).refused).toEqual([]);
    expect((await b.list()).map((t) => [t.id, t.blockedBy])).toEqual([
      ['1', ['3']],
      ['2', []],
      ['3', ['5']],
      ['4', []],
      ['5', ['2']],
    ]);
  });

  it('a real 3-cycle from Claude Code: the closing edge is refused as a cycle, held in the files, reported every pass, and taken once the user breaks the cycle', async () => {
    const dir = claudeDir([
      { id: '1', blockedBy: ['3'], blocks: ['2'] },
      { id: '2', blockedBy: ['1'], blocks: ['3'] },
      { id: '3', blockedBy: ['2'], blocks: ['1'] },
    ]);
    const before = snapshotDir(dir, ['1', '2', '3']);
    const { b, bridge } = bridged(dir);
    let r = await bridge.syncOnce();
    expect(r.refused).toEqual([{ id: '3', reason: '#3 blocked by #2 would close a cycle: #3 → #2 → #1 → #3 (→ means "waits for")' }]);
    expect(r.refused[0]?.reason).not.toMatch(/no such task/);
    expect(r.held).toEqual([{ id: '3', blockedBy: '2', reason: expect.stringMatching(/would close a cycle/) }]);
    expect(snapshotDir(dir, ['1', '2', '3'])).toEqual(before);
    expect((await b.list()).map((t) => t.blockedBy)).toEqual([['3'], ['1'], []]);
    const refusedEvents = async () => (await b.history()).filter((e) => e.kind === 'refused').length;
    expect(await refusedEvents()).toBe(1);

    // Reported again, recorded once, files still untouched.
    r = await bridge.syncOnce();
    expect(r.refused).toEqual([]);
    expect(r.held).toHaveLength(1);
    expect(await refusedEvents()).toBe(1);
    expect(snapshotDir(dir, ['1', '2', '3'])).toEqual(before);

    // drover changes #3: its file is rewritten, and still lists Claude Code's edge.
    await b.update('3', { description: 'edited in drover' });
    r = await bridge.syncOnce();
    expect(r.toClaude).toEqual(['3']);
    expect(JSON.parse(readFileSync(join(dir, '3.json'), 'utf8'))).toMatchObject({
      description: 'edited in drover',
      blockedBy: ['2'],
      blocks: ['1'],
    });

    // The user breaks the cycle in drover (#2 no longer waits for #1): the held edge is taken.
    await b.removeDependency('2', '1');
    r = await bridge.syncOnce();
    expect(r.held).toEqual([]);
    expect((await b.get('3'))?.blockedBy).toEqual(['2']);
    expect(JSON.parse(readFileSync(join(dir, '2.json'), 'utf8'))).toMatchObject({ blockedBy: [], blocks: ['3'] });
    expect(JSON.parse(readFileSync(join(dir, '1.json'), 'utf8'))).toMatchObject({ blockedBy: ['3'], blocks: [] });
  });

  it('an edge to an id Claude Code never had is held with its reason, the file kept', async () => {
    const dir = claudeDir([{ id: '1', blockedBy: ['9'] }]);
    const before = snapshotDir(dir, ['1']);
    const { b, bridge } = bridged(dir);
    const r = await bridge.syncOnce();
    expect(r.held).toEqual([
      { id: '1', blockedBy: '9', reason: 'blockedBy #9: no such task (Claude Code ignores unknown ids; drover refuses them)' },
    ]);
    expect(snapshotDir(dir, ['1'])).toEqual(before);
    expect((await b.ready()).map((t) => t.id)).toEqual(['1']);
  });

  it('tasks import: edges to tasks later in the folder are kept; a cycle refuses the whole folder, naming the file and the cycle', async () => {
    const ok = claudeDir([
      { id: '1', blockedBy: ['2'] },
      { id: '2', blocks: ['1'] },
    ]);
    const { b } = bridged();
    const report = await importTasks(b, ok);
    expect(report.created).toEqual(['1', '2']);
    expect((await b.get('1'))?.blockedBy).toEqual(['2']);

    const cyclic = claudeDir([
      { id: '1', blockedBy: ['3'] },
      { id: '2', blockedBy: ['1'] },
      { id: '3', blockedBy: ['2'] },
    ]);
    const other = bridged().b;
    const err = await refusal(importTasks(other, cyclic));
    expect(err.code).toBe('CYCLE');
    expect(err.message).toBe(`${join(cyclic, '3.json')}: #3 blocked by #2 would close a cycle: #3 → #2 → #1 → #3 (→ means "waits for")`);
    expect(await other.list()).toEqual([]);
    expect(await other.history()).toEqual([]);
  });
});

/** What drover's status reads as in Claude Code's file, per the mapping table in docs/tasks.md. */
function expectAgree(file: Record<string, unknown>, t: TaskRecord): void {
  const item = fromClaudeFile(file as never);
  expect(item.status).toBe(t.status);
  expect(item.owner).toBe(t.owner);
}

describe('bridge: every state maps both ways', () => {
  async function start(status: 'pending' | 'in_progress' | 'completed' | 'cancelled' = 'pending') {
    const env = bridged();
    const { b, bridge, dir } = env;
    await b.create({ subject: 'blocker' });
    await b.create({ subject: 'work', blockedBy: ['1'] });
    await b.complete('1');
    if (status === 'in_progress') await b.update('2', { status: 'in_progress', owner: 'cc' });
    if (status === 'completed') await b.complete('2');
    if (status === 'cancelled') await b.cancel('2');
    await bridge.syncOnce();
    const file = () => JSON.parse(readFileSync(join(dir, '2.json'), 'utf8'));
    const edit = (patch: Record<string, unknown>) => {
      const next = { ...file(), ...patch };
      for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
      writeFileSync(join(dir, '2.json'), JSON.stringify(next, null, 2));
    };
    /** Syncs, checks the two sides agree and that a second pass is quiet; returns the task and its file. */
    const settle = async () => {
      const r = await bridge.syncOnce();
      const quiet = await bridge.syncOnce();
      expect([quiet.toDrover, quiet.toClaude, quiet.refused]).toEqual([[], [], []]);
      const t = (await b.get('2')) as TaskRecord;
      if (existsSync(join(dir, '2.json'))) expectAgree(file(), t);
      return { r, t, f: existsSync(join(dir, '2.json')) ? file() : null };
    };
    return { ...env, file, edit, settle };
  }

  describe('drover → Claude Code', () => {
    it('claim, heartbeat-free lease expiry, release, complete, cancel, reopen, owner change, delete', async () => {
      const s = await start();
      const { b } = s;
      await b.claim({ id: '2', owner: 'w', leaseMs: 1000 });
      let { f } = await s.settle();
      expect(f).toMatchObject({ status: 'in_progress', owner: 'w' });

      s.clock.now += 2000; // the lease runs out
      ({ f } = await s.settle());
      expect(f.status).toBe('pending');
      expect(f.owner).toBeUndefined();

      await b.claim({ id: '2', owner: 'w' });
      await s.settle();
      await b.release('2', { owner: 'w' });
      ({ f } = await s.settle());
      expect([f.status, f.owner]).toEqual(['pending', undefined]);

      await b.update('2', { status: 'in_progress', owner: 'ann' }); // started without a lease
      ({ f } = await s.settle());
      expect(f).toMatchObject({ status: 'in_progress', owner: 'ann' });
      await b.update('2', { owner: 'bob' });
      ({ f } = await s.settle());
      expect(f.owner).toBe('bob');

      await b.complete('2');
      ({ f } = await s.settle());
      expect(f.status).toBe('completed');
      expect(f.metadata.drover.status).toBeUndefined();

      await b.update('2', { status: 'pending' }); // reopened
      ({ f } = await s.settle());
      expect(f.status).toBe('pending');

      await b.cancel('2');
      ({ f } = await s.settle());
      expect(f).toMatchObject({ status: 'completed', metadata: { drover: { status: 'cancelled' } } });

      await b.update('2', { status: 'pending' }); // reopened after cancel: the mark goes
      ({ f } = await s.settle());
      expect(f.status).toBe('pending');
      expect(f.metadata.drover.status).toBeUndefined();

      await b.delete('2');
      const { r } = await s.settle();
      expect(r.toClaude).toEqual(['1', '2']); // #1 no longer blocks #2: its file follows
      expect(existsSync(join(s.dir, '2.json'))).toBe(false);
    });
  });

  describe('Claude Code → drover', () => {
    it('TaskUpdate pending on a task drover cancelled reopens it (the mark left in metadata does not win)', async () => {
      const s = await start('cancelled');
      expect(s.file()).toMatchObject({ status: 'completed', metadata: { drover: { status: 'cancelled' } } });
      s.edit({ status: 'pending' }); // what TaskUpdate {status: "pending"} writes: metadata untouched
      const { t, f } = await s.settle();
      expect(t.status).toBe('pending');
      // drover drops its stale mark from the file, so a later `completed` there reads as completed, not cancelled.
      expect(f.metadata.drover.status).toBeUndefined();
      s.edit({ status: 'completed' });
      expect((await s.settle()).t.status).toBe('completed');
    });

    it('pending → in_progress (with owner) → completed → pending again', async () => {
      const s = await start();
      s.edit({ status: 'in_progress', owner: 'cc-agent' });
      let { t } = await s.settle();
      expect(t).toMatchObject({ status: 'in_progress', owner: 'cc-agent', leaseExpiresAt: null });
      s.edit({ status: 'completed' });
      ({ t } = await s.settle());
      expect(t.status).toBe('completed');
      s.edit({ status: 'pending', owner: undefined });
      ({ t } = await s.settle());
      expect(t).toMatchObject({ status: 'pending', owner: null });
    });

    it('cancelled → in_progress; a completed mark removed → completed; an edit keeping the mark stays cancelled', async () => {
      const a = await start('cancelled');
      a.edit({ subject: 'renamed' });
      expect((await a.settle()).t).toMatchObject({ status: 'cancelled', subject: 'renamed' });
      a.edit({ status: 'in_progress', owner: 'cc' });
      expect((await a.settle()).t).toMatchObject({ status: 'in_progress', owner: 'cc' });

      const c = await start('cancelled');
      c.edit({ metadata: { drover: { priority: 2, labels: [] } } });
      expect((await c.settle()).t.status).toBe('completed');
    });

    it('owner changes of an unclaimed task are taken', async () => {
      const s = await start('in_progress');
      s.edit({ owner: 'someone-else' });
      expect((await s.settle()).t).toMatchObject({ status: 'in_progress', owner: 'someone-else' });
    });

    it('a deleted file cancels an open task (never deletes it) and leaves a finished one alone', async () => {
      const open = await start();
      (await import('node:fs')).unlinkSync(join(open.dir, '2.json'));
      const { t, r } = await open.settle();
      expect(r.toDrover).toEqual(['2']);
      expect(t.status).toBe('cancelled');
      expect(existsSync(join(open.dir, '2.json'))).toBe(false);
      // Reopened in drover later: the file comes back.
      await open.b.update('2', { status: 'pending' });
      expect((await open.settle()).f?.status).toBe('pending');

      const done = await start('completed');
      (await import('node:fs')).unlinkSync(join(done.dir, '2.json'));
      expect((await done.settle()).t.status).toBe('completed');
    });

    it('a task claimed in drover: its holder (the file’s owner) may complete it; another owner or a cleared owner is refused and the file rewritten', async () => {
      const s = await start();
      await s.b.claim({ id: '2', owner: 'w', leaseMs: 600_000 });
      await s.settle();
      s.edit({ owner: 'thief' });
      let { t, f, r } = await s.settle();
      expect(r.refused).toEqual([
        { id: '2', reason: expect.stringMatching(/^owner thief: task #2 cannot be given to another owner by thief: it is claimed by w/) },
      ]);
      expect(t).toMatchObject({ status: 'in_progress', owner: 'w' });
      expect(f.owner).toBe('w');

      s.edit({ status: 'pending', owner: undefined });
      ({ t, f, r } = await s.settle());
      expect(r.refused[0]?.reason).toMatch(
        /^status pending: task #2 cannot be set pending by a writer naming no owner: it is claimed by w/,
      );
      expect(f).toMatchObject({ status: 'in_progress', owner: 'w' });

      s.edit({ status: 'completed' }); // the holder finishes through Claude Code
      ({ t } = await s.settle());
      expect(t.status).toBe('completed');
    });
  });

  it('deleted on both sides between passes: forgotten, and later passes stay quiet', async () => {
    const s = await start();
    await s.b.delete('2');
    (await import('node:fs')).unlinkSync(join(s.dir, '2.json'));
    await s.bridge.syncOnce();
    const state = JSON.parse(readFileSync(join(s.dir, '.drover-sync'), 'utf8'));
    expect(Object.keys(state.entries)).toEqual(['1']);
    const quiet = await s.bridge.syncOnce();
    expect([quiet.toDrover, quiet.toClaude, quiet.refused]).toEqual([[], [], []]);
  });

  it('conflict: drover cancelled, Claude Code reopened later — the newer change (Claude Code’s) wins, the loser is in history', async () => {
    const s = await start();
    await s.b.cancel('2'); // at the board clock, an hour ago
    s.edit({ status: 'in_progress', owner: 'cc' }); // now
    const { t, r } = await s.settle();
    expect(r.conflicts).toMatchObject([{ id: '2', winner: 'claude' }]);
    expect(t).toMatchObject({ status: 'in_progress', owner: 'cc' });
    const conflict = (await s.b.history('2')).find((e) => e.kind === 'conflict');
    expect(conflict?.data).toMatchObject({
      winner: 'claude',
      lost: { status: 'completed', metadata: { drover: { status: 'cancelled' } } },
    });
  });

  it('conflict: Claude Code reopened, drover cancelled later — drover wins and the file says cancelled', async () => {
    const s = await start();
    s.edit({ status: 'in_progress', owner: 'cc' });
    s.clock.now = Date.now() + 60_000;
    await s.b.cancel('2');
    const { t, f, r } = await s.settle();
    expect(r.conflicts).toMatchObject([{ id: '2', winner: 'drover' }]);
    expect(t.status).toBe('cancelled');
    expect(f).toMatchObject({ status: 'completed', metadata: { drover: { status: 'cancelled' } } });
  });
});

describe('bridge: ids are never reused', () => {
  it('.highwatermark at 10 with only 7.json: drover’s next task is #11, and .highwatermark follows', async () => {
    const dir = claudeDir([{ id: '7' }], 10);
    const { b, bridge } = bridged(dir);
    await bridge.syncOnce();
    const t = await b.create({ subject: 'new in drover' });
    expect(t.id).toBe('11');
    const r = await bridge.syncOnce();
    expect(r.toClaude).toEqual(['11']);
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8')).toBe('11');
    expect(existsSync(join(dir, '8.json'))).toBe(false);
  });

  it('a drover task made before the sync with an id Claude Code handed out is renumbered past it', async () => {
    const { b, store } = bridged();
    await b.create({ subject: 'one' });
    await b.create({ subject: 'two' });
    const dir = join(tempDir(), 'tasks', 'list');
    mkdirSync(dir, { recursive: true });
    const bridge = new ClaudeTaskBridge(b, dir);
    await bridge.syncOnce(); // 1 and 2 are files now
    // Claude Code creates 3..10 and deletes them all, leaving .highwatermark at 10.
    writeFileSync(join(dir, '.highwatermark'), '10');
    const other = new TaskBoard(store, 'list', { name: 'offline' }); // a drover process that never synced since
    const made = await other.create({ subject: 'three?' });
    expect(made.id).toBe('3');
    const r = await bridge.syncOnce();
    expect(r.renumbered).toEqual([{ from: '3', to: '11' }]);
    expect(JSON.parse(readFileSync(join(dir, '11.json'), 'utf8')).subject).toBe('three?');
    expect(existsSync(join(dir, '3.json'))).toBe(false);
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8')).toBe('11');
    expect((await b.create({ subject: 'next' })).id).toBe('12');
  });
});

describe('bridge: bad files never break the list', () => {
  it('a file with a huge numeric id is skipped with its name; ids keep counting; nothing drover wrote is cancelled', async () => {
    const dir = claudeDir([{ id: '1' }]);
    const huge = '99999999999999999999999';
    write(dir, `${huge}.json`, ccFile({ id: huge }));
    const { b, bridge } = bridged(dir);
    let r = await bridge.syncOnce();
    expect(r.problems).toEqual([
      { path: join(dir, `${huge}.json`), id: huge, message: expect.stringMatching(/not a whole number .* skipped/) },
    ]);
    const mine = await b.create({ subject: 'drover’s own' });
    expect(mine.id).toBe('2');
    r = await bridge.syncOnce();
    expect(r.toClaude).toEqual(['2']);
    r = await bridge.syncOnce();
    expect([r.toDrover, r.toClaude]).toEqual([[], []]);
    expect((await b.create({ subject: 'and another' })).id).toBe('3');
    await bridge.syncOnce();
    expect((await b.list()).map((t) => [t.id, t.status])).toEqual([
      ['1', 'pending'],
      ['2', 'pending'],
      ['3', 'pending'],
    ]);
    expect((await b.history()).some((e) => e.kind === 'cancelled')).toBe(false);
    expect(readFileSync(join(dir, '.highwatermark'), 'utf8')).toBe('3');
  });

  it('a huge .highwatermark is reported and ignored; an odd file name is reported, never read as a deleted task', async () => {
    const dir = claudeDir([{ id: '1' }]);
    writeFileSync(join(dir, '.highwatermark'), '1e+23');
    write(dir, 'notes+draft.json', '{}');
    const { b, bridge } = bridged(dir);
    const r = await bridge.syncOnce();
    expect(r.problems.map((p) => p.path).sort()).toEqual([join(dir, '.highwatermark'), join(dir, 'notes+draft.json')]);
    expect((await b.create({ subject: 'x' })).id).toBe('2');
  });

  it('the store refuses an explicit id it cannot count, and the list keeps allocating', async () => {
    const { b } = bridged();
    const err = await refusal(b.create({ id: '99999999999999999999999', subject: 'huge' }));
    expect(err).toMatchObject({ code: 'INVALID_TASK', exitCode: 2 });
    expect((await b.create({ subject: 'fine' })).id).toBe('1');
  });

  it('a list an older drover broke (high-water mark 1e23) allocates again from the ids it holds', async () => {
    const { b, path } = bridged();
    await b.create({ subject: 'one' });
    await b.create({ subject: 'two' });
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.prepare('UPDATE task_lists SET high_water = 1e23').run();
    db.close();
    expect(await b.store.tasks.nextTaskId('list')).toBe('3');
    expect((await b.create({ subject: 'three' })).id).toBe('3');
    expect((await b.create({ subject: 'four' })).id).toBe('4');
  });

  it('tasks import of a folder holding a huge id exits 2 naming the file, importing nothing', async () => {
    const dir = claudeDir([{ id: '1' }]);
    write(dir, '99999999999999999999999.json', ccFile({ id: '99999999999999999999999' }));
    const storeDir = tempDir();
    const env = { DROVER_STORE: join(storeDir, 's.db'), DROVER_TASK_LIST: 'imp' };
    const r = await cli(['tasks', 'import', dir, '--json'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(dir, '99999999999999999999999.json'));
    expect(lastJson((await cli(['tasks', 'list', '--json'], { env })).stdout)).toEqual([]);
  });
});

describe('claims: only the holder writes', () => {
  async function expired() {
    const { store } = tempStore();
    const clock = { now: 1_000_000 };
    const as = (name: string, session?: string) => new TaskBoard(store, 'c', { name, ...(session ? { session } : {}) }, () => clock.now);
    const alice = as('alice');
    await alice.create({ subject: 'work' });
    await alice.claim({ id: '1', leaseMs: 1000 });
    clock.now += 5000;
    return { store, clock, as, alice };
  }

  it('done and release by a claimant whose lease ran out and whose task someone else now holds: LEASE_EXPIRED, exit 6, nothing changed', async () => {
    const { as, alice } = await expired();
    const bob = as('bob');
    await bob.claim({ id: '1' });
    for (const attempt of [alice.complete('1'), alice.release('1'), alice.update('1', { status: 'completed' }), alice.heartbeat('1')]) {
      const err = await refusal(attempt);
      expect(err).toMatchObject({ code: 'LEASE_EXPIRED', exitCode: 6 });
      expect(err.message).toMatch(/claimed by bob/);
    }
    expect(await bob.get('1')).toMatchObject({ status: 'in_progress', owner: 'bob' });
    expect((await bob.complete('1')).status).toBe('completed');
  });

  it('a claimant whose lease ran out with nobody holding the task is refused too, and may claim again', async () => {
    const { alice } = await expired();
    expect(await refusal(alice.complete('1'))).toMatchObject({ code: 'LEASE_EXPIRED', exitCode: 6 });
    expect((await alice.get('1'))?.status).toBe('pending');
    await alice.claim({ id: '1' });
    expect((await alice.complete('1')).status).toBe('completed');
  });

  it('non-owners are refused with NOT_OWNER; field edits and cancel stay open; an unclaimed task can be completed by anyone', async () => {
    const { store } = tempStore();
    const b = (name: string) => new TaskBoard(store, 'n', { name });
    await b('lead').create({ subject: 'claimed' });
    await b('lead').create({ subject: 'free' });
    await b('w1').claim({ id: '1' });
    const carol = b('carol');
    for (const attempt of [
      carol.complete('1'),
      carol.release('1'),
      carol.update('1', { status: 'pending' }),
      carol.update('1', { owner: 'carol' }),
      carol.complete('1', { owner: 'w2' }),
    ]) {
      expect(await refusal(attempt)).toMatchObject({ code: 'NOT_OWNER', exitCode: 6 });
    }
    expect(await carol.get('1')).toMatchObject({ status: 'in_progress', owner: 'w1' });
    expect((await carol.update('1', { description: 'more detail' })).description).toBe('more detail');
    expect((await carol.complete('2')).status).toBe('completed');
    expect((await carol.complete('1', { owner: 'w1' })).status).toBe('completed'); // naming the holder
  });

  it('the maker of a claim holds it whatever owner it named (a workflow claiming for an agent label), other sessions do not', async () => {
    const { store } = tempStore();
    const run = new TaskBoard(store, 'm', { name: 'workflow:wf', session: 'run-1' });
    const otherRun = new TaskBoard(store, 'm', { name: 'workflow:wf', session: 'run-2' });
    await run.create({ subject: 'a' });
    await run.claim({ id: '1', owner: 'agent-x' });
    expect(await refusal(otherRun.complete('1'))).toMatchObject({ code: 'NOT_OWNER' });
    expect((await run.complete('1')).status).toBe('completed');
  });

  it('CLI: done/release by an expired claimant or a non-owner exit 6 with the code; the holder succeeds', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 's.db'), DROVER_TASK_LIST: 'cl' };
    await cli(['tasks', 'add', 'job'], { env });
    expect((await cli(['tasks', 'claim', '1', '--actor', 'a', '--lease', '1ms'], { env })).code).toBe(0);
    // The 1 ms lease is over before the next process has started.
    expect((await cli(['tasks', 'claim', '1', '--actor', 'b'], { env })).code).toBe(0);
    for (const args of [
      ['tasks', 'done', '1', '--actor', 'a'],
      ['tasks', 'release', '1', '--actor', 'a'],
      ['tasks', 'done', '1', '--owner', 'a'],
    ]) {
      const r = await cli([...args, '--json'], { env });
      expect(r.code, r.stderr).toBe(6);
      expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'LEASE_EXPIRED' } });
    }
    const c = await cli(['tasks', 'done', '1', '--actor', 'c', '--json'], { env });
    expect(c.code).toBe(6);
    expect(lastJson(c.stdout)).toMatchObject({ error: { code: 'NOT_OWNER' } });
    const ok = await cli(['tasks', 'done', '1', '--actor', 'b', '--json'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ status: 'completed', owner: 'b' });
  });

  it('MCP: a stale client’s TaskUpdate on a task another client now holds is a tool error; the holder’s goes through', async () => {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const { CLI } = await import('./helpers.js');
    const dir = tempDir();
    const { path } = tempStore(dir);
    const connect = async () => {
      const client = new Client({ name: 'claude-code', version: '1' });
      await client.connect(
        new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--store', path, '--list', 'mcp'], stderr: 'ignore' }),
      );
      const call = async (name: string, args: Record<string, unknown>) =>
        (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: { text: string }[] };
      return { client, call };
    };
    const a = await connect();
    const b = await connect();
    try {
      await a.call('TaskCreate', { subject: 'job', description: '' });
      expect((await a.call('task_claim', { taskId: '1', leaseSeconds: 0.001 })).isError).toBeFalsy();
      // The lease (1 ms) is over by the time b's request arrives.
      expect((await b.call('task_claim', { taskId: '1' })).isError).toBeFalsy();
      const stale = await a.call('TaskUpdate', { taskId: '1', status: 'completed' });
      expect(stale.isError).toBe(true);
      expect(stale.content[0]?.text).toMatch(/^LEASE_EXPIRED: /);
      const reopen = await a.call('TaskUpdate', { taskId: '1', status: 'pending' });
      expect(reopen.content[0]?.text).toMatch(/^LEASE_EXPIRED: /);
      expect((await b.call('TaskGet', { taskId: '1' })).content[0]?.text).toMatch(/^#1 \[in_progress\] job \(claude-code@[0-9a-f]{8}\)/);
      const mine = await b.call('TaskUpdate', { taskId: '1', status: 'completed' });
      expect(mine.isError, mine.content[0]?.text).toBeFalsy();
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });

  it('tasks.* in a workflow: completing a task someone else holds is refused inside the script', async () => {
    const { runWorkflow } = await import('../src/workflow/index.js');
    const { ccScript, gateway, FAST_BACKOFF } = await import('./helpers.js');
    const dir = tempDir();
    const { store } = tempStore(dir);
    const gw = await gateway("rules:\n  - name: any\n    match: { prompt: '.' }\n    turns: [{ text: ok }]\n");
    const other = new TaskBoard(store, 'wf', { name: 'elsewhere' });
    await other.create({ subject: 'held elsewhere' });
    await other.claim({ id: '1', owner: 'w9' });
    const s = await runWorkflow({
      store,
      script: ccScript(dir, "try { await tasks.complete('1'); return 'done' } catch (e) { return e.code }"),
      gateway: gw.url,
      workdir: dir,
      backoff: FAST_BACKOFF,
      taskList: 'wf',
    });
    expect(s.status, JSON.stringify(s.error)).toBe('completed');
    expect(s.result).toBe('NOT_OWNER');
    expect((await other.get('1'))?.status).toBe('in_progress');
  });
});

describe('tasks import is all or nothing', () => {
  it('a refusal mid-import (a completed task whose blocker is open) leaves nothing behind', async () => {
    const dir = claudeDir([{ id: '1' }, { id: '2' }, { id: '3', status: 'completed', blockedBy: ['1'] }, { id: '4' }]);
    const { b } = bridged();
    const err = await refusal(importTasks(b, dir));
    expect(err.code).toBe('BLOCKED');
    expect(err.message).toContain(join(dir, '3.json'));
    expect(await b.list()).toEqual([]);
    expect(await b.history()).toEqual([]);
  });

  it('kill -9 just before the import commits: the list is untouched, and a second import brings everything', async () => {
    const files = Array.from({ length: 40 }, (_, i) => ({ id: String(i + 1), ...(i > 0 ? { blockedBy: [String(i)] } : {}) }));
    const dir = claudeDir(files);
    const hold = tempDir();
    const storeDir = tempDir();
    const env = { DROVER_STORE: join(storeDir, 's.db'), DROVER_TASK_LIST: 'kill' };
    await cli(['tasks', 'add', 'already there'], { env }); // #1 exists: the import updates it
    const child = spawnCli(['tasks', 'import', dir], { env: { ...env, DROVER_TEST_IMPORT_HOLD: hold } });
    await waitFor(() => existsSync(join(hold, 'reached')), 60_000, 'the import to reach its commit');
    child.kill('SIGKILL');
    const r = await child.done;
    expect(r.signal).toBe('SIGKILL');
    const list = lastJson((await cli(['tasks', 'list', '--json'], { env })).stdout) as unknown as TaskRecord[];
    expect(list.map((t) => [t.id, t.subject])).toEqual([['1', 'already there']]);
    const again = await cli(['tasks', 'import', dir, '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson(again.stdout)).toMatchObject({ updated: ['1'] });
    const after = lastJson((await cli(['tasks', 'list', '--json'], { env })).stdout) as unknown as TaskRecord[];
    expect(after).toHaveLength(40);
    expect(after[39]?.blockedBy).toEqual(['39']);
  });
});

describe('tasks sync (CLI) reports what it holds back', () => {
  it('a 3-cycle: the first sync refuses and holds the closing edge, every later sync still lists it, exit 0', async () => {
    const dir = claudeDir([
      { id: '1', blockedBy: ['3'], blocks: ['2'] },
      { id: '2', blockedBy: ['1'], blocks: ['3'] },
      { id: '3', blockedBy: ['2'], blocks: ['1'] },
    ]);
    const env = { DROVER_STORE: join(tempDir(), 's.db'), DROVER_TASK_LIST: 'cyc' };
    const first = await cli(['tasks', 'sync', '--claude-dir', dir, '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(lastJson(first.stdout)).toMatchObject({
      refused: [{ id: '3', reason: expect.stringMatching(/would close a cycle: #3 → #2 → #1 → #3/) }],
      held: [{ id: '3', blockedBy: '2' }],
    });
    const second = await cli(['tasks', 'sync', '--claude-dir', dir], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(
      "held #3 blocked by #2 (kept in Claude Code's file, not in drover): #3 blocked by #2 would close a cycle",
    );
    expect(second.stdout).not.toContain('refused');
  });
});
