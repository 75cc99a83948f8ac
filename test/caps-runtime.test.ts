import { describe, expect, it } from 'vitest';
import type { Store } from '../src/store/index.js';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, FAST_BACKOFF, gateway, lastJson, tempDir, tempStore, write } from './helpers.js';

/** Each answer: 1000 input + 5000 output tokens of claude-sonnet-5 (2 / 10 USD per million) = 0.052 USD. */
const SCENARIO = `
rules:
  - name: any
    usage: { input_tokens: 1000, output_tokens: 5000 }
    turns: [{ text: ok }]
`;
const ANSWER_USD = (1000 * 2 + 5000 * 10) / 1e6;

/** The sim gateway as the upstream: the run's own gateway holds each request's worst case against the run's caps. */
async function setup(scenario = SCENARIO) {
  const dir = tempDir();
  const gw = await gateway(scenario);
  const { store, path } = tempStore(dir);
  return { dir, gw, store, path, url: gw.url };
}

/** The ledger rows of requests that reached the upstream (refused ones are rows too, with status 402 and no tokens). */
async function served(store: Store, runId: string) {
  return (await store.ledger.listByRun(runId)).filter((r) => r.status === 200);
}

describe('caps in the workflow runtime', () => {
  it('agent() rejects with a BudgetExceededError a script can catch; parallel turns it into null; the run ends budget_exceeded', async () => {
    const runId = 'capped-1';
    const { dir, store, url, gw, path } = await setup();
    const script = ccScript(
      dir,
      `const both = await parallel([() => agent('one'), () => agent('two')]);
      let caught = null;
      try { await agent('three'); } catch (e) { caught = { name: e.name, code: e.code, message: e.message, cap: e.cap, spentUsd: e.spentUsd, spentTokens: e.spentTokens }; }
      return { both, caught, total: budget.total, spent: budget.spent() };`,
    );
    const s = await runWorkflow({ store, script, runId, gateway: url, workdir: dir, backoff: FAST_BACKOFF, maxUsd: 0.01 });
    expect(s.status).toBe('budget_exceeded');
    const result = s.result as { both: unknown[]; caught: { name: string; code: string; message: string }; total: number; spent: number };
    expect(result.both).toEqual([null, null]);
    expect(result.caught).toMatchObject({
      name: 'BudgetExceededError',
      code: 'BUDGET_EXCEEDED',
      // What the docs promise a script can read: which cap refused, and what it had spent.
      cap: { scope: 'run', key: 'capped-1', limitUsd: 0.01 },
      spentUsd: 0,
      spentTokens: 0,
    });
    expect(result.caught.message).toMatch(
      /^budget exceeded: run cap \(run capped-1\) is 0\.01 USD; 0 USD spent, and this claude-sonnet-5 request may cost up to/,
    );
    expect(result).toMatchObject({ total: 0.01, spent: 0 });
    // Refused before anything was sent: the upstream saw nothing; the ledger has the refusals, at no cost.
    expect(gw.stats().requests).toBe(0);
    const rows = await store.ledger.listByRun(runId);
    expect(rows.map((r) => [r.status, r.inputTokens, r.outputTokens, r.costUsd ?? 0])).toEqual([
      [402, 0, 0, 0],
      [402, 0, 0, 0],
      [402, 0, 0, 0],
    ]);
    expect(rows.every((r) => r.refusedBy === 'budget')).toBe(true);
    // drover cost counts them apart: three requests, none of which reached the provider.
    const cost = await cli(['cost', runId, '--json', '--store', path]);
    expect(lastJson(cost.stdout)).toMatchObject({ totalUsd: 0, requests: 3, refusedRequests: 3 });
    expect((await cli(['cost', runId, '--store', path])).stdout).toContain('3 refused by drover before sending (no cost)');
    expect((await cli(['status', runId, '--store', path])).stdout).toContain('3 model requests (3 refused by drover before sending)');
    expect(s.error?.code).toBe('BUDGET_EXCEEDED');
    expect((await store.getRun(runId))?.status).toBe('budget_exceeded');
    // The caps are stored with the run, for resume.
    expect((await store.getRun(runId))?.settings.caps).toEqual({ usd: 0.01 });
  });

  it('spends up to the cap, never past it; budget.spent() reads the ledger; a warning at 50% is a run event', async () => {
    const runId = 'capped-2';
    const { dir, store, url } = await setup();
    // Each answer costs 0.052 USD but may cost up to ~0.095 (8192 max_tokens): the third cannot fit (0.104 + 0.095 > 0.18).
    const script = ccScript(
      dir,
      `const seen = [];
      for (const p of ['a', 'b', 'c']) {
        try { await agent(p); } catch (e) { seen.push(e.code); }
        seen.push(budget.spent());
      }
      return seen;`,
    );
    const shares: number[] = [];
    const s = await runWorkflow({
      store,
      script,
      runId,
      gateway: url,
      workdir: dir,
      backoff: FAST_BACKOFF,
      maxUsd: 0.18,
      onEvent: (e) => e.type === 'budget' && shares.push(e.share),
    });
    const ledger = await served(store, runId);
    expect(ledger).toHaveLength(2);
    const spent = ledger.reduce((n, e) => n + (e.costUsd ?? 0), 0);
    expect(spent).toBeCloseTo(2 * ANSWER_USD, 9);
    expect(spent).toBeLessThanOrEqual(0.18);
    const seen = s.result as unknown[];
    expect(seen[0]).toBeCloseTo(ANSWER_USD, 9);
    expect(seen[1]).toBeCloseTo(2 * ANSWER_USD, 9);
    expect(seen.slice(2)).toEqual(['BUDGET_EXCEEDED', seen[1]]);
    expect(s.status).toBe('budget_exceeded');
    const warnings = (await store.listEvents(runId))
      .filter((e) => e.type === 'warning')
      .map((e) => (e.data as { message: string }).message);
    expect(warnings).toEqual(['budget: 50% of the run cap capped-2 is spent (0.104 of 0.18 USD)']);
    // A replay sees what the first execution saw: spent() values are journaled.
    const again = await resumeRun({ store, runId, gateway: url, backoff: FAST_BACKOFF });
    expect(again.result).toEqual(s.result);
  });

  it('one answer that jumps past 50% and 80% of a cap warns at both, in order', async () => {
    const runId = 'capped-jump';
    // 8000 output tokens against a 9000-token cap: the request fits (max_tokens 8192), then 89% is spent.
    const { dir, store, url } = await setup(SCENARIO.replace('output_tokens: 5000', 'output_tokens: 8000'));
    const shares: number[] = [];
    const s = await runWorkflow({
      store,
      script: ccScript(dir, `await agent('a'); return budget.spent();`),
      runId,
      gateway: url,
      workdir: dir,
      backoff: FAST_BACKOFF,
      maxTokens: 9000,
      onEvent: (e) => e.type === 'budget' && shares.push(e.share),
    });
    expect(s.result).toBe(8000);
    const warnings = (await store.listEvents(runId))
      .filter((e) => e.type === 'warning')
      .map((e) => (e.data as { message: string }).message);
    expect(warnings).toEqual([
      'budget: 50% of the run cap capped-jump is spent (8000 of 9000 output tokens)',
      'budget: 80% of the run cap capped-jump is spent (8000 of 9000 output tokens)',
    ]);
    expect(shares).toEqual([0.5, 0.8]);
  });

  it('a token cap counts output tokens (worst case = max_tokens), and budget.total / spent() are in tokens', async () => {
    const runId = 'capped-tokens';
    const { dir, store, url } = await setup();
    // The first answer (5000 output tokens) fits; then 5000 + 8192 (max_tokens) > 10 000.
    const script = ccScript(
      dir,
      `const seen = [budget.total];
      for (const p of ['a', 'b']) { try { await agent(p); seen.push(budget.spent()); } catch (e) { seen.push(e.code); } }
      return seen;`,
    );
    const s = await runWorkflow({ store, script, runId, gateway: url, workdir: dir, backoff: FAST_BACKOFF, maxTokens: 10_000 });
    expect(s.result).toEqual([10_000, 5000, 'BUDGET_EXCEEDED']);
    expect(s.status).toBe('budget_exceeded');
    expect((await store.listCalls(runId)).find((c) => c.error)?.error?.message).toBe(
      'budget exceeded: run cap (run capped-tokens) is 10000 output tokens; 5000 spent, and this request may produce up to 8192 (its max_tokens)',
    );
  });

  it('a refusal the script does not catch ends the run budget_exceeded and cancels the agents still in flight', async () => {
    const runId = 'capped-inflight';
    // "slow one" fits the run cap and is held at a gate that never opens: only a cancellation ends it.
    // "refuse me" asks a model whose worst case (8192 output tokens at 75 USD per million) cannot fit.
    const { dir, store, url } = await setup(`
rules:
  - name: slow
    match: { prompt: 'slow one' }
    hold: never
    turns: [{ text: ok }]
  - name: any
    usage: { input_tokens: 1000, output_tokens: 5000 }
    turns: [{ text: ok }]
`);
    const script = ccScript(
      dir,
      `const slow = agent('slow one'); await agent('refuse me', { model: 'claude-opus-4-1' }); return await slow;`,
    );
    const s = await runWorkflow({ store, script, runId, gateway: url, workdir: dir, backoff: FAST_BACKOFF, maxUsd: 0.2 });
    expect(s.status).toBe('budget_exceeded');
    expect(s.error?.code).toBe('BUDGET_EXCEEDED');
    const calls = await store.listCalls(runId);
    const slow = calls.find((c) => c.kind === 'agent' && (c.inputs as { prompt: string }).prompt === 'slow one');
    // Cut off, not finished: a resume runs it again.
    expect(slow?.status).toBe('started');
    expect(s.calls.unfinished).toBe(1);
  });

  it('resume keeps the caps, and a cap flag on resume replaces the stored one', async () => {
    const runId = 'capped-3';
    const { dir, store, url } = await setup();
    const script = ccScript(dir, `return await agent('one');`);
    const first = await runWorkflow({ store, script, runId, gateway: url, workdir: dir, backoff: FAST_BACKOFF, maxUsd: 0.01 });
    expect(first.status).toBe('budget_exceeded');
    // The run's gateway reads the caps as stored: what a resume keeps.
    const kept = await resumeRun({ store, runId, gateway: url, backoff: FAST_BACKOFF });
    expect((await store.getRun(runId))?.settings.caps).toEqual({ usd: 0.01 });
    expect(kept.status).toBe('budget_exceeded');
    const raised = await resumeRun({ store, runId, gateway: url, backoff: FAST_BACKOFF, maxUsd: 1 });
    expect((await store.getRun(runId))?.settings.caps).toEqual({ usd: 1 });
    expect(raised).toMatchObject({ status: 'completed', result: 'ok' });
  });

  it("takes the script's meta.budget, the smaller limit winning over a flag", async () => {
    const runId = 'capped-4';
    const { dir, store, url } = await setup();
    const script = write(
      dir,
      'wf.js',
      `export const meta = { name: 'w', description: 'd', budget: { usd: 2, tokens: 500000, perAgentUsd: 0.5, perPhase: { build: { usd: 1 } } } };
      return 1;`,
    );
    await runWorkflow({ store, script, runId, gateway: url, workdir: dir, maxUsd: 3, maxTokens: 100_000 });
    expect((await store.getRun(runId))?.settings.caps).toEqual({
      usd: 2,
      tokens: 100_000,
      perAgentUsd: 0.5,
      perPhase: { build: { usd: 1 } },
    });
    const bad = write(dir, 'bad.js', `export const meta = { name: 'w', description: 'd', budget: { usd: -1 } };\nreturn 1;`);
    await expect(runWorkflow({ store, script: bad, gateway: url, workdir: dir })).rejects.toThrow(
      /meta\.budget\.usd must be a number of USD > 0/,
    );
  });
});

describe('caps from the command line', () => {
  it('a per-agent cap refused over HTTP fails the call in another process; the run completes when the script handles it', async () => {
    const runId = 'cli-capped';
    const { dir, path, url, store } = await setup();
    const script = ccScript(dir, `const r = await parallel([() => agent('one')]); return { r, spent: budget.spent() };`);
    const res = await cli(['run', script, '--store', path, '--run-id', runId, '--gateway', url, '--max-usd-per-agent', '0.05', '--json'], {
      cwd: dir,
    });
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1) as string);
    // A call cap is not run-wide: the script went on and finished.
    expect(summary).toMatchObject({ status: 'completed', result: { r: [null], spent: 0 } });
    const calls = await store.listCalls(runId);
    expect(calls.find((c) => c.kind === 'agent')?.error).toMatchObject({ code: 'BUDGET_EXCEEDED' });
    expect(String(calls.find((c) => c.kind === 'agent')?.error?.message)).toContain('per-agent cap');
    expect((await store.getRun(runId))?.settings.caps).toEqual({ perAgentUsd: 0.05 });
  });

  it('a run a cap stopped shows budget_exceeded in run --json, runs and status; exit code 1', async () => {
    const runId = 'cli-run-cap';
    const { dir, path, url } = await setup();
    const script = ccScript(dir, `return await agent('one');`);
    const res = await cli(['run', script, '--store', path, '--run-id', runId, '--gateway', url, '--max-usd', '0.01', '--json'], {
      cwd: dir,
    });
    expect(res.code).toBe(1);
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1) as string);
    expect(summary).toMatchObject({ status: 'budget_exceeded', error: { code: 'BUDGET_EXCEEDED' } });
    expect(summary.error.message).toMatch(/^budget exceeded: run cap \(run cli-run-cap\) is 0\.01 USD/);
    const runs = await cli(['runs', '--status', 'budget_exceeded', '--store', path, '--json'], { cwd: dir });
    expect(JSON.parse(runs.stdout).map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([[runId, 'budget_exceeded']]);
    const status = await cli(['status', runId, '--store', path, '--json'], { cwd: dir });
    expect(JSON.parse(status.stdout)).toMatchObject({ id: runId, status: 'budget_exceeded' });
    // The text status names the cap and how much of it is spent (nothing: refused before spend).
    const text = await cli(['status', runId, '--store', path], { cwd: dir });
    expect(text.stdout).toMatch(/— budget_exceeded/);
    expect(text.stdout).toContain('caps: run $0.01 (spent $0, 0%)');
  });

  it('refuses malformed cap flags with exit 2, naming the flag and the accepted form', async () => {
    const dir = tempDir();
    const script = ccScript(dir, 'return 1;');
    const tokens = await cli(['run', script, '--store', `${dir}/s.db`, '--max-tokens', '2G'], { cwd: dir });
    expect(tokens.code).toBe(2);
    expect(tokens.stderr).toContain(
      '--max-tokens must be a whole number of tokens from 1 to 9007199254740991, optionally with k or M (e.g. 2M, 500k, 20000), got "2G"',
    );
    const usd = await cli(['run', script, '--store', `${dir}/s.db`, '--max-usd', 'lots'], { cwd: dir });
    expect(usd.code).toBe(2);
    expect(usd.stderr).toContain('--max-usd must be an amount of USD ≥ 0.000001 (e.g. 5 or 0.5), got "lots"');
    const huge = await cli(['run', script, '--store', `${dir}/s.db`, '--max-tokens', '99999999999999999999'], { cwd: dir });
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('--max-tokens must be a whole number of tokens from 1 to 9007199254740991');
    const tiny = await cli(['run', script, '--store', `${dir}/s.db`, '--max-usd', '0.000000001'], { cwd: dir });
    expect(tiny.code).toBe(2);
    expect(tiny.stderr).toContain('--max-usd must be an amount of USD ≥ 0.000001');
    const per = await cli(['run', script, '--store', `${dir}/s.db`, '--max-usd-per-agent', '0'], { cwd: dir });
    expect(per.code).toBe(2);
    expect(per.stderr).toContain('--max-usd-per-agent must be an amount of USD ≥ 0.000001');
  });

  it('refuses a malformed budget in drover.config.json with exit 2, naming the key', async () => {
    const dir = tempDir();
    write(dir, 'drover.config.json', JSON.stringify({ budget: { workflows: { nightly: { dailyUsd: 'ten' } } } }));
    const script = ccScript(dir, 'return 1;');
    const res = await cli(['run', script, '--store', `${dir}/s.db`], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('budget: workflows: nightly: dailyUsd: expected a number of USD > 0');
  });
});

describe('cap warnings in the live tree', () => {
  it('keeps the latest cap warning under the header', async () => {
    const { stripVTControlCharacters } = await import('node:util');
    const { ttyProgress } = await import('../src/cli/tty-progress.js');
    let out = '';
    const progress = ttyProgress({ rows: 20, columns: 120, write: (t: string) => (out += t) });
    progress.listener({ type: 'run', runId: 'r1', name: 'triage', state: 'started', at: 0 });
    progress.listener({ type: 'budget', message: 'budget: 50% of the run cap r1 is spent (0.5 of 1 USD)', share: 0.5, at: 0 });
    progress.listener({ type: 'budget', message: 'budget: 80% of the run cap r1 is spent (0.81 of 1 USD)', share: 0.8, at: 0 });
    progress.stop();
    const frame = stripVTControlCharacters(out).trimEnd().split('\n');
    expect(frame[0]).toContain('triage (r1)');
    expect(frame[1]).toBe('  budget: 80% of the run cap r1 is spent (0.81 of 1 USD)');
  });
});
