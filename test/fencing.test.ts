import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/core/index.js';
import type { CallRecord, Store } from '../src/store/index.js';
import { bareRun, ccScript, gateway, spawnCli, tempDir, tempStore, waitFor } from './helpers.js';

const take = (store: Store, runId: string, token: string) =>
  store.acquireRunLease({
    runId,
    holder: { token, pid: process.pid, host: hostname() },
    ttlMs: 60_000,
    now: Date.now(),
    isHolderGone: () => true,
  });

const call = (runId: string, key: string, result: string): CallRecord => ({
  runId,
  key,
  kind: 'agent',
  label: key,
  phase: null,
  status: 'finished',
  inputs: {},
  result,
  error: null,
  attempts: 1,
  startedAt: 1,
  finishedAt: 2,
  reusedFrom: null,
});

describe('a driver that lost its lease can never write again (fencing)', () => {
  it('every fenced write path is refused in its transaction once another token holds the run', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r1', dir);
    await take(store, 'r1', 'old');
    const old = { runId: 'r1', token: 'old' };
    await store.recordCalls([call('r1', 'agent:a', 'first')], [], [], [], old);
    await take(store, 'r1', 'new');
    const usage = {
      runId: 'r1',
      callKey: 'agent:a',
      requestId: null,
      model: 'm',
      inputTokens: 1,
      outputTokens: 1,
      cacheReadTokens: 0,
      cacheWrite5mTokens: 0,
      cacheWrite1hTokens: 0,
      stopReason: null,
      createdAt: 3,
    };
    await expect(store.recordCalls([call('r1', 'agent:a', 'stale')], [usage], [], [], old)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.updateRun('r1', { status: 'completed' }, Date.now(), old)).rejects.toMatchObject({
      code: 'LEASE_LOST',
      exitCode: 5,
    });
    await expect(store.appendEvents([{ runId: 'r1', ts: 1, type: 'log', data: { message: 'stale' } }], old)).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    await expect(
      store.createQuestion(
        {
          id: 'q',
          runId: 'r1',
          callKey: 'ask:x',
          question: '?',
          choices: null,
          status: 'pending',
          answer: null,
          createdAt: 1,
          answeredAt: null,
        },
        old,
      ),
    ).rejects.toBeInstanceOf(LeaseLostError);
    // Nothing of the stale writes landed; the new holder writes as usual.
    expect((await store.listCalls('r1')).map((c) => c.result)).toEqual(['first']);
    expect((await store.usageTotals('r1')).requests).toBe(0);
    expect(await store.listEvents('r1')).toEqual([]);
    expect(await store.listQuestions('r1')).toEqual([]);
    await store.recordCalls([call('r1', 'agent:a', 'new')], [], [], [], { runId: 'r1', token: 'new' });
    expect((await store.listCalls('r1')).map((c) => c.result)).toEqual(['new']);
  });

  it('a driver frozen past its lease wakes up after another finished the run, and stops with LEASE_LOST without overwriting', async () => {
    const dir = tempDir();
    const gw = await gateway(`
rules:
  - match: { prompt: '^(work .*)' }
    hold: work
    turns: [{ text: 'done {{1}}' }]
`);
    // The same store for the test and both drivers (an SQLite file, or a PostgreSQL schema in the postgres project).
    const { store, path: db } = tempStore(dir);
    const script = ccScript(dir, `return parallel([() => agent('work a'), () => agent('work b')]);`);
    const env = { DROVER_LEASE_TTL_MS: '1000' };
    const first = spawnCli(['run', script, '--run-id', 'frozen', '--gateway', gw.url, '--store', db, '--json'], { cwd: dir, env });
    await gw.gates.arrived('work', 2);
    first.kill('SIGSTOP');
    try {
      // The frozen driver cannot renew: wait for its lease to run out (the condition, not a fixed time).
      await waitFor(
        async () => {
          const run = await store.getRun('frozen');
          return run?.lease && run.lease.expiresAt < Date.now() ? true : undefined;
        },
        30_000,
        'the frozen lease to expire',
      );
      gw.gates.open('work');
      const second = await spawnCli(['resume', 'frozen', '--gateway', gw.url, '--store', db, '--json'], { cwd: dir, env }).done;
      expect(second.code).toBe(0);
      const finished = await store.listCalls('frozen');
      expect((await store.getRun('frozen'))?.status).toBe('completed');
      first.kill('SIGCONT');
      const stale = await first.done;
      expect(stale.code).toBe(5);
      expect(stale.stderr).toMatch(/LEASE_LOST|lost the run's lease/);
      expect(await store.listCalls('frozen')).toEqual(finished);
      expect((await store.getRun('frozen'))?.status).toBe('completed');
      // The ledger is what was spent, whoever drove: each request the upstream answered is one row,
      // the stale driver's included (its results were refused; its spend was real).
      expect((await store.usageTotals('frozen')).requests).toBe(gw.stats().byStatus['200']);
      expect(gw.stats().byStatus['200']).toBeGreaterThanOrEqual(2);
    } finally {
      first.kill('SIGCONT');
    }
  });
});
