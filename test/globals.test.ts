import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, tempDir, tempStore, write } from './helpers.js';

/** Answers `p<N>` with `r<N>`, so results say which prompt produced them. */
const ECHO = `
rules:
  - name: fail
    match: { prompt: '^boom' }
    faults: [{ status: 500, times: 100 }]
    turns: [{ text: never }]
  - name: slow
    match: { prompt: '^slow (\\w+)' }
    latency_ms: 300
    turns: [{ text: 'done {{1}}' }]
  - name: fixed
    match: { prompt: '^spend' }
    usage: { input_tokens: 10, output_tokens: 30 }
    turns: [{ text: spent }]
  - name: structured
    match: { prompt: '^classify (\\w+)' }
    turns: [{ json: { word: '{{1}}', length: 5 } }]
  - name: invalid-then-valid
    match: { prompt: '^fix me' }
    turns:
      - json: { word: 42 }
      - json: { word: fixed, length: 1 }
  - name: always-invalid
    match: { prompt: '^hopeless' }
    turns: [{ json: { nope: true } }]
  - name: echo
    match: { prompt: '^p(\\d+)' }
    turns: [{ text: 'r{{1}}' }]
`;

async function setup(yaml = ECHO) {
  const dir = tempDir();
  const gw = await gateway(yaml);
  const { store } = tempStore(dir);
  const run = (body: string, extra: Partial<Parameters<typeof runWorkflow>[0]> = {}) =>
    runWorkflow({ store, script: ccScript(dir, body), gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, ...extra });
  return { dir, gw, store, run };
}

const SCHEMA = "{ type: 'object', properties: { word: { type: 'string' }, length: { type: 'number' } }, required: ['word', 'length'] }";

describe('agent()', () => {
  it('returns the final text, and records exact per-request usage', async () => {
    const { run, store, gw } = await setup();
    const s = await run("return await agent('p1 hello')");
    expect(s).toMatchObject({ status: 'completed', result: 'r1', calls: { total: 1, executed: 1, reused: 0 } });
    expect(gw.stats().requests).toBe(1);
    const usage = await store.usageTotals(s.runId);
    expect(usage.requests).toBe(1);
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(s.usage.outputTokens).toBe(usage.outputTokens);
  });

  it('with a schema returns the validated object', async () => {
    const { run } = await setup();
    const s = await run(`return await agent('classify apple', { schema: ${SCHEMA} })`);
    expect(s.result).toEqual({ word: 'apple', length: 5 });
  });

  it('retries an answer that breaks the schema, then takes the valid one', async () => {
    const { run, gw, store } = await setup();
    const s = await run(`return await agent('fix me', { schema: ${SCHEMA} })`);
    expect(s.result).toEqual({ word: 'fixed', length: 1 });
    expect(gw.stats().log.map((e) => e.turn)).toEqual([0, 1]);
    expect((await store.usageTotals(s.runId)).requests).toBe(2); // both answers are paid for
  });

  it('yields null after bounded schema retries, with the error recorded', async () => {
    const { run, gw, store } = await setup();
    const s = await run(`return await agent('hopeless', { schema: ${SCHEMA}, label: 'h' })`);
    expect(s.status).toBe('completed');
    expect(s.result).toBeNull();
    expect(gw.stats().requests).toBe(3);
    const [call] = await store.listCalls(s.runId);
    expect(call).toMatchObject({ status: 'failed', label: 'h', error: { code: 'SCHEMA_MISMATCH' } });
    expect(call?.error?.message).toMatch(/must have required property 'word'/);
  });

  it('retries API errors with backoff and yields null when they persist; never vanishes', async () => {
    const { run, gw, store } = await setup();
    const s = await run("const a = await agent('boom'); const b = await agent('p2'); return [a, b]");
    expect(s.result).toEqual([null, 'r2']);
    expect(gw.stats().byRule.fail).toBe(6);
    const failed = (await store.listCalls(s.runId)).find((c) => c.status === 'failed');
    expect(failed?.error?.message).toMatch(/HTTP 500.*after 6 attempts/);
    expect(failed?.attempts).toBe(6);
  });

  it('refuses bad values of drover-only options with a clear message', async () => {
    const { run } = await setup();
    const s = await run("await agent('p1', { maxTurns: -1 })");
    expect(s.status).toBe('failed');
    expect(s.error?.message).toMatch(/agent\(\): options.maxTurns: /);
    expect(s.error).toMatchObject({ line: 2 });
  });
});

describe('parallel()', () => {
  it('is a barrier that never rejects: a failed thunk yields null', async () => {
    const { run } = await setup();
    const s = await run(`
      const out = await parallel([
        () => agent('p1'),
        () => { throw new Error('thrown by thunk'); },
        () => agent('boom'),
        async () => 7,
      ]);
      return out;`);
    expect(s.result).toEqual(['r1', null, null, 7]);
  });

  it('refuses more than 4096 items with an explicit error, and non-functions', async () => {
    const { run } = await setup();
    const s = await run('await parallel(Array.from({ length: 4097 }, () => () => 1))');
    expect(s.status).toBe('failed');
    expect(s.error?.code).toBe('TOO_MANY_ITEMS');
    expect(s.error?.message).toMatch(/parallel\(\): 4097 items; at most 4096 per call/);
    const t = await run('await parallel([1])');
    expect(t.error?.message).toMatch(/parallel\(\): item 0 is not a function/);
  });
});

describe('pipeline()', () => {
  it('passes (prev, item, index) and drops a throwing item to null', async () => {
    const { run } = await setup();
    const s = await run(`
      return await pipeline(['a', 'b', 'c'],
        (prev, item, i) => prev + ':' + item + ':' + i,
        (prev, item, i) => { if (item === 'b') throw new Error('no b'); return prev + '|' + i; });`);
    expect(s.result).toEqual(['a:a:0|0', null, 'c:c:2|2']);
  });

  it('has no barrier: a fast item finishes all stages while a slow one is still in stage one', async () => {
    const { run, gw } = await setup();
    const s = await run(`
      return await pipeline(['slow x', 'p5'],
        (item) => agent(item),
        (prev) => agent('p' + (prev === 'r5' ? '6' : '7')));`);
    expect(s.result).toEqual(['r7', 'r6']);
    const order = gw.stats().log.map((e) => e.prompt);
    // p6 (stage two of the fast item) was answered before the slow stage-one request.
    expect(order.indexOf('p6')).toBeLessThan(order.indexOf('slow x'));
  });

  it('refuses more than 4096 items', async () => {
    const { run } = await setup();
    const s = await run('await pipeline(Array.from({ length: 5000 }), (x) => x)');
    expect(s.error?.message).toMatch(/pipeline\(\): 5000 items; at most 4096 per call/);
  });
});

describe('limits', () => {
  it('caps agents in flight at the run concurrency', async () => {
    const { run, gw } = await setup();
    const s = await run("return (await parallel(Array.from({ length: 12 }, (_, i) => () => agent('slow a' + i)))).length", {
      concurrency: 3,
    });
    expect(s.result).toBe(12);
    expect(gw.stats().maxInFlight).toBe(3);
  });

  it('stops at the 1000-agent backstop: agent 1001 throws, 1000 requests reach the gateway', async () => {
    const { run, gw } = await setup();
    const s = await run(
      `const out = await parallel(Array.from({ length: 1001 }, (_, i) => () => agent('p' + i)));
       return { nulls: out.filter((x) => x === null).length, last: out[1000] };`,
      { concurrency: 16 },
    );
    expect(s.result).toEqual({ nulls: 1, last: null });
    expect(gw.stats().requests).toBe(1000);
    const direct = await run("for (let i = 0; i < 3; i++) await agent('p' + i)", { maxAgents: 2 });
    expect(direct.error).toMatchObject({ code: 'AGENT_LIMIT', line: 2 });
  });

  it('budget: total, spent() and remaining() in output tokens; agent() throws once spent', async () => {
    const { run, gw } = await setup();
    const s = await run(
      `const seen = [budget.total, budget.spent(), budget.remaining()];
       await agent('spend 1'); seen.push(budget.spent(), budget.remaining());
       await agent('spend 2'); seen.push(budget.spent(), budget.remaining());
       try { await agent('spend 3'); seen.push('ran'); } catch (e) { seen.push(e.message); }
       return seen;`,
      { budgetTokens: 50 },
    );
    expect(s.result).toEqual([50, 0, 50, 30, 20, 60, 0, "agent(): the run's budget of 50 output tokens is spent"]);
    expect(gw.stats().requests).toBe(2);
  });
});

describe('phase(), log(), args', () => {
  it('tags agents with the current phase, stores logs, and passes args verbatim', async () => {
    const { run, store } = await setup();
    const s = await run(
      `phase('Scan'); log('starting ' + args.repo);
       await agent('p1', { label: 'first' });
       phase('Fix'); await agent('p2'); await agent('p3', { phase: 'Override' });
       return args;`,
      { args: { repo: 'acme', n: [1, 2] } },
    );
    expect(s.result).toEqual({ repo: 'acme', n: [1, 2] });
    const calls = (await store.listCalls(s.runId)).sort((a, b) => a.startedAt - b.startedAt);
    expect(calls.map((c) => [c.label, c.phase])).toEqual([
      ['first', 'Scan'],
      ['p2', 'Fix'],
      ['p3', 'Override'],
    ]);
    const events = await store.listEvents(s.runId);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['phase', { title: 'Scan' }],
      ['log', { message: 'starting acme' }],
      ['phase', { title: 'Fix' }],
    ]);
  });
});

describe('workflow()', () => {
  it('runs a nested workflow with its own args, one level deep only', async () => {
    const { run, dir } = await setup();
    ccScript(dir, "return 'child saw ' + args.x + ' and ' + (await agent('p9'));", 'child.js', 'child');
    ccScript(dir, "return await workflow('child', {});", 'grandparent-child.js', 'inner');
    ccScript(dir, "return await workflow('grandparent-child');", 'middle.js', 'middle');
    const s = await run("return await workflow('child', { x: 41 })");
    expect(s.result).toBe('child saw 41 and r9');
    const deep = await run("return await workflow('middle')");
    expect(deep.status).toBe('failed');
    expect(deep.error?.message).toMatch(/workflow\(\): a nested workflow cannot start another/);
    const missing = await run("return await workflow('nope')");
    expect(missing.error?.message).toMatch(/workflow\(\): no workflow "nope"/);
  });
});

describe('the script sandbox', () => {
  it('has no Node APIs', async () => {
    const { run } = await setup();
    const s = await run('return [typeof require, typeof process, typeof setImmediate, typeof fetch, typeof globalThis.Buffer]');
    expect(s.result).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined']);
  });

  it('journals Date.now(), new Date() and Math.random(): a resume replays the same values', async () => {
    const { run, store, gw } = await setup();
    const body = `const a = Date.now(); const b = new Date().getTime(); const r = Math.random();
      await agent('p' + Math.floor(r * 1000));
      return { a, b, r, iso: new Date(a).toISOString(), ok: new Date() instanceof Date, str: typeof Date() };`;
    const first = await run(body);
    expect(first.status).toBe('completed');
    const result = first.result as { a: number; r: number; ok: boolean; str: string };
    expect(result.ok).toBe(true);
    expect(result.str).toBe('string');
    await new Promise((r) => setTimeout(r, 20));
    const again = await resumeRun({ store, runId: first.runId, gateway: gw.url });
    expect(again.result).toEqual(first.result);
    expect(again.calls).toMatchObject({ total: 1, executed: 0, reused: 1, failed: 0 });
    expect(gw.stats().requests).toBe(1);
    const other = await run(body);
    expect((other.result as { r: number }).r).not.toBe(result.r);
  });
});

describe('sh()', () => {
  it('returns exitCode, stdout and stderr; env and cwd apply; timeouts exit 124', async () => {
    const { run, dir } = await setup();
    writeFileSync(join(dir, 'here.txt'), 'x');
    const s = await run(`
      const a = await sh('echo out; echo err >&2; exit 3');
      const b = await sh('echo $GREETING; ls', { env: { GREETING: 'hi' } });
      const c = await sh('sleep 5', { timeoutMs: 100 });
      return [a, b.stdout.includes('hi') && b.stdout.includes('here.txt'), c.exitCode];`);
    expect(s.result).toEqual([{ exitCode: 3, stdout: 'out\n', stderr: 'err\n' }, true, 124]);
  });

  it('is journaled: a resume does not run the command again', async () => {
    const { run, store, dir, gw } = await setup();
    const counter = join(dir, 'count.txt');
    const s = await run(`return (await sh('echo x >> ${counter}; wc -l < ${counter}')).stdout.trim()`);
    const again = await resumeRun({ store, runId: s.runId, gateway: gw.url });
    expect(again.result).toBe(s.result);
    expect(again.calls.reused).toBe(1);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8')).toBe('x\n');
  });
});

describe('sleep()', () => {
  it('sleeps, and a resume of a finished sleep does not wait', async () => {
    const { run, store, gw } = await setup();
    const s = await run('await sleep(300); return 1');
    expect(s.durationMs).toBeGreaterThanOrEqual(290);
    const again = await resumeRun({ store, runId: s.runId, gateway: gw.url });
    expect(again.durationMs).toBeLessThan(250);
  });
});

describe('module form', () => {
  it('runs a defineWorkflow TypeScript module with ctx, step() journaled', async () => {
    const { store, gw, dir } = await setup();
    const counter = join(dir, 'steps.txt');
    const file = write(
      dir,
      'wf.ts',
      `import { appendFileSync } from 'node:fs';
       import { defineWorkflow } from '${join(import.meta.dirname, '..', 'src', 'index.ts')}';
       const n: number = 2;
       export default defineWorkflow({ name: 'mod', description: 'module form' }, async (ctx) => {
         ctx.phase('Work');
         const stepped = await ctx.step('touch', () => { appendFileSync(${JSON.stringify(counter)}, 'x'); return { n }; });
         const texts = await ctx.parallel([() => ctx.agent('p1'), () => ctx.agent('p2')]);
         return { stepped, texts, t: ctx.now() > 0, args: ctx.args };
       });`,
    );
    const s = await runWorkflow({ store, script: file, gateway: gw.url, args: { a: 1 }, workdir: dir });
    expect(s.status, JSON.stringify(s.error)).toBe('completed');
    expect(s.result).toEqual({ stepped: { n: 2 }, texts: ['r1', 'r2'], t: true, args: { a: 1 } });
    const again = await resumeRun({ store, runId: s.runId, gateway: gw.url });
    expect(again.result).toEqual(s.result);
    expect(again.calls).toMatchObject({ total: 3, executed: 0, reused: 3, failed: 0 });
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8')).toBe('x');
  });
});

describe('ask()', () => {
  it('picks up an answer given from another connection while the run is still going', async () => {
    const { run, store } = await setup();
    const { answerQuestion } = await import('../src/workflow/index.js');
    const pending = run(`
      const [answer, slow] = await parallel([
        () => ask('Which region?', { choices: ['eu', 'us'] }),
        () => agent('slow work'),
      ]);
      return { answer, slow };`);
    // Answer as soon as the question exists, while the slow agent is still in flight.
    const { createStore } = await import('../src/store/index.js');
    const other = createStore(store.location);
    let answered = false;
    for (let i = 0; i < 100 && !answered; i++) {
      const runs = await other.listRuns();
      const runId = runs[0]?.id;
      const questions = runId ? await other.listQuestions(runId) : [];
      if (runId && questions[0]) {
        await answerQuestion(other, runId, questions[0].id, 'eu');
        answered = true;
      } else await new Promise((r) => setTimeout(r, 20));
    }
    await other.close();
    expect(answered).toBe(true);
    const s = await pending;
    expect(s).toMatchObject({ status: 'completed', result: { answer: 'eu', slow: 'done work' } });
  });
});

describe('tasks.* in workflows', () => {
  it('works on the run’s list, journaled: a resume does not claim again', async () => {
    const { run, store, gw } = await setup();
    const { TaskBoard } = await import('../src/tasks/index.js');
    const s = await run(
      `const build = await tasks.create({ subject: 'build' });
       const test = await tasks.create({ subject: 'test', blockedBy: [build.id] });
       const first = await tasks.claim({ owner: 'wf' });
       let blocked = null;
       try { await tasks.claim({ id: test.id }); } catch (e) { blocked = e.code; }
       await tasks.complete(first.id);
       const ready = (await tasks.ready()).map((t) => t.id);
       return { list: tasks.listId, first: first.id, blocked, ready, all: (await tasks.list()).map((t) => t.status) };`,
      { taskList: 'wf-list' },
    );
    expect(s.status, JSON.stringify(s.error)).toBe('completed');
    expect(s.result).toEqual({ list: 'wf-list', first: '1', blocked: 'BLOCKED', ready: ['2'], all: ['completed', 'pending'] });
    const board = new TaskBoard(store, 'wf-list', { name: 'check' });
    const events = await board.history();
    expect(events.filter((e) => e.kind === 'claimed')).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: 'workflow:test-workflow', session: s.runId });
    // The resume replays every operation, the refused claim included (now it would succeed).
    const again = await resumeRun({ store, runId: s.runId, gateway: gw.url });
    expect(again.result).toEqual(s.result);
    expect(again.calls).toMatchObject({ total: 7, executed: 0, reused: 7, failed: 0 });
    expect((await board.history()).length).toBe(events.length); // nothing was done twice
    expect((await board.list()).length).toBe(2);
  });
});
