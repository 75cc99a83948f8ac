import { describe, expect, it } from 'vitest';
import {
  BudgetExceededError,
  budgetRefusalBody,
  type Cap,
  type CapState,
  capsFor,
  createReservationStage,
  isBudgetRefusal,
  type LedgerEntry,
  mergeRunCaps,
  parseTokenAmount,
  parseUsdAmount,
  ReservationEngine,
  takeRefusal,
  type WorstCase,
  worstCaseOf,
} from '../src/budget/index.js';
import type { GatewayRequest } from '../src/gateway/pipeline/types.js';
import { createStore } from '../src/store/index.js';
import { tempStore } from './helpers.js';

const ATTR = { runId: 'r1', callKey: 'k1', agentLabel: null, phase: 'build', workflow: 'wf', session: null };

function entry(costUsd: number | null, over: Partial<LedgerEntry> = {}): LedgerEntry {
  const now = Date.now();
  return {
    ...ATTR,
    provider: 'anthropic',
    wire: 'anthropic',
    mode: 'proxy',
    model: 'claude-sonnet-5',
    requestId: null,
    status: 200,
    stopReason: 'end_turn',
    inputTokens: 10,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 100,
    reasoningTokens: 0,
    serverToolUses: {},
    costUsd,
    priceFlag: costUsd === null ? 'unpriced' : 'priced',
    startedAt: now,
    endedAt: now,
    ttfbMs: 1,
    ...over,
  };
}

const worst = (usd: number | null, outputTokens = 1000, model = 'claude-sonnet-5'): WorstCase => ({
  model,
  inputTokens: 10,
  outputTokens,
  usd,
});
const runCap = (limitUsd: number): Cap => ({ scope: 'run', key: 'r1', limitUsd });

/** An engine whose waits are visible: `waited()` resolves at the next wait. */
function watchedEngine(store: ReturnType<typeof tempStore>['store']) {
  let next: ((s: CapState) => void) | undefined;
  const engine = new ReservationEngine(store, {
    onWait: (s) => {
      next?.(s);
      next = undefined;
    },
  });
  return { engine, waited: () => new Promise<CapState>((r) => (next = r)) };
}

describe('reservation engine', () => {
  it('holds a worst case that fits, makes one that fits only after settlement wait, and refuses one that cannot fit', async () => {
    const { store } = tempStore();
    const { engine, waited } = watchedEngine(store);
    const a = await engine.reserve([runCap(1)], worst(0.6), ATTR);
    expect((await engine.states([runCap(1)]))[0]).toMatchObject({ spentUsd: 0, reservedUsd: 0.6 });
    // 0 spent + 0.6 held + 0.6 > 1, but 0 + 0.6 ≤ 1: B waits for A.
    const wait = waited();
    const b = engine.reserve([runCap(1)], worst(0.6), ATTR);
    expect((await wait).cap).toEqual(runCap(1));
    // A really cost 0.5: now 0.5 + 0.6 > 1 even with nothing held → refused, naming cap, limit and spend.
    await a.settle(entry(0.5));
    const err = await b.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BudgetExceededError);
    const refused = err as BudgetExceededError;
    expect(refused.code).toBe('BUDGET_EXCEEDED');
    expect(refused.cap).toEqual(runCap(1));
    expect(refused.spentUsd).toBeCloseTo(0.5);
    expect(refused.message).toContain('run cap (run r1) is 1 USD; 0.5 USD spent');
    // The refusal is noted for the call, so the runtime can reject agent() with it.
    expect(takeRefusal('r1', 'k1')).toBe(refused);
    // Nothing is held any more; the ledger has A's row (recorded with the settlement).
    expect((await engine.states([runCap(1)]))[0]).toMatchObject({ reservedUsd: 0 });
    expect((await store.ledger.listByRun('r1')).map((e) => e.costUsd)).toEqual([0.5]);
  });

  it('lets the waiting request through when the settled cost leaves room', async () => {
    const { store } = tempStore();
    const { engine, waited } = watchedEngine(store);
    const a = await engine.reserve([runCap(1)], worst(0.6), ATTR);
    const wait = waited();
    const b = engine.reserve([runCap(1)], worst(0.6), ATTR);
    await wait;
    await a.settle(entry(0.3));
    const held = await b;
    expect(held.waits).toBe(1);
    expect((await engine.states([runCap(1)]))[0]).toMatchObject({ spentUsd: 0.3, reservedUsd: 0.6 });
    await held.release();
    expect((await engine.states([runCap(1)]))[0]).toMatchObject({ reservedUsd: 0 });
  });

  it('settles by deleting the hold only when the gateway recorded the row already', async () => {
    const { store } = tempStore();
    const engine = new ReservationEngine(store);
    const h = await engine.reserve([runCap(1)], worst(0.4), ATTR);
    const id = await store.ledger.record(entry(0.2));
    await h.settle({ ...entry(0.2), id });
    expect((await store.ledger.listByRun('r1')).length).toBe(1);
    expect((await engine.states([runCap(1)]))[0]).toMatchObject({ spentUsd: 0.2, reservedUsd: 0 });
  });

  it('refuses a request to an unpriced model under a USD cap, naming the model and how to price it', async () => {
    const { store } = tempStore();
    const engine = new ReservationEngine(store);
    const err = await engine.reserve([runCap(5)], worst(null, 100, 'my-local-llm'), ATTR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect((err as Error).message).toMatch(/model "my-local-llm" has no price.*"prices": \{ "my-local-llm"/);
    // Under a token cap only, an unpriced model is fine: tokens are exact.
    const h = await engine.reserve([{ scope: 'run', key: 'r1', limitTokens: 1000 }], worst(null, 100, 'my-local-llm'), ATTR);
    await h.release();
  });

  it('counts output tokens against a token cap (worst case = max_tokens)', async () => {
    const { store } = tempStore();
    const engine = new ReservationEngine(store);
    const cap: Cap = { scope: 'run', key: 'r1', limitTokens: 1000 };
    await store.ledger.record(entry(0.01, { outputTokens: 700, inputTokens: 50_000 }));
    const h = await engine.reserve([cap], worst(0.01, 300), ATTR);
    await h.release();
    const err = await engine.reserve([cap], worst(0.01, 301), ATTR).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'budget exceeded: run cap (run r1) is 1000 output tokens; 700 spent, and this request may produce up to 301 (its max_tokens)',
    );
  });

  it('sums each scope from the ledger: phase, call, workflow per UTC day, store per UTC day', async () => {
    const { store } = tempStore();
    const engine = new ReservationEngine(store);
    const day = Date.parse('2026-11-30T12:00:00Z');
    const yesterday = Date.parse('2026-11-29T23:59:59Z');
    await store.ledger.record(entry(1, { endedAt: day }));
    await store.ledger.record(entry(2, { endedAt: day, phase: 'test', callKey: 'k2' }));
    await store.ledger.record(entry(4, { endedAt: day, runId: 'r2', workflow: 'other' }));
    await store.ledger.record(entry(8, { endedAt: yesterday }));
    await store.ledger.record(entry(null, { endedAt: day, outputTokens: 5 }));
    const caps: Cap[] = [
      { scope: 'run', key: 'r1', limitUsd: 100 },
      { scope: 'phase', key: 'r1/build', limitUsd: 100 },
      { scope: 'call', key: 'r1/k2', limitUsd: 100 },
      { scope: 'workflow-day', key: 'wf/2026-11-30', limitUsd: 100 },
      { scope: 'store-day', key: '2026-11-30', limitUsd: 100 },
    ];
    const states = await engine.states(caps);
    expect(states.map((s) => s.spentUsd)).toEqual([11, 9, 2, 3, 7]);
    expect(states[0]?.spentTokens).toBe(305);
  });

  it('refuses before spend at each cap level, naming that cap', async () => {
    const { store } = tempStore();
    const engine = new ReservationEngine(store);
    const at = Date.now();
    const day = new Date(at).toISOString().slice(0, 10);
    // 0.9 USD spent by call k1 of run r1, phase build, workflow wf, today.
    await store.ledger.record(entry(0.9, { endedAt: at }));
    const levels: [Cap, string][] = [
      [{ scope: 'run', key: 'r1', limitUsd: 1 }, 'run cap (run r1) is 1 USD'],
      [{ scope: 'phase', key: 'r1/build', limitUsd: 1 }, 'phase cap (r1/build) is 1 USD'],
      [{ scope: 'call', key: 'r1/k1', limitUsd: 1 }, 'per-agent cap (call r1/k1) is 1 USD'],
      [{ scope: 'workflow-day', key: `wf/${day}`, limitUsd: 1 }, `workflow daily cap (wf/${day}, UTC day) is 1 USD`],
      [{ scope: 'store-day', key: day, limitUsd: 1 }, `daily cap of the store (${day}, UTC day) is 1 USD`],
    ];
    for (const [cap, words] of levels) {
      const roomy: Cap = { scope: 'run', key: 'elsewhere', limitUsd: 100 };
      const err = await engine.reserve([roomy, cap], worst(0.2), ATTR).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BudgetExceededError);
      expect((err as BudgetExceededError).cap).toEqual(cap);
      expect((err as Error).message).toContain(`${words}; 0.9 USD spent`);
      // Nothing was held against any cap (all or none).
      expect((await engine.states([roomy]))[0]?.reservedUsd).toBe(0);
      // A request that fits goes through at the same level.
      await (await engine.reserve([roomy, cap], worst(0.1), ATTR)).release();
    }
    // A labelled agent is named by its label, as people know it.
    const labelled = { ...ATTR, agentLabel: 'fix the login bug' };
    const err = await engine.reserve([{ scope: 'call', key: 'r1/k1', limitUsd: 1 }], worst(0.2), labelled).catch((e: unknown) => e);
    expect((err as Error).message).toContain('per-agent cap (agent "fix the login bug", call r1/k1) is 1 USD; 0.9 USD spent');
  });

  it('stops counting the holds of a process that died once their TTL passed', async () => {
    const { store } = tempStore();
    let now = 1_000_000;
    const dead = new ReservationEngine(store, { ttlMs: 60_000, now: () => now });
    await dead.reserve([runCap(1)], worst(0.9), ATTR); // never settled: its process "died"
    const live = new ReservationEngine(store, { ttlMs: 60_000, now: () => now, maxPollMs: 1 });
    expect((await live.states([runCap(1)]))[0]?.reservedUsd).toBeCloseTo(0.9);
    now += 60_001;
    expect((await live.states([runCap(1)]))[0]?.reservedUsd).toBe(0);
    const h = await live.reserve([runCap(1)], worst(0.9), ATTR);
    expect(h.waits).toBe(0);
    expect(await store.reservations.sweep(now)).toBe(1);
  });

  it('with no cap, a hold writes nothing of its own: settling records the row once, releasing does nothing', async () => {
    const { store } = tempStore();
    const calls: string[] = [];
    for (const m of ['holdIf', 'release', 'releaseAndRecord', 'renew'] as const) {
      const real = store.reservations[m].bind(store.reservations) as (...a: unknown[]) => Promise<unknown>;
      (store.reservations as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        calls.push(m);
        return real(...a);
      };
    }
    const engine = new ReservationEngine(store);
    const hold = await engine.reserve([], worst(0.5), ATTR);
    await hold.settle(entry(0.25));
    await hold.settle(entry(0.25));
    await hold.release();
    const recorded = await engine.reserve([], worst(0.5), ATTR);
    await recorded.settle({ ...entry(0.5), id: 99 });
    expect(calls).toEqual([]);
    expect((await store.ledger.listByRun('r1')).map((e) => e.costUsd)).toEqual([0.25]);
  });

  it('daily caps count billed rows only (sim and replay spend nothing); a run cap counts all of its run', async () => {
    const { store } = tempStore();
    const at = Date.now();
    const day = new Date(at).toISOString().slice(0, 10);
    await store.ledger.record(entry(0.5, { endedAt: at, mode: 'sim' }));
    await store.ledger.record(entry(0.25, { endedAt: at, mode: 'replay' }));
    await store.ledger.record(entry(0.125, { endedAt: at, mode: 'proxy' }));
    await store.ledger.record(entry(0.0625, { endedAt: at, mode: 'record' }));
    const caps: Cap[] = [
      { scope: 'store-day', key: day, limitUsd: 1 },
      { scope: 'workflow-day', key: `wf/${day}`, limitUsd: 1 },
      runCap(1),
    ];
    const states = await new ReservationEngine(store).states(caps);
    expect(states.map((s) => s.spentUsd)).toEqual([0.1875, 0.1875, 0.9375]);
  });

  it('stops waiting when the request is aborted', async () => {
    const { store } = tempStore();
    const { engine, waited } = watchedEngine(store);
    await engine.reserve([runCap(1)], worst(0.9), ATTR);
    const abort = new AbortController();
    const wait = waited();
    const b = engine.reserve([runCap(1)], worst(0.5), ATTR, abort.signal);
    await wait;
    abort.abort(new Error('client hung up'));
    await expect(b).rejects.toThrow('client hung up');
  });
});

function request(body: Record<string, unknown>, over: Partial<GatewayRequest> = {}): GatewayRequest {
  const rawBody = Buffer.from(JSON.stringify(body));
  return {
    receivedAt: Date.now(),
    method: 'POST',
    path: '/v1/messages',
    headers: {},
    rawBody,
    body,
    wire: 'anthropic',
    provider: 'anthropic',
    model: String(body.model),
    stream: false,
    maxTokens: typeof body.max_tokens === 'number' ? body.max_tokens : null,
    attribution: ATTR,
    ...over,
  };
}

describe('worst case', () => {
  const messages = [{ role: 'user', content: 'héllo wörld '.repeat(50) }];

  it('bounds input by the body bytes and output by max_tokens, at the highest input-side rate and the output rate', () => {
    const r = request({ model: 'claude-sonnet-5', max_tokens: 1000, messages });
    const w = worstCaseOf(r);
    expect(w.inputTokens).toBe(r.rawBody.length);
    expect(w.outputTokens).toBe(1000);
    // claude-sonnet-5: a 1-hour cache write is 4 USD per million input tokens, output 10.
    expect(w.usd).toBeCloseTo((r.rawBody.length * 4 + 1000 * 10) / 1e6, 12);
  });

  it("takes the config's price overrides", () => {
    const r = request({ model: 'my-model', max_tokens: 100, messages });
    expect(worstCaseOf(r).usd).toBeNull();
    const priced = worstCaseOf(r, { 'my-model': { provider: 'anthropic', input: 1, output: 2 } });
    expect(priced.usd).toBeGreaterThanOrEqual((r.rawBody.length * 1 + 100 * 2) / 1e6);
  });

  it('adds the tool-use prompt allowance when tools are declared, and assumes 128k output without max_tokens', () => {
    const r = request({ model: 'gpt-5', input: 'hi', tools: [{ type: 'function', name: 'f' }] }, { wire: 'responses', provider: 'openai' });
    const w = worstCaseOf(r);
    expect(w.inputTokens).toBe(r.rawBody.length + 1024);
    expect(w.outputTokens).toBe(128_000);
  });

  it('is null for an unpriced model', () => {
    expect(worstCaseOf(request({ model: 'llama3', max_tokens: 5, messages })).usd).toBeNull();
  });
});

describe('reservation stage', () => {
  it('reserves the request worst case against the caps resolveCaps gives, and settles it', async () => {
    const { store } = tempStore();
    const stage = createReservationStage(store, (req) => capsFor({ usd: 0.02 }, undefined, req.attribution, req.receivedAt));
    const body = { model: 'claude-sonnet-5', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };
    const held = await stage.reserve(request(body), new AbortController().signal);
    const states = await stage.engine.states([runCap(0.02)]);
    expect(states[0]?.reservedUsd).toBeCloseTo(worstCaseOf(request(body)).usd ?? 0, 12);
    await held.settle(entry(0.012));
    // 0.012 spent + ~0.015 worst > 0.02: refused before anything is sent.
    await expect(stage.reserve(request(body), new AbortController().signal)).rejects.toBeInstanceOf(BudgetExceededError);
  });
});

describe('refusal on the wire', () => {
  it('round-trips a refusal through its HTTP body', () => {
    const err = new BudgetExceededError({ scope: 'call', key: 'r1/k1', limitUsd: 0.5 }, { usd: 0.45, tokens: 900 }, 'budget exceeded: …');
    const body = JSON.stringify(budgetRefusalBody(err));
    const back = isBudgetRefusal(402, body);
    expect(back).toBeInstanceOf(BudgetExceededError);
    expect(back).toMatchObject({ code: 'BUDGET_EXCEEDED', cap: err.cap, spentUsd: 0.45, spentTokens: 900, message: err.message });
    expect(isBudgetRefusal(402, Buffer.from(body))?.cap).toEqual(err.cap);
    // An SDK error's parsed body: { type: 'error', error: {...} }
    expect(isBudgetRefusal(402, JSON.parse(body))?.cap).toEqual(err.cap);
    // The OpenAI SDK keeps only the inner error object.
    expect(isBudgetRefusal(402, JSON.parse(body).error)?.cap).toEqual(err.cap);
  });

  it('does not mistake other errors for refusals', () => {
    expect(isBudgetRefusal(429, { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } })).toBeNull();
    expect(isBudgetRefusal(500, { error: { type: 'budget_exceeded' } })).toBeNull();
    expect(isBudgetRefusal(402, 'not json')).toBeNull();
  });
});

describe('caps from limits', () => {
  it('applies run, phase, call, workflow-day and store-day caps to an attributed request', () => {
    const at = Date.parse('2026-11-30T08:00:00Z');
    const caps = capsFor(
      { usd: 5, tokens: 2_000_000, perAgentUsd: 0.5, perPhase: { build: { usd: 2 } } },
      { dailyUsd: 100, workflows: { wf: { dailyUsd: 20 } } },
      ATTR,
      at,
    );
    expect(caps).toEqual([
      { scope: 'run', key: 'r1', limitUsd: 5, limitTokens: 2_000_000 },
      { scope: 'phase', key: 'r1/build', limitUsd: 2 },
      { scope: 'call', key: 'r1/k1', limitUsd: 0.5 },
      { scope: 'workflow-day', key: 'wf/2026-11-30', limitUsd: 20 },
      { scope: 'store-day', key: '2026-11-30', limitUsd: 100 },
    ]);
    // Unattributed: only the store's daily cap.
    const none = { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null };
    expect(capsFor({ usd: 5 }, { dailyUsd: 100 }, none, at)).toEqual([{ scope: 'store-day', key: '2026-11-30', limitUsd: 100 }]);
  });

  it('keeps the smaller limit when flags and the script both set one', () => {
    expect(
      mergeRunCaps({ usd: 5 }, { usd: 3, tokens: 1000, perPhase: { a: { usd: 1 } } }, { perPhase: { a: { usd: 2, tokens: 5 } } }),
    ).toEqual({
      usd: 3,
      tokens: 1000,
      perPhase: { a: { usd: 1, tokens: 5 } },
    });
    expect(mergeRunCaps(undefined, {})).toBeUndefined();
  });

  it('parses token and USD amounts', () => {
    expect(['2M', '500k', '1.5M', '20000', '0.5k'].map(parseTokenAmount)).toEqual([2_000_000, 500_000, 1_500_000, 20_000, 500]);
    expect(['2G', '', '-5', '0', '1.5', 'abc'].map(parseTokenAmount)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(['5', '0.5', '$5', '.25'].map(parseUsdAmount)).toEqual([5, 0.5, 5, 0.25]);
    expect(['0', '-1', 'five', '5 USD'].map(parseUsdAmount)).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('holds racing on separate connections', () => {
  it('two stores on one database, 40 holds at once against shared caps given in either order: exactly as many as fit are held', async () => {
    const { store, path } = tempStore();
    const other = createStore(path);
    try {
      const day: Cap = { scope: 'store-day', key: '2026-12-01', limitUsd: 1 };
      const run = runCap(100);
      // Each holds 0.1 against the day's 1 USD; the caps come in both orders (no lock-order deadlock).
      const hold = (s: typeof store, i: number) =>
        s.reservations.holdIf(
          {
            id: `h${i}`,
            caps: i % 2 ? [day, run] : [run, day],
            usd: 0.1,
            tokens: 1,
            runId: 'r1',
            callKey: null,
            model: 'claude-sonnet-5',
            createdAt: 0,
            expiresAt: Number.MAX_SAFE_INTEGER,
          },
          1,
          (states) =>
            states.every((st) => st.spentUsd + st.reservedUsd + 0.1 <= (st.cap.limitUsd ?? Number.POSITIVE_INFINITY) + 1e-9)
              ? { hold: true }
              : { hold: false, why: 'full' },
        );
      const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => hold(i % 2 ? other : store, i)));
      expect(verdicts.filter((v) => v.hold)).toHaveLength(10);
      const [dayState, runState] = await store.reservations.capStates([day, run], 1);
      expect(dayState?.reservedUsd).toBeCloseTo(1, 9);
      expect(runState?.reservedUsd).toBeCloseTo(1, 9);
    } finally {
      await other.close();
    }
  });
});

describe('ledger writes: one transaction per turn of the event loop', () => {
  it('rows recorded together share a batch; a bad row rejects only itself; close() commits what waits', async () => {
    const { store, path } = tempStore();
    const bad = entry(0.1, { model: { not: 'a string' } as unknown as string });
    const results = await Promise.allSettled([
      ...Array.from({ length: 40 }, (_, i) => store.ledger.record(entry(0.01 * i))),
      store.ledger.record(bad),
    ]);
    const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
    expect(results[40]?.status).toBe('rejected');
    expect((await store.ledger.listByRun('r1')).map((e) => e.id)).toEqual(ids);
    // Not awaited: the row still waits for its batch when the store closes, and is committed.
    void store.ledger.record(entry(0.5, { runId: 'r2' }));
    await store.close();
    const reopened = createStore(path);
    try {
      expect((await reopened.ledger.listByRun('r2')).map((e) => e.costUsd)).toEqual([0.5]);
    } finally {
      await reopened.close();
    }
  });
});

describe('ledger groups by agent', () => {
  it('requests no call claims are grouped by their agent label, not lumped into one line', async () => {
    const { store } = tempStore();
    const none = { callKey: null, runId: 'sdk-run' };
    await Promise.all([
      store.ledger.record(entry(0.1, { ...none, agentLabel: 'anthropic-stream' })),
      store.ledger.record(entry(0.2, { ...none, agentLabel: 'openai' })),
      store.ledger.record(entry(0.3, { ...none, agentLabel: 'openai' })),
      store.ledger.record(entry(0.4, { runId: 'sdk-run', callKey: 'agent:k', agentLabel: 'openai' })),
    ]);
    const groups = await store.ledger.sumsByRun('sdk-run', 'agent');
    expect(groups.map((g) => [g.label, g.requests])).toEqual([
      ['anthropic-stream', 1],
      ['openai', 2],
      ['openai', 1],
    ]);
  });
});
