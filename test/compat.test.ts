import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeRun, runState, runWorkflow } from '../src/workflow/index.js';
import { bareRun, ccScript, FAST_BACKOFF, gateway, ROOT, tempDir, tempStore, write } from './helpers.js';

/**
 * drover's side of the compatibility table in docs/workflows.md: what Claude Code's Workflow
 * tool (2.1.197) accepts, drover accepts — and says what it ignored.
 */
const ECHO = `
rules:
  - name: fail
    match: { prompt: '^boom' }
    faults: [{ status: 500, times: 100 }]
    turns: [{ text: never }]
  - name: echo
    match: { prompt: '^(.*)$' }
    turns: [{ text: 'echo {{1}}' }]
`;

async function setup() {
  const dir = tempDir();
  const gw = await gateway(ECHO);
  const { store } = tempStore(dir);
  const logs: string[] = [];
  const run = (body: string, extra: Partial<Parameters<typeof runWorkflow>[0]> = {}) =>
    runWorkflow({
      store,
      script: ccScript(dir, body),
      gateway: gw.url,
      workdir: dir,
      backoff: FAST_BACKOFF,
      onEvent: (e) => e.type === 'log' && logs.push(e.message),
      ...extra,
    });
  return { dir, gw, store, run, logs };
}

describe('agent() accepts what Claude Code accepts, and says what it ignored', () => {
  it('an unknown option, a non-string prompt and an unknown effort are warnings, not failures (also inside parallel)', async () => {
    const { run, store, logs } = await setup();
    const s = await run(`
      const a = await agent('hello', { unknownOption: 1 });
      const b = await agent(42);
      const c = await agent({ task: 'x' });
      const d = await agent('think', { effort: 'ultra' });
      const e = await parallel([() => agent('in parallel', { bogus: true, label: 7 })]);
      return [a, b, c, d, e];`);
    expect(s.status).toBe('completed');
    expect(s.result).toEqual(['echo hello', 'echo 42', 'echo {"task":"x"}', 'echo think', ['echo in parallel']]);
    expect(s.calls).toMatchObject({ executed: 5, failed: 0 });
    const status = await describeRun(store, s.runId);
    expect(status.warnings).toEqual([
      'agent(): unknown option "unknownOption" ignored',
      'agent(): the prompt is 42, not a string; sent as its text "42"',
      'agent(): the prompt is an object, not a string; sent as its text "{\\"task\\":\\"x\\"}"',
      expect.stringMatching(/^agent\(\): option effort "ultra" ignored/),
      'agent(): unknown option "bogus" ignored',
      expect.stringMatching(/^agent\(\): option label 7 ignored/),
    ]);
    expect(logs.filter((l) => l.startsWith('warning: '))).toHaveLength(6);
  });

  it('counts agents that failed, apart from those that succeeded', async () => {
    const { run } = await setup();
    const s = await run(`return parallel([() => agent('ok'), () => agent('boom')]);`);
    expect(s.status).toBe('completed');
    expect(s.result).toEqual(['echo ok', null]);
    expect(s.calls).toMatchObject({ total: 2, executed: 1, failed: 1, reused: 0 });
  });
});

describe('the script globals behave as in Claude Code', () => {
  it('setTimeout and clearTimeout exist', async () => {
    const { run } = await setup();
    const s = await run(`
      let fired = [];
      const cancelled = setTimeout(() => fired.push('cancelled'), 1);
      clearTimeout(cancelled);
      await new Promise((resolve) => setTimeout((x) => { fired.push(x); resolve(); }, 1, 'fired'));
      return [typeof setTimeout, typeof clearTimeout, fired];`);
    expect(s.result).toEqual(['function', 'function', ['fired']]);
  });

  it('pipeline(items) with no stages returns the items', async () => {
    const { run } = await setup();
    expect((await run('return pipeline([1, 2, 3])')).result).toEqual([1, 2, 3]);
  });

  it('with no budget, budget.total is null and remaining() is Infinity; with no args, args is undefined', async () => {
    const { run } = await setup();
    const s = await run('return [budget.total, budget.remaining() === Infinity, typeof args, budget.spent()]');
    expect(s.result).toEqual([null, true, 'undefined', 0]);
    const t = await run('return [budget.total, budget.remaining()]', { budgetTokens: 50 });
    expect(t.result).toEqual([50, 50]);
  });

  it('log() and console.log() log every argument', async () => {
    const { run, logs } = await setup();
    await run(`log('a', 'b', 3); console.log('c', { d: 1 }, [2]);`);
    expect(logs).toContain('a b 3');
    expect(logs).toContain('c {"d":1} [2]');
  });
});

describe('scripts find files beside themselves; sh runs in the run workdir', () => {
  it('scriptDir is the script folder, and sh() defaults to the workdir', async () => {
    const dir = tempDir();
    const scripts = tempDir();
    write(scripts, 'data.txt', 'beside the script');
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      workdir: dir,
      script: ccScript(
        scripts,
        `
        const here = await sh('pwd');
        const data = await sh('cat data.txt', { cwd: scriptDir });
        return [scriptDir, here.stdout.trim(), data.stdout];`,
      ),
    });
    expect(s.result).toEqual([scripts, dir, 'beside the script']);
  });
});

describe('inputs are checked before a run exists', () => {
  it('a script of sh calls needs no model endpoint; an agent without one fails the run naming what it tried', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const saved = { a: process.env.ANTHROPIC_API_KEY, b: process.env.ANTHROPIC_BASE_URL };
    delete process.env.ANTHROPIC_API_KEY;
    process.env.ANTHROPIC_BASE_URL = 'http://127.0.0.1:9';
    try {
      const sh = await runWorkflow({ store, workdir: dir, script: ccScript(dir, `return (await sh('echo hi')).stdout.trim()`) });
      expect(sh).toMatchObject({ status: 'completed', result: 'hi' });
      const agent = await runWorkflow({ store, workdir: dir, script: ccScript(dir, `return parallel([() => agent('x')])`, 'a.js') });
      expect(agent.status).toBe('failed');
      expect(agent.error?.code).toBe('NO_ENDPOINT');
      expect(agent.error?.message).toMatch(/ANTHROPIC_API_KEY.*http:\/\/127\.0\.0\.1:9/);
    } finally {
      if (saved.a !== undefined) process.env.ANTHROPIC_API_KEY = saved.a;
      if (saved.b !== undefined) process.env.ANTHROPIC_BASE_URL = saved.b;
      else delete process.env.ANTHROPIC_BASE_URL;
    }
  });

  it('an invalid scenario, a script that does not parse or a non-http gateway leave no run behind', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const script = ccScript(dir, 'return 1');
    await expect(runWorkflow({ store, script, sim: write(dir, 'bad.yaml', 'rules: [{ turns: [] }]') })).rejects.toMatchObject({
      exitCode: 2,
    });
    await expect(runWorkflow({ store, script: ccScript(dir, 'return (', 'typo.js') })).rejects.toMatchObject({
      code: 'SCRIPT_SYNTAX',
      message: expect.stringMatching(/SyntaxError/),
    });
    await expect(runWorkflow({ store, script, gateway: 'file:///etc/passwd' })).rejects.toThrow(/not an http\(s\) URL/);
    expect(await store.listRuns()).toEqual([]);
  });
});

describe('a run whose driver is gone shows as interrupted', () => {
  it('a running run with a dead holder or an expired lease is interrupted; a live one is running', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const run = await bareRun(store, 'r-interrupted', dir);
    await store.updateRun(run.id, { status: 'running' }, Date.now());
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const now = Date.now();
    await store.acquireRunLease({
      runId: run.id,
      holder: { token: 't1', pid: dead, host: hostname() },
      ttlMs: 60_000,
      now,
      isHolderGone: () => true,
    });
    expect(runState((await store.getRun(run.id))!)).toBe('interrupted');
    expect((await describeRun(store, run.id)).status).toBe('interrupted');
    await store.acquireRunLease({
      runId: run.id,
      holder: { token: 't2', pid: process.pid, host: hostname() },
      ttlMs: 60_000,
      now,
      isHolderGone: () => true,
    });
    const live = (await store.getRun(run.id))!;
    expect(runState(live)).toBe('running');
    expect(runState(live, now + 61_000)).toBe('interrupted');
  });
});

describe('module form in CommonJS', () => {
  it('a .cjs file exporting defineWorkflow() runs as a module workflow', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const script = write(
      dir,
      'wf.cjs',
      `const { defineWorkflow } = require(${JSON.stringify(join(ROOT, 'dist', 'workflow-entry.js'))});
       module.exports = defineWorkflow({ name: 'cjs', description: 'CommonJS module' }, async (ctx) => (await ctx.sh('echo cjs')).stdout.trim());`,
    );
    expect(await runWorkflow({ store, script, workdir: dir })).toMatchObject({ status: 'completed', result: 'cjs' });
  });
});

describe('failures name what they tried to reach', () => {
  it('a connection error names the endpoint and the API', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const reasons: string[] = [];
    const s = await runWorkflow({
      store,
      workdir: dir,
      gateway: 'http://127.0.0.1:9',
      backoff: { ...FAST_BACKOFF, maxAttempts: 2 },
      script: ccScript(dir, `return parallel([() => agent('unreachable')]);`),
      onEvent: (e) => e.type === 'retry' && reasons.push(e.reason),
    });
    expect(s.calls).toMatchObject({ failed: 1 });
    const [call] = await store.listCalls(s.runId);
    expect(call?.error?.message).toMatch(/anthropic at http:\/\/127\.0\.0\.1:9/);
    expect(reasons[0]).toMatch(/127\.0\.0\.1:9/);
  });
});

describe('bad input is refused cleanly', () => {
  it('racing runs with one --run-id: one runs, the other hears RUN_EXISTS (exit 2), not a SQLite error', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const script = ccScript(dir, `return (await sh('echo once')).stdout.trim()`);
    const outcomes = await Promise.allSettled([0, 1, 2].map(() => runWorkflow({ store, script, workdir: dir, runId: 'same' })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 'RUN_EXISTS', exitCode: 2 });
    }
  });

  it('an empty or path-like --run-id and args nested too deep are refused with exit 2', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const script = ccScript(dir, 'return 1');
    await expect(runWorkflow({ store, script, runId: '' })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/--run-id/),
    });
    await expect(runWorkflow({ store, script, runId: '../../x' })).rejects.toMatchObject({ exitCode: 2 });
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    await expect(runWorkflow({ store, script, args: deep })).rejects.toMatchObject({
      exitCode: 2,
      message: '--args-json: the value nests deeper than 100 levels',
    });
    expect(await store.listRuns()).toEqual([]);
  });
});
