import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry, PriceFlag, TokenUsage } from '../src/budget/index.js';
import { priceUsage } from '../src/budget/index.js';
import { createStore } from '../src/store/index.js';
import { bareRun, ccScript, cli, lastJson, ON_POSTGRES, pgStoreUrl, ROOT, tempDir, tempStore, write } from './helpers.js';

/** Where a CLI-only test keeps its store: a file in `dir`, or a fresh schema in the PostgreSQL project. */
const storePath = (dir: string) => (ON_POSTGRES ? pgStoreUrl() : join(dir, 'drover.db'));

/** The fixture set: every usage shape, its cost worked out by hand (test/fixtures/usage/usage-shapes.json). */
interface UsageCase {
  name: string;
  wire: LedgerEntry['wire'];
  model: string;
  phase: string;
  agent: string;
  status: number;
  tokens: TokenUsage;
  priceFlag: PriceFlag;
  terms: number[];
  expectedUsd: number | null;
}
const FIXTURE = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'usage', 'usage-shapes.json'), 'utf8')) as {
  cases: UsageCase[];
  expected: {
    totalUsd: number;
    requests: number;
    unpricedRequests: number;
    estimatedRequests: number;
    byPhaseUsd: Record<string, number>;
  };
};

const USD = 1e-9;

/** The row the gateway writes for one case: its tokens, priced with priceUsage (estimated stays flagged). */
function rowOf(c: UsageCase, runId: string, i: number): LedgerEntry {
  const priced = priceUsage(c.model, c.tokens);
  return {
    runId,
    callKey: `call-${c.agent}`,
    agentLabel: c.agent,
    phase: c.phase,
    workflow: 'exactness',
    session: null,
    provider: c.wire === 'anthropic' ? 'anthropic' : 'openai',
    wire: c.wire,
    mode: 'proxy',
    model: c.model,
    requestId: `req-${i}`,
    status: c.status,
    stopReason: c.status === 200 ? 'end_turn' : null,
    startedAt: Date.now() - 1000 + i,
    endedAt: Date.now() - 500 + i,
    ttfbMs: 10,
    ...c.tokens,
    costUsd: priced.costUsd,
    priceFlag: c.priceFlag === 'estimated' ? 'estimated' : priced.priceFlag,
  };
}

async function storeWithFixture() {
  const dir = tempDir();
  const { store, path } = tempStore(dir);
  await bareRun(store, 'fixture', dir);
  for (const [i, c] of FIXTURE.cases.entries()) await store.ledger.record(rowOf(c, 'fixture', i));
  await store.close();
  return { dir, env: { DROVER_STORE: path } };
}

describe('ledger exactness: drover cost equals the cost worked out by hand from the price sheets', () => {
  it("the fixture's own arithmetic adds up (each case's terms, and the cases to the total)", () => {
    for (const c of FIXTURE.cases) {
      if (c.expectedUsd === null) expect(c.terms).toEqual([]);
      else expect(Math.abs(c.terms.reduce((a, b) => a + b, 0) - c.expectedUsd), c.name).toBeLessThan(USD);
    }
    const total = FIXTURE.cases.reduce((a, c) => a + (c.expectedUsd ?? 0), 0);
    expect(Math.abs(total - FIXTURE.expected.totalUsd)).toBeLessThan(USD);
  });

  it('every usage shape: drover cost --json totals, per request and per phase, to 1e-9 USD', async () => {
    const { dir, env } = await storeWithFixture();

    const total = await cli(['cost', 'fixture', '--json'], { cwd: dir, env });
    expect(total.stderr).toBe('');
    expect(total.code).toBe(0);
    const report = lastJson(total.stdout) as { totalUsd: number; requests: number; unpricedRequests: number; estimatedRequests: number };
    expect(Math.abs(report.totalUsd - FIXTURE.expected.totalUsd)).toBeLessThan(USD);
    expect(report.requests).toBe(FIXTURE.expected.requests);
    expect(report.unpricedRequests).toBe(FIXTURE.expected.unpricedRequests);
    expect(report.estimatedRequests).toBe(FIXTURE.expected.estimatedRequests);

    const byPhase = lastJson((await cli(['cost', 'fixture', '--by', 'phase', '--json'], { cwd: dir, env })).stdout) as {
      breakdown: { key: string; costUsd: number }[];
    };
    expect(byPhase.breakdown.map((l) => l.key)).toEqual(Object.keys(FIXTURE.expected.byPhaseUsd));
    for (const l of byPhase.breakdown) {
      expect(Math.abs(l.costUsd - (FIXTURE.expected.byPhaseUsd[l.key] as number)), l.key).toBeLessThan(USD);
    }

    const byRequest = lastJson((await cli(['cost', 'fixture', '--by', 'request', '--json'], { cwd: dir, env })).stdout) as {
      breakdown: { requestId: string; costUsd: number | null; priceFlag: PriceFlag }[];
    };
    expect(byRequest.breakdown).toHaveLength(FIXTURE.cases.length);
    FIXTURE.cases.forEach((c, i) => {
      const got = byRequest.breakdown[i];
      expect(got?.requestId).toBe(`req-${i}`);
      expect(got?.priceFlag, c.name).toBe(c.priceFlag);
      if (c.expectedUsd === null) expect(got?.costUsd, c.name).toBeNull();
      else expect(Math.abs((got?.costUsd as number) - c.expectedUsd), c.name).toBeLessThan(USD);
    });

    // The token-class split adds up to the same total (long context and server tools included).
    const byClass = lastJson((await cli(['cost', 'fixture', '--by', 'token-class', '--json'], { cwd: dir, env })).stdout) as {
      breakdown: { class: string; tokens: number; unpricedTokens: number; costUsd: number | null }[];
    };
    const classSum = byClass.breakdown.reduce((a, l) => a + (l.costUsd ?? 0), 0);
    expect(Math.abs(classSum - FIXTURE.expected.totalUsd)).toBeLessThan(USD);
    expect(byClass.breakdown.find((l) => l.class === 'cacheWrite1h')?.tokens).toBe(2500);
    expect(byClass.breakdown.find((l) => l.class === 'server:web_search_requests')).toMatchObject({ tokens: 4, costUsd: 0.04 });
    expect(byClass.breakdown.find((l) => l.class === 'input')?.unpricedTokens).toBe(1000);
  });

  it('drover usage counts billed modes (all but sim and replay, reported included) by default; sim and replay rows are named, not counted', async () => {
    const { dir, env } = await storeWithFixture();
    const store = createStore(env.DROVER_STORE);
    const first = FIXTURE.cases[0] as UsageCase;
    await store.ledger.record({ ...rowOf(first, 'simulated', 0), mode: 'sim', requestId: 'sim-0' });
    await store.ledger.record({ ...rowOf(first, 'replayed', 0), mode: 'replay', requestId: 'replay-0' });
    // Usage an agent backend reported (no gateway saw it; also a pre-ledger store's rows): real spend.
    await store.ledger.record({ ...rowOf(first, 'reported', 0), mode: 'reported', requestId: 'reported-0' });
    await store.close();
    const simUsd = rowOf(first, 'x', 0).costUsd as number;
    type Usage = {
      totalUsd: number;
      requests: number;
      modes: string[];
      notCounted: { modes: string[]; requests: number; costUsd: number };
    };
    const usage = async (...more: string[]) =>
      lastJson((await cli(['usage', '--since', '1d', '--json', ...more], { cwd: dir, env })).stdout) as Usage;

    const billed = await usage();
    expect(billed.modes).toEqual(['proxy', 'record', 'reported']);
    expect(billed.requests).toBe(FIXTURE.expected.requests + 1);
    expect(Math.abs(billed.totalUsd - (FIXTURE.expected.totalUsd + simUsd))).toBeLessThan(USD);
    expect(billed.notCounted).toMatchObject({ modes: ['replay', 'sim'], requests: 2 });
    expect(Math.abs(billed.notCounted.costUsd - 2 * simUsd)).toBeLessThan(USD);

    const all = await usage('--mode', 'all');
    expect(all.requests).toBe(FIXTURE.expected.requests + 3);
    expect(Math.abs(all.totalUsd - (FIXTURE.expected.totalUsd + 3 * simUsd))).toBeLessThan(USD);
    expect(all.notCounted.requests).toBe(0);
    expect((await usage('--mode', 'sim')).requests).toBe(1);
    expect(await usage('--mode', 'billed,sim')).toMatchObject({
      modes: ['proxy', 'record', 'sim', 'reported'],
      requests: FIXTURE.expected.requests + 2,
    });
    expect((await usage('--mode', 'reported')).requests).toBe(1);

    const text = await cli(['usage', '--since', '1d'], { cwd: dir, env });
    expect(text.stdout).toMatch(
      /not counted: 2 requests in replay\/sim mode \(\$[\d.]+ at list prices, not billed; --mode all counts them\)/,
    );
    const bad = await cli(['usage', '--mode', 'simm'], { cwd: dir, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--mode: "simm" is not a ledger mode');
  });

  it('an unpriced request is shown as unpriced in every report, never $0', async () => {
    const { dir, env } = await storeWithFixture();
    const text = await cli(['cost', 'fixture', '--by', 'agent'], { cwd: dir, env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^run fixture: \$1\.28 for 13 model requests — 1 unpriced/);
    expect(text.stdout).toMatch(/local\s+unpriced/);
    expect(text.stdout).not.toMatch(/local\s+\$0/);

    const byModel = lastJson((await cli(['cost', 'fixture', '--by', 'model', '--json'], { cwd: dir, env })).stdout) as {
      breakdown: { key: string; costUsd: number | null; unpricedRequests: number }[];
    };
    expect(byModel.breakdown.find((l) => l.key === 'local-llama-70b')).toMatchObject({ costUsd: null, unpricedRequests: 1 });

    const usage = lastJson((await cli(['usage', '--since', '1d', '--by', 'model', '--json'], { cwd: dir, env })).stdout) as {
      totalUsd: number;
      unpricedRequests: number;
      breakdown: { key: string; costUsd: number | null }[];
    };
    expect(Math.abs(usage.totalUsd - FIXTURE.expected.totalUsd)).toBeLessThan(USD);
    expect(usage.unpricedRequests).toBe(1);
    expect(usage.breakdown.find((l) => l.key === 'local-llama-70b')?.costUsd).toBeNull();

    const status = lastJson((await cli(['status', 'fixture', '--json'], { cwd: dir, env })).stdout) as {
      usage: { costUsd: number; unpricedRequests: number; cacheHitRatio: number };
    };
    expect(Math.abs(status.usage.costUsd - FIXTURE.expected.totalUsd)).toBeLessThan(USD);
    expect(status.usage.unpricedRequests).toBe(1);
    // cache reads / every input-side token of the run
    const t = FIXTURE.cases.map((c) => c.tokens);
    const reads = t.reduce((a, u) => a + u.cacheReadTokens, 0);
    const prompt = t.reduce((a, u) => a + u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens, 0);
    expect(status.usage.cacheHitRatio).toBeCloseTo(reads / prompt, 12);
    const statusText = await cli(['status', 'fixture'], { cwd: dir, env });
    expect(statusText.stdout).toMatch(/cost \$1\.28 \(\+ 1 unpriced requests\), cache hits \d+% of input/);
  });

  it('drover usage groups by workflow, day and model over --since; bad flags exit 2 naming the flag', async () => {
    const { dir, env } = await storeWithFixture();
    const byWorkflow = lastJson((await cli(['usage', '--by', 'workflow', '--json'], { cwd: dir, env })).stdout) as {
      breakdown: { key: string; requests: number }[];
    };
    expect(byWorkflow.breakdown).toEqual([expect.objectContaining({ key: 'exactness', requests: 13 })]);
    const today = new Date().toISOString().slice(0, 10);
    const byDay = lastJson((await cli(['usage', '--json'], { cwd: dir, env })).stdout) as { by: string; breakdown: { key: string }[] };
    expect(byDay.by).toBe('day');
    expect(byDay.breakdown.map((l) => l.key)).toContain(today);
    const future = lastJson((await cli(['usage', '--since', '2999-01-01', '--json'], { cwd: dir, env })).stdout) as {
      requests: number;
      totalUsd: number;
    };
    expect(future).toMatchObject({ requests: 0, totalUsd: 0 });

    const badBy = await cli(['cost', 'fixture', '--by', 'colour'], { cwd: dir, env });
    expect(badBy.code).toBe(2);
    expect(badBy.stderr).toMatch(/--by must be one of phase, agent, model, token-class, request/);
    const badSince = await cli(['usage', '--since', 'last tuesday'], { cwd: dir, env });
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/--since/);
    // A run id only the ledger knows (a standalone gateway's x-drover-run) is still reported.
    const store = createStore(env.DROVER_STORE);
    await store.ledger.record({ ...rowOf(FIXTURE.cases[0] as UsageCase, 'gateway-only', 0) });
    await store.close();
    const ledgerOnly = lastJson((await cli(['cost', 'gateway-only', '--json'], { cwd: dir, env })).stdout) as { totalUsd: number };
    expect(Math.abs(ledgerOnly.totalUsd - (FIXTURE.cases[0]?.expectedUsd as number))).toBeLessThan(USD);
    const noRun = await cli(['cost', 'nope', '--json'], { cwd: dir, env });
    expect(noRun.code).toBe(2);
    expect(noRun.stderr + noRun.stdout).toMatch(/run nope not found/);
  });

  it('config price overrides are validated: a bad one exits 2 naming the key', async () => {
    const { dir, env } = await storeWithFixture();
    write(dir, 'drover.config.json', JSON.stringify({ prices: { 'local-llama-70b': { input: 1, output: 'cheap' } } }));
    const bad = await cli(['cost', 'fixture'], { cwd: dir, env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/prices\.local-llama-70b\.output: expected a number ≥ 0/);
  });
});

describe('a run through the sim: the summary and status read the ledger', () => {
  it("drover run --json reports usage.costUsd equal to its requests' tokens at the sheet's rates (claude-sonnet-5: 2 / 10)", async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: storePath(dir) };
    const scenario = write(dir, 'scenario.yaml', "rules:\n  - name: quick\n    turns: [{ text: 'ok' }]\n");
    const script = ccScript(dir, "await agent('one', { label: 'a' }); return await agent('two', { label: 'b' })");
    const run = await cli(['run', script, '--sim', scenario, '--model', 'claude-sonnet-5', '--run-id', 'sim-1', '--json'], {
      cwd: dir,
      env,
    });
    expect(run.code).toBe(0);
    const summary = lastJson(run.stdout) as {
      usage: { inputTokens: number; outputTokens: number; costUsd: number; unpricedRequests: number };
    };
    expect(summary.usage.inputTokens).toBeGreaterThan(0);
    expect(summary.usage.unpricedRequests).toBe(0);
    // no cache classes in the sim's answers: input × 2/1e6 + output × 10/1e6
    expect(Math.abs(summary.usage.costUsd - (summary.usage.inputTokens * 2e-6 + summary.usage.outputTokens * 10e-6))).toBeLessThan(USD);
    const cost = lastJson((await cli(['cost', 'sim-1', '--by', 'agent', '--json'], { cwd: dir, env })).stdout) as {
      totalUsd: number;
      breakdown: { label: string }[];
    };
    expect(Math.abs(cost.totalUsd - summary.usage.costUsd)).toBeLessThan(USD);
    expect(cost.breakdown.map((l) => l.label)).toEqual(['a', 'b']);
  });

  it('config price overrides price the ledger as they price the caps: a listed model re-priced, a model priced only in config', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: storePath(dir) };
    write(
      dir,
      'drover.config.json',
      JSON.stringify({ prices: { 'claude-sonnet-5': { input: 20, output: 100 }, 'my-local': { input: 1000, output: 1 } } }),
    );
    const scenario = write(dir, 'scenario.yaml', "rules:\n  - name: quick\n    turns: [{ text: 'ok' }]\n");
    const script = ccScript(dir, "return await agent('one', { label: 'a' })");
    for (const [model, input, output] of [
      ['claude-sonnet-5', 20e-6, 100e-6],
      ['my-local', 1000e-6, 1e-6],
    ] as const) {
      const run = await cli(['run', script, '--sim', scenario, '--model', model, '--json', '--max-usd', '50'], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      const summary = lastJson(run.stdout) as {
        usage: { inputTokens: number; outputTokens: number; costUsd: number; unpricedRequests: number };
      };
      expect(summary.usage.unpricedRequests).toBe(0);
      expect(summary.usage.costUsd).toBeGreaterThan(0);
      expect(Math.abs(summary.usage.costUsd - (summary.usage.inputTokens * input + summary.usage.outputTokens * output))).toBeLessThan(USD);
    }
  });
});
