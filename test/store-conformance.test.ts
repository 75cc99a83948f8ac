import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { CallRecord, Store, UsageRecord } from '../src/store/index.js';
import { bareRun, ON_POSTGRES, tempDir, tempStore } from './helpers.js';

// Runs on SQLite and, in the `postgres` project (vitest.config.ts), on PostgreSQL: the same
// expectations of the Store interface's runs, journal, leases, usage, questions and events.

const call = (runId: string, key: string, over: Partial<CallRecord> = {}): CallRecord => ({
  runId,
  key,
  kind: 'agent',
  label: `label-${key}`,
  phase: 'p1',
  status: 'finished',
  inputs: { prompt: 'x' },
  result: { ok: key },
  error: null,
  attempts: 1,
  startedAt: 10,
  finishedAt: 20,
  reusedFrom: null,
  ...over,
});

const usage = (runId: string, callKey: string, input: number, output: number): UsageRecord => ({
  runId,
  callKey,
  requestId: `req-${callKey}-${input}`,
  model: 'claude-sonnet-4-5',
  inputTokens: input,
  outputTokens: output,
  cacheReadTokens: 100,
  cacheWrite5mTokens: 10,
  cacheWrite1hTokens: 0,
  stopReason: 'end_turn',
  createdAt: 30,
});

const lease = (store: Store, runId: string, token: string, now: number, gone = false) =>
  store.acquireRunLease({ runId, holder: { token, pid: process.pid, host: hostname() }, ttlMs: 1000, now, isHolderGone: () => gone });

describe(`store conformance (${ON_POSTGRES ? 'postgres' : 'sqlite'})`, () => {
  it('creates, reads, lists and patches runs; a duplicate id is RUN_EXISTS', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const a = await bareRun(store, 'run-a', dir);
    expect(a).toMatchObject({ id: 'run-a', status: 'running', lease: null, result: null, error: null });
    await bareRun(store, 'run-b', dir);
    await expect(bareRun(store, 'run-a', dir)).rejects.toMatchObject({ code: 'RUN_EXISTS' });
    await store.updateRun('run-a', { status: 'completed', result: { big: 'x'.repeat(1000) }, finishedAt: 99 }, 50);
    const back = await store.getRun('run-a');
    expect(back).toMatchObject({ status: 'completed', finishedAt: 99, updatedAt: 50, result: { big: 'x'.repeat(1000) } });
    const listed = await store.listRuns();
    expect(listed.map((r) => r.id).sort()).toEqual(['run-a', 'run-b']);
    expect(listed.find((r) => r.id === 'run-a')?.resultBytes).toBe(JSON.stringify({ big: 'x'.repeat(1000) }).length);
    expect((await store.listRuns({ status: 'completed' })).map((r) => r.id)).toEqual(['run-a']);
    expect(await store.getRun('nope')).toBeUndefined();
    await expect(store.updateRun('nope', { status: 'failed' }, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('leases: one holder at a time; expiry and a gone holder free it; renew and release only by the token', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    expect(await lease(store, 'r', 'one', 1000)).toEqual({ acquired: true, tookOverFrom: null });
    const refused = await lease(store, 'r', 'two', 1500);
    expect(refused).toMatchObject({ acquired: false, heldBy: { token: 'one', expiresAt: 2000 } });
    expect(await store.renewRunLease('r', 'two', 9999)).toBe(false);
    expect(await store.renewRunLease('r', 'one', 2500)).toBe(true);
    expect((await lease(store, 'r', 'two', 2400)).acquired).toBe(false);
    const taken = await lease(store, 'r', 'two', 2600);
    expect(taken).toMatchObject({ acquired: true, tookOverFrom: { token: 'one' } });
    expect((await lease(store, 'r', 'three', 2700, true)).acquired).toBe(true);
    await store.releaseRunLease('r', 'two');
    expect((await store.getRun('r'))?.lease?.token).toBe('three');
    await store.releaseRunLease('r', 'three');
    expect((await store.getRun('r'))?.lease).toBeNull();
  });

  it('racing acquirers: exactly one wins', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => lease(store, 'r', `t${i}`, 1000)));
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });

  it('journal + usage in one transaction; rekeys move ledger rows; totals per run and per call', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    await store.recordCalls([call('r', 'agent:a'), call('r', 'agent:b')], [usage('r', 'agent:a', 1000, 50), usage('r', 'agent:b', 7, 3)]);
    const calls = await store.listCalls('r');
    expect(calls.map((c) => c.key).sort()).toEqual(['agent:a', 'agent:b']);
    expect(calls.find((c) => c.key === 'agent:a')).toMatchObject({ label: 'label-agent:a', result: { ok: 'agent:a' }, attempts: 1 });
    const totals = await store.usageTotals('r');
    expect(totals).toMatchObject({
      requests: 2,
      inputTokens: 1007,
      outputTokens: 53,
      cacheReadTokens: 200,
      cacheWriteTokens: 20,
      unpricedRequests: 0,
    });
    expect(totals.costUsd).toBeGreaterThan(0);
    expect(totals.cacheHitRatio).toBeCloseTo(200 / (1007 + 200 + 20), 10);
    await store.recordCalls([call('r', 'agent:c')], [], [], [{ from: 'agent:a', to: 'agent:c' }]);
    const byCall = await store.usageByCall('r');
    expect([...byCall.keys()].sort()).toEqual(['agent:b', 'agent:c']);
    expect(byCall.get('agent:c')?.inputTokens).toBe(1000);
    expect((await store.listUsage('r')).map((u) => [u.callKey, u.inputTokens])).toEqual([
      ['agent:c', 1000],
      ['agent:b', 7],
    ]);
    const ledger = await store.ledger.listByRun('r');
    expect(ledger.map((e) => [e.callKey, e.agentLabel, e.phase, e.workflow, e.mode])).toEqual([
      ['agent:c', 'label-agent:a', 'p1', 'r', 'reported'],
      ['agent:b', 'label-agent:b', 'p1', 'r', 'reported'],
    ]);
    // An upsert overwrites the entry.
    await store.recordCalls([call('r', 'agent:b', { status: 'failed', error: { code: 'X', message: 'boom' }, attempts: 3 })]);
    expect((await store.listCalls('r')).find((c) => c.key === 'agent:b')).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: { code: 'X' },
    });
  });

  it('fenced writes are refused once another token holds the lease, and nothing of them lands', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    await lease(store, 'r', 'old', 1000);
    const old = { runId: 'r', token: 'old' };
    await store.recordCalls([call('r', 'agent:a')], [], [], [], old);
    await lease(store, 'r', 'new', 1000, true);
    await expect(store.recordCalls([call('r', 'agent:z')], [usage('r', 'agent:z', 1, 1)], [], [], old)).rejects.toMatchObject({
      code: 'LEASE_LOST',
    });
    await expect(store.updateRun('r', { status: 'completed' }, 2, old)).rejects.toMatchObject({ code: 'LEASE_LOST' });
    await expect(store.appendEvents([{ runId: 'r', ts: 1, type: 'log', data: {} }], old)).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect((await store.listCalls('r')).map((c) => c.key)).toEqual(['agent:a']);
    expect((await store.usageTotals('r')).requests).toBe(0);
    expect((await store.getRun('r'))?.status).toBe('running');
  });

  it('questions: pending inbox, one answer that also journals the ask call', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    const q = {
      id: 'q1',
      runId: 'r',
      callKey: 'ask:1',
      question: 'go?',
      choices: ['yes', 'no'],
      status: 'pending' as const,
      answer: null,
      createdAt: 5,
      answeredAt: null,
    };
    await store.createQuestion(q);
    await store.createQuestion(q);
    expect((await store.listPendingQuestions()).map((x) => x.id)).toEqual(['q1']);
    const answered = await store.answerQuestion('r', 'q1', 'yes', 9);
    expect(answered).toMatchObject({ status: 'answered', answer: 'yes', answeredAt: 9, choices: ['yes', 'no'] });
    await expect(store.answerQuestion('r', 'q1', 'no', 10)).rejects.toMatchObject({ code: 'ALREADY_ANSWERED' });
    await expect(store.answerQuestion('r', 'q9', 'no', 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await store.listCalls('r')).find((c) => c.key === 'ask:1')).toMatchObject({ kind: 'ask', status: 'finished', result: 'yes' });
    expect(await store.listPendingQuestions()).toEqual([]);
  });

  it('events keep their order; changeMark moves on every commit and only then', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    const before = await store.changeMark();
    await store.appendEvents([
      { runId: 'r', ts: 2, type: 'phase', data: { name: 'b' } },
      { runId: 'r', ts: 1, type: 'log', data: { message: 'a' } },
    ]);
    const after = await store.changeMark();
    expect(after).not.toBe(before);
    expect((await store.listEvents('r')).map((e) => [e.ts, e.type])).toEqual([
      [2, 'phase'],
      [1, 'log'],
    ]);
  });

  it('run queue: pooled runs are queued; claims are atomic, oldest first, by pool, labels, backends and exclusions', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const queued = async (id: string, pool: string, labels?: string[], backend = 'builtin') =>
      store.createRun(
        {
          id,
          name: id,
          description: '',
          scriptPath: `${dir}/wf.js`,
          scriptSource: '',
          scriptHash: '',
          scriptForm: 'claude-code',
          args: null,
          settings: { backend, model: 'm', concurrency: 1, maxAgents: 1, pool, ...(labels ? { labels } : {}) },
          fromRunId: null,
          pool,
        },
        Date.now(),
      );
    expect((await queued('q1', 'workers')).status).toBe('queued');
    await queued('q2', 'workers', ['gpu']);
    await queued('q3', 'workers', undefined, 'codex');
    await queued('q4', 'other');
    await queued('q5', 'workers');
    const claim = (token: string, over: Partial<Parameters<Store['queue']['claimRun']>[0]> = {}) =>
      store.queue.claimRun({
        pool: 'workers',
        holder: { token, pid: process.pid, host: hostname() },
        ttlMs: 60_000,
        now: Date.now(),
        labels: [],
        isHolderGone: () => false,
        backends: ['builtin'],
        ...over,
      });
    // Eight racing claimers, three runs this worker kind may take (q1, q5; q2 needs gpu, q3 is codex, q4 another pool).
    const got = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(`w${i}`)));
    const won = got.filter((g) => g !== null).map((g) => g?.run.id);
    expect(won.sort()).toEqual(['q1', 'q5']);
    for (const g of got.filter((x) => x !== null)) {
      expect(g?.run).toMatchObject({ status: 'running', lease: { token: expect.any(String) } });
      expect(g?.tookOverFrom).toBeNull();
      expect((await store.getRun(g?.run.id as string))?.lease?.token).toBe(g?.run.lease?.token);
    }
    expect(await claim('x')).toBeNull();
    expect((await claim('gpu', { labels: ['gpu', 'ssd'], exclude: new Set(['nothing']) }))?.run.id).toBe('q2');
    expect(await claim('codex', { backends: ['builtin'] })).toBeNull();
    expect((await claim('codex', { backends: ['codex'] }))?.run.id).toBe('q3');
    // A lapsed lease is taken over, naming the old holder; a live one is not.
    const q1 = got.find((g) => g?.run.id === 'q1');
    expect(await claim('late', { now: Date.now() + 1000 })).toBeNull();
    const over = await claim('late', { now: Date.now() + 120_000 });
    expect(over?.run.id).toBe('q1');
    expect(over?.tookOverFrom?.token).toBe(q1?.run.lease?.token);
    // Only the holder can hand a run back; then it is queued again and claimable at once.
    expect(await store.queue.requeue('q1', 'not-me', Date.now())).toBe(false);
    expect(await store.queue.requeue('q1', 'late', Date.now())).toBe(true);
    expect(await store.getRun('q1')).toMatchObject({ status: 'queued', lease: null });
    expect((await claim('again'))?.run.id).toBe('q1');
    expect((await claim('x', { pool: 'other' }))?.run.id).toBe('q4');
  });

  // SQLite has no notifications (its workers look every --poll ms); PostgreSQL wakes waiting workers on every machine.
  it.runIf(ON_POSTGRES)('a worker waiting for work wakes on the NOTIFY of a queued run, not on its poll interval', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'warm', dir); // connected and migrated before the wait starts
    const started = Date.now();
    let woke = false;
    const waiting = store.queue.waitForWork('workers', 600_000).then(() => {
      woke = true;
    });
    // The LISTEN is in place once the wait's connection answers: another wait on the same channel proves it.
    await store.queue.waitForWork('elsewhere', 1);
    expect(woke).toBe(false);
    await store.createRun(
      {
        id: 'pooled',
        name: 'pooled',
        description: '',
        scriptPath: `${dir}/wf.js`,
        scriptSource: '',
        scriptHash: '',
        scriptForm: 'claude-code',
        args: null,
        settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1, pool: 'workers' },
        fromRunId: null,
        pool: 'workers',
      },
      Date.now(),
    );
    await waiting;
    expect(woke).toBe(true);
    expect(Date.now() - started).toBeLessThan(600_000);
  });

  it('agent jobs: a worker with a free slot gets the queued job even when its own live jobs come first in the run', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    for (let i = 0; i < 5; i++) {
      await store.jobs.enqueue(
        { runId: 'r', callKey: `agent:${i}`, pool: 'workers', labels: [], backend: 'builtin', request: { prompt: `p${i}` } },
        1,
      );
    }
    let n = 0;
    const claim = (limit: number, over: Partial<Parameters<Store['jobs']['claim']>[0]> = {}) =>
      store.jobs.claim({
        pool: 'workers',
        worker: 'w',
        host: hostname(),
        pid: process.pid,
        labels: [],
        limit,
        ttlMs: 60_000,
        now: 1000,
        isHolderGone: () => false,
        newToken: () => `t${++n}`,
        ...over,
      });
    expect((await claim(3)).map((j) => j.callKey)).toEqual(['agent:0', 'agent:1', 'agent:2']);
    expect((await claim(1)).map((j) => j.callKey)).toEqual(['agent:3']);
    expect((await claim(5)).map((j) => j.callKey)).toEqual(['agent:4']);
    expect(await claim(5)).toEqual([]);
    // This host's live jobs are taken over only when their holder is gone; a lapsed lease by anyone.
    expect((await claim(2, { isHolderGone: () => true })).map((j) => [j.callKey, j.claims])).toEqual([
      ['agent:0', 2],
      ['agent:1', 2],
    ]);
    expect((await claim(1, { host: 'elsewhere', now: 1000 + 120_000 })).map((j) => [j.callKey, j.claims])).toEqual([['agent:0', 3]]);
    // Fencing: only the current holder stores an outcome.
    const [job] = await store.jobs.listByRun('r');
    expect(await store.jobs.complete(job?.id as number, 't1', { ok: true, text: 'stale' }, 2000)).toBe(false);
    expect(await store.jobs.complete(job?.id as number, job?.lease?.token as string, { ok: true, text: 'fresh' }, 2000)).toBe(true);
    expect(await store.jobs.get(job?.id as number)).toMatchObject({
      status: 'finished',
      outcome: { ok: true, text: 'fresh' },
      lease: null,
    });
    // A call with a finished job is not enqueued again; a cancelled one is.
    expect(
      (await store.jobs.enqueue({ runId: 'r', callKey: 'agent:0', pool: 'workers', labels: [], backend: 'builtin', request: {} }, 3))
        .existing,
    ).toBe(true);
    expect(await store.jobs.cancelRun('r', 4)).toBe(4);
    const again = await store.jobs.enqueue(
      { runId: 'r', callKey: 'agent:1', pool: 'workers', labels: [], backend: 'builtin', request: {} },
      5,
    );
    expect(again).toMatchObject({ existing: false, job: { status: 'queued', claims: 2 } });
  });

  it('a secret in a stored value is redacted at the store boundary', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r', dir);
    const key = `sk-ant-api03-${'A'.repeat(93)}AA`;
    await store.recordCalls([call('r', 'agent:s', { result: { leaked: key } })]);
    expect(JSON.stringify(await store.listCalls('r'))).not.toContain(key);
  });
});
