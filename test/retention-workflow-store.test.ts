import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CallRecord, createStore, type Store, type StoredSpan } from '../src/store/index.js';
import { CONTENT_ATTRIBUTES } from '../src/store/retention-types.js';
import { ON_POSTGRES, onCleanup, tempDir, tempStore } from './helpers.js';

// Runs on SQLite and, in the `postgres` project (vitest.config.ts), on PostgreSQL: the retention
// store (content dropping, run deletion, the deletions log) and the workflow store (inventory rows,
// audit log, per-name run summaries) through the Store interface, each answer compared with a
// reference SQLite store given the same writes.

const plain = <T>(x: T): T => (x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T));
const traceIdOf = (runId: string) => createHash('sha256').update(runId).digest('hex').slice(0, 32);
const T0 = 1_700_000_000_000;

async function both(): Promise<{ store: Store; ref: Store; same: <T>(ask: (s: Store) => Promise<T>) => Promise<T> }> {
  const dir = tempDir();
  const { store } = tempStore(dir);
  const ref = createStore(join(dir, 'reference.db'));
  onCleanup(() => ref.close());
  const same = async <T>(ask: (s: Store) => Promise<T>): Promise<T> => {
    const got = await ask(store);
    expect(plain(got)).toEqual(plain(await ask(ref)));
    return got;
  };
  return { store, ref, same };
}

const newRun = (s: Store, id: string, name: string, at: number) =>
  s.createRun(
    {
      id,
      name,
      description: 'a run for a store-level test',
      scriptPath: `/work/${name}.js`,
      scriptSource: 'return await agent("x")',
      scriptHash: 'h',
      scriptForm: 'claude-code',
      args: { file: 'a.ts' },
      settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
      fromRunId: null,
    },
    at,
  );

const call = (runId: string, key: string, over: Partial<CallRecord> = {}): CallRecord => ({
  runId,
  key,
  kind: 'agent',
  label: `label-${key}`,
  phase: 'p1',
  status: 'finished',
  inputs: { prompt: `the prompt of ${key}` },
  result: { answer: `the answer of ${key}` },
  error: null,
  attempts: 1,
  startedAt: T0,
  finishedAt: T0 + 10,
  reusedFrom: null,
  ...over,
});

function spansOf(runId: string): StoredSpan[] {
  const traceId = traceIdOf(runId);
  const span = (i: number, attributes: StoredSpan['attributes'], own = true): StoredSpan => ({
    traceId,
    spanId: `${runId.length.toString(16)}${i}`.padStart(16, '0'),
    parentSpanId: i === 0 ? null : `${runId.length.toString(16)}0`.padStart(16, '0'),
    name: `span ${i}`,
    kind: 1,
    startUs: T0 * 1000 + i,
    endUs: T0 * 1000 + i + 50,
    statusCode: 2,
    statusMessage: `failed: the prompt of ${runId}`,
    service: 'drover',
    scope: own ? 'drover' : 'received',
    attributes,
    resource: { 'service.name': 'drover' },
    events: [{ timeUs: T0 * 1000 + i, name: 'gen_ai.content', attributes: { text: 'the answer' } }],
    runId: own ? runId : null,
  });
  return [
    span(0, { 'gen_ai.operation.name': 'invoke_workflow', 'drover.run.id': runId }),
    span(1, {
      z: 1,
      'gen_ai.input.messages': 'the prompt \u0000 text',
      a: 'kept',
      'gen_ai.output.messages': 'the answer',
      'drover.cost.usd': 0.25,
      'drover.sh.command': 'rm -rf /tmp/x',
    }),
    // A span a child process sent, without the run's id: removed with the run's trace.
    span(2, { 'gen_ai.system_instructions': 'be brief', 'http.route': '/x' }, false),
  ];
}

/** The same writes on both stores: three runs with calls (one failed), usage, spans, events and an answered question. */
async function seed(s: Store, runIds: string[]) {
  for (const [i, id] of runIds.entries()) {
    await newRun(s, id, 'wf', T0 + i);
    await s.recordCalls(
      [
        call(id, 'agent:a'),
        call(id, 'agent:b', { status: 'failed', result: null, error: { code: 'E_TOOL', message: 'bad \u0000 output of the prompt' } }),
      ],
      [
        {
          runId: id,
          callKey: 'agent:a',
          requestId: `req-${id}`,
          model: 'claude-sonnet-4-5',
          inputTokens: 100,
          outputTokens: 10,
          cacheReadTokens: 0,
          cacheWrite5mTokens: 0,
          cacheWrite1hTokens: 0,
          stopReason: 'end_turn',
          createdAt: T0,
        },
      ],
      spansOf(id),
    );
    await s.appendEvents([
      { runId: id, ts: T0, type: 'log', data: { message: 'a log line' } },
      { runId: id, ts: T0 + 1, type: 'phase', data: { title: 'p1' } },
    ]);
    await s.createQuestion({
      id: 'q1',
      runId: id,
      callKey: 'ask:q1',
      question: 'which file?',
      choices: ['a', 'b'],
      status: 'pending',
      answer: null,
      createdAt: T0,
      answeredAt: null,
    });
    await s.answerQuestion(id, 'q1', 'a', T0 + 2);
    await s.updateRun(
      id,
      { status: 'failed', error: { code: 'E_RUN', message: 'the run failed on the prompt' }, finishedAt: T0 + 3 },
      T0 + 3,
    );
  }
}

/** What a run looks like through the Store interface (calls sorted: their order is not part of the interface). */
const view = async (s: Store, id: string) => ({
  run: await s.getRun(id),
  calls: (await s.listCalls(id)).sort((a, b) => a.key.localeCompare(b.key)),
  spans: await s.spans.querySpans({ traceId: traceIdOf(id) }),
  events: await s.listEvents(id),
  questions: await s.listQuestions(id),
  usage: await s.listUsage(id),
  dropped: await s.retention.contentDroppedAt(id),
});

describe(`retention store (${ON_POSTGRES ? 'postgres' : 'sqlite'})`, () => {
  it('drops content (keeping the rest in order), counts and deletes runs with their traces, keeps ledger figures, and logs each deletion', async () => {
    const { store, ref, same } = await both();
    const ids = ['run-drop', 'run-delete', 'run-busy'];
    for (const s of [store, ref]) await seed(s, ids);
    await same((s) => s.retention.runs());

    const dropped = await same((s) => s.retention.dropContent('run-drop', T0 + 100, 'tester', traceIdOf));
    // Calls: two agents and the answered question's call.
    expect(dropped).toMatchObject({ calls: 3, spans: 3, events: 1, questions: 1 });
    const after = await same((s) => view(s, 'run-drop'));
    expect(after.dropped).toBe(T0 + 100);
    expect(after.run).toMatchObject({ result: null, error: { code: 'E_RUN', message: '(removed by retention)' } });
    expect(after.calls.map((c) => [c.inputs, c.result, c.error])).toEqual([
      [null, null, null],
      [null, null, { code: 'E_TOOL', message: '(removed by retention)' }],
      [null, null, null],
    ]);
    for (const [k, sp] of after.spans.entries()) {
      const before = spansOf('run-drop')[k] as StoredSpan;
      const kept = Object.keys(before.attributes).filter((a) => !(CONTENT_ATTRIBUTES as readonly string[]).includes(a));
      expect(Object.keys(sp.attributes)).toEqual(kept);
      expect([sp.events, sp.statusMessage]).toEqual([[], null]);
    }
    expect(after.events.map((e) => e.type)).toEqual(['phase']);
    expect(after.questions[0]).toMatchObject({ question: '(removed by retention)', choices: null, answer: '(removed by retention)' });
    // The other runs are untouched.
    const untouched = await same((s) => view(s, 'run-delete'));
    expect(untouched.spans.map((sp) => Object.keys(sp.attributes).length)).toEqual(
      spansOf('run-delete').map((sp) => Object.keys(sp.attributes).length),
    );

    const dry = await same((s) =>
      s.retention.deleteRun('run-delete', { now: T0 + 200, actor: 'tester', kind: 'delete', traceIdOf, dryRun: true }),
    );
    expect(dry).toMatchObject({ runs: 1, calls: 3, spans: 3, events: 2, questions: 1, ledgerAnonymised: 1 });
    expect((await store.getRun('run-delete'))?.id).toBe('run-delete');
    const removed = await same((s) => s.retention.deleteRun('run-delete', { now: T0 + 200, actor: 'tester', kind: 'gc-run', traceIdOf }));
    expect(removed).toEqual({ ...dry, transcripts: 0 });
    const gone = await same((s) => view(s, 'run-delete'));
    expect([gone.run, gone.calls, gone.spans, gone.events, gone.questions]).toEqual([undefined, [], [], [], []]);
    expect(gone.usage.map((u) => [u.callKey, u.requestId, u.inputTokens])).toEqual([[null, null, 100]]);

    // A live lease refuses both changes and changes nothing; an unknown run is NOT_FOUND.
    for (const s of [store, ref]) {
      const lease = await s.acquireRunLease({
        runId: 'run-busy',
        holder: { token: 'tok', pid: process.pid, host: hostname() },
        ttlMs: 1000,
        now: T0 + 300,
        isHolderGone: () => false,
      });
      expect(lease.acquired).toBe(true);
      await expect(s.retention.dropContent('run-busy', T0 + 300, 'tester', traceIdOf)).rejects.toMatchObject({ code: 'RUN_BUSY' });
      await expect(s.retention.deleteRun('run-busy', { now: T0 + 300, actor: 'tester', kind: 'delete', traceIdOf })).rejects.toMatchObject({
        code: 'RUN_BUSY',
      });
      await expect(s.retention.deleteRun('nope', { now: T0, actor: 'tester', kind: 'delete', traceIdOf })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    }
    expect((await same((s) => view(s, 'run-busy'))).dropped).toBeNull();
    // Prune (Store.deleteRuns) skips the leased run, then removes it once the lease has expired.
    expect(await same((s) => s.deleteRuns(['run-busy'], T0 + 300, traceIdOf, 'pruner'))).toMatchObject({ runs: [], skipped: ['run-busy'] });
    expect(await same((s) => s.deleteRuns(['run-busy', 'nope'], T0 + 5000, traceIdOf, 'pruner'))).toMatchObject({
      runs: ['run-busy'],
      spans: 3,
    });

    const log = await same((s) => s.retention.deletions());
    expect(log.map((d) => [d.runId, d.kind, d.actor])).toEqual([
      ['run-busy', 'prune', 'pruner'],
      ['run-delete', 'gc-run', 'tester'],
      ['run-drop', 'gc-content', 'tester'],
    ]);
    expect(log[1]?.counts).toEqual(removed);
    await same((s) => s.retention.deletions(1));
    await same((s) => s.retention.runs());
  });
});

describe(`workflow store (${ON_POSTGRES ? 'postgres' : 'sqlite'})`, () => {
  it('summaries per name (statuses, policy denials, latest run), completed runs newest first, rows and the audit log', async () => {
    const { store, ref, same } = await both();
    const statuses = ['completed', 'failed', 'completed', 'running', 'budget_exceeded', 'completed', 'waiting', 'stopped'] as const;
    for (const s of [store, ref]) {
      for (const [i, status] of statuses.entries()) {
        // Names in an order byte order and dictionary order disagree on; two runs share a creation time.
        const name = ['beta', 'Alpha', 'alpha-2', 'beta'][i % 4] as string;
        const id = `run-${String.fromCharCode(104 - i)}`;
        await newRun(s, id, name, T0 + Math.min(i, 5));
        await s.updateRun(id, { status }, T0 + 10);
        await s.appendEvents([
          // Only `kind: "deny"` counts, not a policy event that merely mentions a deny.
          {
            runId: id,
            ts: T0,
            type: 'policy',
            data: { kind: i % 2 ? 'deny' : 'approval', command: `rm \u0000 -rf ${i}`, overrides: 'deny' },
          },
          { runId: id, ts: T0, type: 'log', data: { kind: 'deny' } },
        ]);
      }
    }
    const summaries = await same((s) => s.workflows.summaries());
    expect(summaries.map((w) => w.name)).toEqual(['Alpha', 'alpha-2', 'beta']);
    const beta = summaries.find((w) => w.name === 'beta');
    expect(beta).toMatchObject({ runs: 4, completed: 1, failed: 2, open: 1, policyDenials: 2 });
    expect(summaries.find((w) => w.name === 'Alpha')).toMatchObject({ runs: 2, completed: 1, failed: 1, open: 0, policyDenials: 2 });
    for (const name of ['beta', 'Alpha', 'alpha-2', 'none']) {
      await same((s) => s.workflows.completedRuns(name, 10));
      await same((s) => s.workflows.completedRuns(name, 1));
    }

    expect(await same((s) => s.workflows.get('beta'))).toBeUndefined();
    await same((s) => s.workflows.attach('beta', { specPath: '/specs/beta.yaml' }, T0 + 20, 'ann'));
    const attached = await same((s) => s.workflows.attach('beta', { goldenPath: '/golden/beta.json' }, T0 + 21, 'ann'));
    expect(attached).toMatchObject({ specPath: '/specs/beta.yaml', goldenPath: '/golden/beta.json', tier: null });
    await same((s) => s.workflows.refused('Alpha', { from: null, to: 'internal', missing: ['owner'] }, T0 + 22, 'bob'));
    const promoted = await same((s) => s.workflows.promote('Alpha', { tier: 'internal', owner: 'me', from: 'personal' }, T0 + 23, 'bob'));
    expect(promoted).toMatchObject({ tier: 'internal', owner: 'me', promotedAt: T0 + 23, promotedBy: 'bob', specPath: null });
    await same((s) => s.workflows.promote('beta', { tier: 'team-beta', owner: 'ann', from: 'personal' }, T0 + 24, 'ann'));
    expect((await same((s) => s.workflows.list())).map((w) => w.name)).toEqual(['Alpha', 'beta']);
    expect((await same((s) => s.workflows.events())).map((e) => [e.name, e.kind])).toEqual([
      ['beta', 'attach'],
      ['beta', 'attach'],
      ['Alpha', 'refused'],
      ['Alpha', 'promote'],
      ['beta', 'promote'],
    ]);
    await same((s) => s.workflows.events('beta'));
    expect(await same((s) => s.workflows.get('beta'))).toMatchObject({ tier: 'team-beta', specPath: '/specs/beta.yaml' });
  });
});
