import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type LedgerEntry, priceOf, pricesProblem, priceUsage, type TokenUsage, worstCaseUsd } from '../src/budget/index.js';
import type { GatewayMode } from '../src/budget/ledger-types.js';
import { formatUsd } from '../src/budget/reports.js';
import { type CallRecord, createStore, type UsageRecord } from '../src/store/index.js';
import { describeRun } from '../src/workflow/inspect.js';
import { bareRun, ROOT, tempDir, tempStore } from './helpers.js';

const usage = (u: Partial<TokenUsage>): TokenUsage => ({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  serverToolUses: {},
  ...u,
});

describe('prices as data', () => {
  it('matches exact ids and listed dated aliases only, never a prefix', () => {
    expect(priceOf('claude-opus-4-1')).toMatchObject({ input: 15, output: 75, cacheWrite5m: 18.75, cacheWrite1h: 30, cacheRead: 1.5 });
    expect(priceOf('claude-opus-4-1-20250805')).toBe(priceOf('claude-opus-4-1'));
    expect(priceOf('claude-opus-4-20250514')).toMatchObject({ input: 15, output: 75 });
    expect(priceOf('claude-opus-4-5')).toMatchObject({ input: 5, output: 25 });
    expect(priceOf('claude-sonnet-4-5[1m]')).toBe(priceOf('claude-sonnet-4-5'));
    for (const guess of ['claude-opus-4', 'claude-opus-4-1-preview', 'claude-sonnet', 'gpt-5-turbo', 'gpt-5.5-pro', 'gpt']) {
      expect(priceOf(guess), guess).toBeUndefined();
    }
  });

  it("reproduces Claude Code's 0.006345 USD; an unknown model or server tool is unpriced, never $0", () => {
    expect(priceUsage('claude-opus-4-8', usage({ inputTokens: 1234, outputTokens: 7 })).costUsd).toBeCloseTo(0.006345, 12);
    expect(priceUsage('my-local-model', usage({ inputTokens: 10, outputTokens: 1 }))).toEqual({ costUsd: null, priceFlag: 'unpriced' });
    expect([0.3, 0.05, 0.006345, 0.0000125, 12.5, 0, null].map(formatUsd)).toEqual([
      '$0.30',
      '$0.05',
      '$0.006345',
      '$0.0000125',
      '$12.50',
      '$0',
      'unpriced',
    ]);
    // A request that used nothing (refused before it was sent, a body with no model) cost nothing, whatever its model.
    expect(priceUsage('my-local-model', usage({}))).toEqual({ costUsd: 0, priceFlag: 'priced' });
    expect(priceUsage('', usage({}))).toEqual({ costUsd: 0, priceFlag: 'priced' });
    expect(priceUsage('my-local-model', usage({ serverToolUses: { web_search_requests: 1 } }))).toEqual({
      costUsd: null,
      priceFlag: 'unpriced',
    });
    expect(priceUsage('claude-opus-4-8', usage({ outputTokens: 1, serverToolUses: { code_execution_hours: 1 } }))).toEqual({
      costUsd: null,
      priceFlag: 'unpriced',
    });
    // web fetch is billed in tokens only
    expect(priceUsage('claude-opus-4-8', usage({ outputTokens: 1000, serverToolUses: { web_fetch_requests: 2 } })).costUsd).toBeCloseTo(
      0.025,
      12,
    );
  });

  it('overrides replace the sheet for that exact id and price models it lacks', () => {
    const overrides = { 'my-local-model': { input: 0.5, output: 1 }, 'claude-opus-4-8': { input: 1, output: 2, cacheRead: 0 } };
    expect(priceUsage('my-local-model', usage({ inputTokens: 2_000_000, outputTokens: 1_000_000 }), overrides).costUsd).toBeCloseTo(2, 12);
    // unset cache rates default to Anthropic's multipliers of the override's input (1.25x, 2x)
    expect(
      priceUsage(
        'claude-opus-4-8',
        usage({ cacheReadTokens: 1_000_000, cacheWrite5mTokens: 1_000_000, cacheWrite1hTokens: 1_000_000 }),
        overrides,
      ).costUsd,
    ).toBeCloseTo(0 + 1.25 + 2, 12);
    expect(priceUsage('claude-opus-4-5', usage({ inputTokens: 1_000_000 }), overrides).costUsd).toBeCloseTo(5, 12);
  });

  it('config prices are checked one problem at a time, naming the path', () => {
    expect(pricesProblem({ m: { input: 1, output: 2, longContext: { aboveInputTokens: 1000, input: 2, output: 4 } } })).toBeUndefined();
    expect(pricesProblem([])).toEqual(['prices', expect.stringMatching(/expected an object/)]);
    expect(pricesProblem({ m: { input: 1 } })).toEqual(['prices.m.output', 'required: USD per million tokens']);
    expect(pricesProblem({ m: { input: -1, output: 1 } })).toEqual(['prices.m.input', expect.stringMatching(/number ≥ 0/)]);
    expect(pricesProblem({ m: { input: 1, output: 1, cacheRaed: 1 } })?.[0]).toBe('prices.m.cacheRaed');
    expect(pricesProblem({ m: { input: 1, output: 1, provider: 'google' } })?.[0]).toBe('prices.m.provider');
    expect(pricesProblem({ m: { input: 1, output: 1, longContext: { input: 2, output: 4 } } })?.[0]).toBe(
      'prices.m.longContext.aboveInputTokens',
    );
    expect(pricesProblem({ m: { input: 1, output: 1, perUse: { web_search_requests: 'a dime' } } })?.[0]).toBe(
      'prices.m.perUse.web_search_requests',
    );
  });

  it('worstCaseUsd: input at the highest input-side rate (1h cache write; long-context tier above its threshold) + maxTokens of output', () => {
    // Sonnet 4.5: 1h write 6/MTok, output 15/MTok
    expect(worstCaseUsd('claude-sonnet-4-5', 1000, 500)).toBeCloseTo(1000 * 6e-6 + 500 * 15e-6, 12);
    // above 200k input tokens: 1h write 12/MTok, output 22.5/MTok
    expect(worstCaseUsd('claude-sonnet-4-5-20250929', 250_000, 1000)).toBeCloseTo(250_000 * 12e-6 + 1000 * 22.5e-6, 12);
    // OpenAI has no cache-write class: input at the input rate
    expect(worstCaseUsd('gpt-5', 1000, 100)).toBeCloseTo(1000 * 1.25e-6 + 100 * 10e-6, 12);
    expect(worstCaseUsd('no-such-model', 1000, 100)).toBeNull();
  });
});

const agentCall = (runId: string, key: string, label: string, phase: string): CallRecord => ({
  runId,
  key,
  kind: 'agent',
  label,
  phase,
  status: 'finished',
  inputs: { prompt: 'x' },
  result: 'ok',
  error: null,
  attempts: 1,
  startedAt: 1,
  finishedAt: 2,
  reusedFrom: null,
});

const reported = (runId: string, callKey: string, model: string, inputTokens: number, outputTokens: number): UsageRecord => ({
  runId,
  callKey,
  requestId: null,
  model,
  inputTokens,
  outputTokens,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  stopReason: 'end_turn',
  createdAt: 1000,
});

describe('the ledger is the store table for usage', () => {
  it("recordCalls' usage rows land in the ledger: reported, priced, with the call's label and phase and the run's workflow", async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r1', dir);
    await store.recordCalls(
      [agentCall('r1', 'agent:a', 'planner', 'plan')],
      [reported('r1', 'agent:a', 'claude-opus-4-1', 1000, 100), reported('r1', 'agent:a', 'mystery-model', 10, 1)],
    );
    const rows = await store.ledger.listByRun('r1');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      mode: 'reported',
      provider: 'anthropic',
      agentLabel: 'planner',
      phase: 'plan',
      workflow: 'r1',
      status: 200,
      priceFlag: 'priced',
    });
    expect(rows[0]?.costUsd).toBeCloseTo(1000 * 15e-6 + 100 * 75e-6, 12);
    expect(rows[1]).toMatchObject({ priceFlag: 'unpriced', costUsd: null, provider: 'openai' });
    const totals = await store.usageTotals('r1');
    expect(totals).toMatchObject({ requests: 2, inputTokens: 1010, outputTokens: 101, unpricedRequests: 1 });
    expect(totals.costUsd).toBeCloseTo(0.0225, 12);
    expect((await store.listUsage('r1')).map((u) => u.model)).toEqual(['claude-opus-4-1', 'mystery-model']);
    const agent = (await describeRun(store, 'r1')).agents[0];
    expect(agent?.label).toBe('planner');
    expect(agent?.costUsd).toBeCloseTo(0.0225, 12);
    await store.close();
  });

  it("a rekey moves the call's ledger rows (gateway-written ones too); deleteRuns keeps the run's rows' figures, names cleared, and logs it", async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    await bareRun(store, 'r1', dir);
    await bareRun(store, 'r2', dir);
    await store.recordCalls([agentCall('r1', 'agent:old', 'a', 'p')], [reported('r1', 'agent:old', 'claude-haiku-4-5', 5, 5)]);
    const gw = (await store.ledger.listByRun('r1'))[0];
    if (!gw) throw new Error('no row');
    await store.ledger.record({ ...gw, id: undefined, mode: 'proxy', requestId: 'msg_1' });
    await store.ledger.record({ ...gw, id: undefined, runId: 'r2', mode: 'proxy', requestId: 'msg_2' });
    await store.recordCalls([agentCall('r1', 'agent:new', 'a', 'p')], [], [], [{ from: 'agent:old', to: 'agent:new' }]);
    expect((await store.ledger.listByRun('r1')).map((r) => r.callKey)).toEqual(['agent:new', 'agent:new']);
    expect([...(await store.usageByCall('r1')).keys()]).toEqual(['agent:new']);

    const removed = await store.deleteRuns(['r1'], Date.now(), undefined, 'pat');
    expect(removed.usage).toBe(2);
    // Figures kept (spend stays counted), names cleared; the other run's rows untouched.
    expect((await store.ledger.listByRun('r1')).map((r) => [r.callKey, r.agentLabel, r.costUsd === gw.costUsd])).toEqual([
      [null, null, true],
      [null, null, true],
    ]);
    expect(await store.ledger.listByRun('r2')).toHaveLength(1);
    expect((await store.retention.deletions()).map((d) => [d.runId, d.kind, d.actor])).toEqual([['r1', 'prune', 'pat']]);
    await store.close();
  });

  it('a store priced with config overrides prices reported rows with them', async () => {
    const dir = tempDir();
    const store = createStore(join(dir, 'drover.db'), { prices: { 'mystery-model': { input: 1, output: 2 } } });
    await bareRun(store, 'r1', dir);
    await store.recordCalls([agentCall('r1', 'agent:a', 'a', 'p')], [reported('r1', 'agent:a', 'mystery-model', 1_000_000, 500_000)]);
    expect((await store.ledger.listByRun('r1'))[0]).toMatchObject({ priceFlag: 'priced', costUsd: 2 });
    await store.close();
  });

  it('a v4 store (legacy fixture) migrates: usage rows move into the ledger, priced, same totals; the usage table is gone', async () => {
    const path = join(tempDir(), 'legacy.db');
    copyFileSync(join(ROOT, 'test', 'fixtures', 'legacy', 'legacy-v4.db'), path);
    const raw = new Database(path, { readonly: true });
    const before = raw.prepare('SELECT * FROM usage ORDER BY id').all() as {
      run_id: string;
      call_key: string;
      model: string;
      input_tokens: number;
      output_tokens: number;
      request_id: string;
    }[];
    raw.close();
    expect(before.length).toBeGreaterThan(0);
    const runId = before[0]?.run_id as string;

    const store = createStore(path);
    const rows = await store.ledger.listByRun(runId);
    expect(rows.map((r) => [r.callKey, r.requestId, r.model, r.inputTokens, r.outputTokens])).toEqual(
      before.map((u) => [u.call_key, u.request_id, u.model, u.input_tokens, u.output_tokens]),
    );
    for (const r of rows) {
      expect(r).toMatchObject({ mode: 'reported', priceFlag: 'priced', workflow: 'legacy' });
      expect(r.agentLabel).toMatch(/^p\d$/);
      // claude-sonnet-5: 2 / 10 USD per million tokens
      expect(r.costUsd).toBeCloseTo(r.inputTokens * 2e-6 + r.outputTokens * 10e-6, 12);
    }
    const totals = await store.usageTotals(runId);
    expect(totals.requests).toBe(before.length);
    expect(totals.inputTokens).toBe(before.reduce((n, u) => n + u.input_tokens, 0));
    expect(totals.outputTokens).toBe(before.reduce((n, u) => n + u.output_tokens, 0));
    await store.close();
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'usage'").get()).toEqual({ n: 0 });
    after.close();
  });
});

const row = (over: Partial<LedgerEntry>): LedgerEntry => ({
  runId: 'r1',
  callKey: null,
  agentLabel: null,
  phase: null,
  workflow: null,
  session: null,
  provider: 'anthropic',
  wire: 'anthropic',
  mode: 'proxy',
  model: 'claude-sonnet-5',
  requestId: null,
  status: 200,
  stopReason: 'end_turn',
  inputTokens: 1,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 1,
  reasoningTokens: 0,
  serverToolUses: {},
  costUsd: 0.25,
  priceFlag: 'priced',
  startedAt: 0,
  endedAt: 0,
  ttfbMs: null,
  ...over,
});

describe('ledger sums (the same figures, groups and order on every store)', () => {
  // Around the UTC midnight that starts 2026-12-01.
  const midnight = Date.UTC(2026, 11, 1);

  it('sumsInWindow: UTC days from epoch ms, [since, until), keys in byte order with the rows that have none first', async () => {
    const { store } = tempStore();
    await Promise.all([
      store.ledger.record(row({ workflow: 'a', endedAt: midnight - 1, inputTokens: 3, cacheReadTokens: 2, costUsd: 0.5 })),
      store.ledger.record(
        row({ workflow: 'B', endedAt: midnight, outputTokens: 7, reasoningTokens: 4, costUsd: null, priceFlag: 'unpriced' }),
      ),
      store.ledger.record(row({ workflow: null, endedAt: midnight + 999, cacheWrite5mTokens: 5, cacheWrite1hTokens: 6 })),
      store.ledger.record(row({ workflow: 'a', endedAt: midnight + 1000, model: 'gpt-5', priceFlag: 'estimated', costUsd: 0.125 })),
      // Outside the window on either side.
      store.ledger.record(row({ workflow: 'a', endedAt: midnight - 86_400_001 })),
      store.ledger.record(row({ workflow: 'a', endedAt: midnight + 86_400_000 })),
    ]);
    const window = { since: midnight - 86_400_000, until: midnight + 86_400_000 };
    const byDay = await store.ledger.sumsInWindow(window, 'day');
    expect(byDay).toEqual([
      {
        key: '2026-11-30',
        label: '2026-11-30',
        requests: 1,
        inputTokens: 3,
        cacheReadTokens: 2,
        cacheWrite5mTokens: 0,
        cacheWrite1hTokens: 0,
        outputTokens: 1,
        reasoningTokens: 0,
        costUsd: 0.5,
        unpricedRequests: 0,
        estimatedRequests: 0,
        refusedRequests: 0,
      },
      {
        key: '2026-12-01',
        label: '2026-12-01',
        requests: 3,
        inputTokens: 3,
        cacheReadTokens: 0,
        cacheWrite5mTokens: 5,
        cacheWrite1hTokens: 6,
        outputTokens: 9,
        reasoningTokens: 4,
        costUsd: 0.375,
        unpricedRequests: 1,
        estimatedRequests: 1,
        refusedRequests: 0,
      },
    ]);
    // Byte order: 'B' (0x42) before 'a' (0x61), whatever the database's locale; no workflow first.
    const byWorkflow = await store.ledger.sumsInWindow(window, 'workflow');
    expect(byWorkflow.map((g) => [g.key, g.label, g.requests, g.costUsd])).toEqual([
      [null, null, 1, 0.25],
      ['B', 'B', 1, null],
      ['a', 'a', 2, 0.625],
    ]);
    const byModel = await store.ledger.sumsInWindow(window, 'model');
    expect(byModel.map((g) => [g.key, g.requests, g.estimatedRequests])).toEqual([
      ['claude-sonnet-5', 3, 0],
      ['gpt-5', 1, 1],
    ]);
    expect(await store.ledger.sumsInWindow({ since: midnight, until: midnight }, 'day')).toEqual([]);
  });

  it('requests the gateway refused before sending them are counted apart, and read back with their kind', async () => {
    const { store } = tempStore();
    const refused = { status: 402, outputTokens: 0, costUsd: 0 } as const;
    await store.ledger.record(row({ endedAt: midnight, costUsd: 0.5 }));
    await store.ledger.record(row({ endedAt: midnight, ...refused, refusedBy: 'budget' }));
    await store.ledger.record(row({ endedAt: midnight, ...refused, status: 403, refusedBy: 'policy' }));
    // The provider's own 403 is a request that was sent: not a refusal.
    await store.ledger.record(row({ endedAt: midnight, ...refused, status: 403 }));
    const rows = await store.ledger.listByRun('r1');
    expect(rows.map((r) => [r.status, r.refusedBy])).toEqual([
      [200, null],
      [402, 'budget'],
      [403, 'policy'],
      [403, null],
    ]);
    const [byModel] = await store.ledger.sumsByRun('r1', 'model');
    expect(byModel).toMatchObject({ requests: 4, refusedRequests: 2, costUsd: 0.5 });
    const [byDay] = await store.ledger.sumsInWindow({ since: midnight, until: midnight + 1 }, 'day');
    expect(byDay).toMatchObject({ requests: 4, refusedRequests: 2 });
  });

  it('sumsInWindow with modes: only rows written in those gateway modes', async () => {
    const { store } = tempStore();
    for (const mode of ['proxy', 'record', 'replay', 'sim', 'sim'] as const) {
      await store.ledger.record(row({ mode, workflow: mode, endedAt: midnight, costUsd: 1 }));
    }
    const window = { since: midnight, until: midnight + 1 };
    const keys = async (modes?: readonly GatewayMode[]) =>
      (await store.ledger.sumsInWindow(modes ? { ...window, modes } : window, 'workflow')).map((g) => [g.key, g.requests]);
    expect(await keys(['proxy', 'record'])).toEqual([
      ['proxy', 1],
      ['record', 1],
    ]);
    expect(await keys(['sim'])).toEqual([['sim', 2]]);
    expect(await keys([])).toEqual([]);
    expect(await keys()).toHaveLength(4);
  });

  it('sumsByRun: groups in the order their first row was recorded, a null phase a group of its own', async () => {
    const { store } = tempStore();
    for (const r of [
      row({ phase: 'build', callKey: 'agent:b', agentLabel: 'builder', costUsd: 0.5 }),
      row({ phase: null, callKey: 'agent:a', agentLabel: 'asker' }),
      row({ phase: 'build', callKey: 'agent:b', agentLabel: 'builder', outputTokens: 9, costUsd: null, priceFlag: 'unpriced' }),
      row({ phase: 'aaa', callKey: 'agent:c', agentLabel: 'checker', model: 'gpt-5' }),
      row({ runId: 'r2', phase: 'other' }),
    ]) {
      await store.ledger.record(r);
    }
    const byPhase = await store.ledger.sumsByRun('r1', 'phase');
    expect(byPhase.map((g) => [g.key, g.label, g.requests, g.outputTokens, g.costUsd, g.unpricedRequests])).toEqual([
      ['build', 'build', 2, 10, 0.5, 1],
      [null, null, 1, 1, 0.25, 0],
      ['aaa', 'aaa', 1, 1, 0.25, 0],
    ]);
    const byAgent = await store.ledger.sumsByRun('r1', 'agent');
    expect(byAgent.map((g) => [g.key, g.label, g.requests])).toEqual([
      ['agent:b', 'builder', 2],
      ['agent:a', 'asker', 1],
      ['agent:c', 'checker', 1],
    ]);
    const byModel = await store.ledger.sumsByRun('r1', 'model');
    expect(byModel.map((g) => [g.key, g.requests])).toEqual([
      ['claude-sonnet-5', 3],
      ['gpt-5', 1],
    ]);
    expect(await store.ledger.sumsByRun('nope', 'phase')).toEqual([]);
  });

  it('USD sums are compensated as SQLite sums them, to the last bit: 0.1 + 0.2 + 0.3 is 0.6 (plain addition: 0.6000000000000001)', async () => {
    const { store } = tempStore();
    for (const costUsd of [0.1, 0.2, 0.3]) await store.ledger.record(row({ runId: 'r3', workflow: 'w', costUsd, endedAt: 5 }));
    expect(0.1 + 0.2 + 0.3).not.toBe(0.6);
    expect((await store.ledger.sumsByRun('r3', 'model'))[0]?.costUsd).toBe(0.6);
    expect((await store.ledger.sumsInWindow({ since: 0, until: 10 }, 'workflow'))[0]?.costUsd).toBe(0.6);
  });
});
