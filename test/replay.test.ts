import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../src/workflow/index.js';
import { planFrom, planResume, resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, ROOT, tempDir, tempStore, write } from './helpers.js';

/**
 * Answers echo the prompt, so a result says which prompt (nonce included) produced it.
 * `first <b>` and `second <b>` wait at gates the tests open, to fix the order answers arrive in.
 */
const GATED = `
rules:
  - name: first
    match: { prompt: '^first (\\d+)' }
    hold: 'first-{{1}}'
    turns: [{ text: 'F{{1}}' }]
  - name: second
    match: { prompt: '^(second .*)' }
    hold: 'second'
    turns: [{ text: 'answer to {{1}}' }]
  - name: spend
    match: { prompt: '^(round|summary)' }
    usage: { input_tokens: 5, output_tokens: 30 }
    turns: [{ text: ok }]
  - name: echo
    match: { prompt: '^(.*)$' }
    turns: [{ text: 'echo {{1}}' }]
`;

async function setup(yaml = GATED) {
  const dir = tempDir();
  const gw = await gateway(yaml);
  const { store } = tempStore(dir);
  const start = (body: string, extra: Partial<Parameters<typeof runWorkflow>[0]> = {}) =>
    runWorkflow({ store, script: ccScript(dir, body), gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, ...extra });
  const resume = (runId: string, extra: Partial<Parameters<typeof resumeRun>[0]> = {}) =>
    resumeRun({ store, runId, gateway: gw.url, backoff: FAST_BACKOFF, ...extra });
  return { dir, gw, store, start, resume };
}

/** Branch 1's `first` answers before branch 0's, so branch 1 reads its value first. */
async function answerBranchOneFirst(gw: Awaited<ReturnType<typeof setup>>['gw'], valueReads = 1): Promise<void> {
  await Promise.all([gw.gates.arrived('first-0'), gw.gates.arrived('first-1')]);
  gw.gates.open('first-1');
  gw.gates.open('second');
  await gw.gates.arrived('second', valueReads);
  gw.gates.open('first-0');
}

describe('replay is exact whatever order calls finish in', () => {
  for (const [what, expr] of [
    ['Math.random()', 'Math.random()'],
    ['Date.now()', 'Date.now()'],
  ] as const) {
    it(`a completed run resumed re-executes nothing and keeps ${what} in its branch`, async () => {
      const { gw, start, resume } = await setup();
      const running = start(`
        return await parallel([0, 1].map((b) => async () => {
          await agent('first ' + b);
          return agent('second ' + b + ' nonce ' + ${expr});
        }));`);
      await answerBranchOneFirst(gw);
      const first = await running;
      expect(first.status).toBe('completed');
      const [r0, r1] = first.result as string[];
      expect(r0).toMatch(/^answer to second 0 nonce /);
      expect(r1).toMatch(/^answer to second 1 nonce /);
      const requests = gw.stats().requests;
      const again = await resume(first.runId);
      expect(again.status).toBe('completed');
      expect(again.calls).toMatchObject({ total: 4, executed: 0, reused: 4, failed: 0 });
      expect(again.result).toEqual(first.result);
      expect(gw.stats().requests).toBe(requests);
    });
  }

  it('pipeline items and stages, nested workflows and module-form steps replay in place', async () => {
    const { dir, gw, start, resume } = await setup();
    write(
      dir,
      'child.js',
      `export const meta = { name: 'child', description: 'nested' };
       const picked = Math.random();
       await agent('first ' + args.b);
       return agent('second ' + args.b + ' child ' + Math.random() + ' ' + picked);`,
    );
    const running = start(`
      const viaPipeline = await pipeline([0, 1],
        async (b) => { await agent('first ' + b); return b; },
        async (b) => agent('second ' + b + ' stage ' + Math.random()));
      return viaPipeline;`);
    await answerBranchOneFirst(gw);
    const first = await running;
    expect(first.status).toBe('completed');
    const again = await resume(first.runId);
    expect(again.calls).toMatchObject({ executed: 0, reused: 4 });
    expect(again.result).toEqual(first.result);

    gw.reset();
    const nested = start(`return parallel([0, 1].map((b) => () => workflow('./child.js', { b })));`);
    await answerBranchOneFirst(gw);
    const n1 = await nested;
    expect(n1.status).toBe('completed');
    expect(n1.result).toEqual([expect.stringMatching(/^answer to second 0 child /), expect.stringMatching(/^answer to second 1 child /)]);
    const n2 = await resume(n1.runId);
    expect(n2.calls).toMatchObject({ executed: 0, reused: 4 });
    expect(n2.result).toEqual(n1.result);
  });

  it('module-form steps, ctx.now() and ctx.random() replay into their branch', async () => {
    const { dir, gw, store } = await setup();
    const script = write(
      dir,
      'wf.mjs',
      `import { defineWorkflow } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};
       export default defineWorkflow({ name: 'steps', description: 'steps in branches' }, async (ctx) =>
         ctx.parallel([0, 1].map((b) => async () => {
           await ctx.agent('first ' + b);
           const at = await ctx.step('stamp', () => ({ b, n: ctx.random(), t: ctx.now() }));
           return ctx.agent('second ' + b + ' ' + JSON.stringify(at));
         })));`,
    );
    const running = runWorkflow({ store, script, gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF });
    await answerBranchOneFirst(gw);
    const first = await running;
    expect(first.status).toBe('completed');
    const [a, b] = first.result as string[];
    expect(a).toMatch(/"b":0/);
    expect(b).toMatch(/"b":1/);
    const again = await resumeRun({ store, runId: first.runId, gateway: gw.url });
    expect(again.calls).toMatchObject({ executed: 0, reused: 6 });
    expect(again.result).toEqual(first.result);
  });
});

describe('after an edit', () => {
  it('a world-dependent call is reused only if everything before it in its branch is unchanged', async () => {
    const { dir, store, gw } = await setup();
    writeFileSync(join(dir, 'count.txt'), '3');
    const script = ccScript(
      dir,
      `const a = await sh('cat count.txt');
       await sh('echo 0 > count.txt');
       const b = await sh('cat count.txt');
       return [a.stdout.trim(), b.stdout.trim()];`,
    );
    const first = await runWorkflow({ store, script, workdir: dir });
    expect(first.result).toEqual(['3', '0']);
    // Delete the first of the two identical `cat` calls, in place.
    ccScript(dir, `await sh('echo 0 > count.txt');\nconst b = await sh('cat count.txt');\nreturn b.stdout.trim();`);
    const again = await resumeRun({ store, runId: first.runId, gateway: gw.url });
    expect(again.result).toBe('0');
    expect(again.calls).toMatchObject({ executed: 2, reused: 0 });
  });

  it('agents are reused by content wherever they moved; inserted calls run; sh after an insert runs again', async () => {
    const { dir, store, gw } = await setup();
    const counter = join(dir, 'n.txt');
    writeFileSync(counter, '');
    const script = ccScript(
      dir,
      `const x = await parallel([() => agent('alpha'), () => agent('beta')]);
       const n = await sh('echo x >> n.txt && wc -l < n.txt');
       return [x, n.stdout.trim()];`,
    );
    const first = await runWorkflow({ store, script, workdir: dir, gateway: gw.url });
    expect(first.result).toEqual([['echo alpha', 'echo beta'], '1']);
    const before = gw.stats().requests;
    // Reorder the two agents, move one out of the parallel, insert a new agent first.
    ccScript(
      dir,
      `await agent('gamma');
       const b = await agent('beta');
       const x = await parallel([() => agent('alpha')]);
       const n = await sh('echo x >> n.txt && wc -l < n.txt');
       return [b, x, n.stdout.trim()];`,
    );
    const callsBefore = await store.listCalls(first.runId);
    const plan = await planResume({ store, runId: first.runId });
    expect(plan.scriptChanged).toBe(true);
    expect(plan.entries).toEqual([{ action: 'run', kind: 'agent', label: 'gamma', branch: '/', reason: 'new' }]);
    expect(plan.blockedBranches).toBe(1);
    // The plan wrote nothing and asked no model.
    expect(await store.listCalls(first.runId)).toEqual(callsBefore);
    expect(gw.stats().requests).toBe(before);
    const again = await resumeRun({ store, runId: first.runId, gateway: gw.url });
    expect(again.status).toBe('completed');
    expect(again.result).toEqual(['echo beta', ['echo alpha'], '2']);
    // alpha is still the first thunk of the first parallel: an exact match; beta moved.
    expect(again.calls).toMatchObject({ executed: 2, reused: 2, moved: 1 });
    expect(gw.stats().requests - before).toBe(1);
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(2);
    // The moved entries now sit at their new places: a further resume runs nothing.
    const third = await resumeRun({ store, runId: first.runId, gateway: gw.url });
    expect(third.calls).toMatchObject({ executed: 0, reused: 4, moved: 0 });
    const done = await planResume({ store, runId: first.runId });
    expect(done.complete).toBe(true);
    expect(done.entries.map((e) => e.action)).toEqual(['reuse', 'reuse', 'reuse', 'reuse']);
    // Moving the sh ahead of the agents: the agents move, the sh runs because what came before it changed.
    const edited = ccScript(
      dir,
      `const n = await sh('echo x >> n.txt && wc -l < n.txt');
       await agent('gamma');
       return [n.stdout.trim(), await agent('beta'), await parallel([() => agent('alpha')])];`,
      'other.js',
    );
    const fromPlan = await planFrom({ store, script: edited, fromRunId: first.runId });
    expect(fromPlan.entries[0]).toMatchObject({ action: 'run', kind: 'sh', reason: 'earlier-call-changed' });
  });

  it('a journal written by drover 0.1 (issue-order keys) still resumes, and is moved to structural keys', async () => {
    const dir = tempDir();
    const db = join(dir, 'legacy.db');
    copyFileSync(join(ROOT, 'test/fixtures/legacy/legacy-v4.db'), db);
    const { createStore } = await import('../src/store/index.js');
    const legacy = createStore(db);
    try {
      const [listed] = await legacy.listRuns({ limit: 1 });
      const run = listed && (await legacy.getRun(listed.id));
      expect(run).toBeDefined();
      const logs: string[] = [];
      const sim = join(ROOT, 'test/fixtures/legacy/scenario.yaml');
      const resumed: RunSummary = await resumeRun({
        store: legacy,
        runId: run!.id,
        sim,
        onEvent: (e) => e.type === 'log' && logs.push(e.message),
      });
      expect(resumed.status).toBe('completed');
      expect(resumed.calls).toMatchObject({ executed: 0, reused: 3 });
      expect(resumed.result).toEqual(run!.result);
      expect(logs.join('\n')).toMatch(/earlier drover/);
      const again = await resumeRun({ store: legacy, runId: run!.id, sim });
      expect(again.calls).toMatchObject({ executed: 0, reused: 3 });
      expect(again.result).toEqual(run!.result);
    } finally {
      await legacy.close();
    }
  });
});

describe('the budget stops what it says it stops', () => {
  it('is checked when an agent starts, not when it queued for a slot', async () => {
    const { start, store } = await setup();
    const s = await start(`return parallel([1, 2, 3].map((i) => () => agent('round ' + i)));`, { budgetTokens: 1, concurrency: 1 });
    expect(s.status).toBe('completed');
    expect(s.result).toEqual(['ok', null, null]);
    expect((await store.usageTotals(s.runId)).outputTokens).toBe(30);
    expect(s.calls).toMatchObject({ executed: 1, failed: 2 });
  });

  it('a budget-aware loop replays the rounds it ran, whatever was spent since', async () => {
    const { dir, start, resume } = await setup();
    const body = (summary: string) => `
      let rounds = 0;
      while (budget.remaining() > 110) { await agent('round ' + rounds); rounds++; }
      await agent('${summary}');
      return { rounds, total: budget.total, spent: budget.spent() };`;
    const first = await start(body('summary v1'), { budgetTokens: 200 });
    expect(first.result).toEqual({ rounds: 3, total: 200, spent: 120 });
    ccScript(dir, body('summary v2'));
    const again = await resume(first.runId);
    expect(again.result).toEqual({ rounds: 3, total: 200, spent: 150 });
    expect(again.calls).toMatchObject({ executed: 1, reused: 3 });
  });
});

describe('resume uses the script on disk, and says so', () => {
  it('after fixing the script in place, resume runs the fixed file (not the stored copy) and notes it', async () => {
    const { dir, store, gw } = await setup();
    const script = ccScript(dir, `const a = await agent('alpha');\nconst cfg = null;\nreturn cfg.value + a;`);
    const first = await runWorkflow({ store, script, workdir: dir, gateway: gw.url });
    expect(first.status).toBe('failed');
    expect(first.error?.message).toMatch(/wf\.js:4:12: TypeError/);
    ccScript(dir, `const a = await agent('alpha');\nconst cfg = { value: 'fixed ' };\nreturn cfg.value + a;`);
    const notes: string[] = [];
    const again = await resumeRun({
      store,
      runId: first.runId,
      gateway: gw.url,
      onEvent: (e) => e.type === 'log' && notes.push(e.message),
    });
    expect(again).toMatchObject({ status: 'completed', result: 'fixed echo alpha', calls: { executed: 0, reused: 1 } });
    expect(notes.join('\n')).toMatch(/changed since this run stored it: continuing with the file on disk/);
    expect((await store.getRun(first.runId))?.scriptSource).toMatch(/fixed/);
  });

  it('run --from reuses the source run endpoint (its --sim) when none is given', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const scenario = write(dir, 'scenario.yaml', `rules:\n  - turns: [{ text: from-sim }]\n`);
    const script = ccScript(dir, `return agent('x')`);
    const first = await runWorkflow({ store, script, workdir: dir, sim: scenario });
    const second = await runWorkflow({
      store,
      script: ccScript(dir, `return [await agent('x'), await agent('y')]`, 'b.js'),
      workdir: dir,
      fromRunId: first.runId,
    });
    expect(second).toMatchObject({ status: 'completed', result: ['from-sim', 'from-sim'], calls: { reused: 1, executed: 1 } });
  });
});
