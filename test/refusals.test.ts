// Bad input is refused cleanly (issue 10 §6): `drover run` checks its script, flags and endpoint
// before it touches the store (no empty store is left behind), every whole-number DROVER_* variable
// is checked with exit 2 naming it and the accepted form, and a result JSON cannot hold is named
// with where it sits.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envInt, NUMERIC_ENV } from '../src/config/index.js';
import { describeNonJson, nonJsonValue } from '../src/core/json.js';
import { createStore } from '../src/store/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, lastJson, onCleanup, ROOT, spawnCli, tempDir, tempStore, waitFor, write } from './helpers.js';

describe('drover run refuses bad input before it creates a store', () => {
  it.each([
    ['a missing script', () => ['missing.js'], /missing\.js: cannot read workflow script/],
    ['a syntax error', (dir: string) => [write(dir, 'bad.js', 'return 1 +\n')], /bad\.js:2:1: SyntaxError/],
    ['a script without meta', (dir: string) => [write(dir, 'nometa.js', 'return 1;\n')], /must declare `export const meta/],
    ['an unknown backend', (dir: string) => [ccScript(dir, 'return 1'), '--backend', 'nope'], /--backend: "nope" is not a backend/],
    [
      'a gateway that is not http',
      (dir: string) => [ccScript(dir, 'return 1'), '--gateway', 'file:///etc/passwd'],
      /--gateway: .* is not an http\(s\) URL/,
    ],
    ['a missing scenario', (dir: string) => [ccScript(dir, 'return 1'), '--sim', 'nope.yaml'], /nope\.yaml: cannot read scenario/],
    ['bad --args-json', (dir: string) => [ccScript(dir, 'return 1'), '--args-json', '{'], /--args-json: not valid JSON/],
    [
      'a run id that is a path',
      (dir: string) => [ccScript(dir, 'return 1'), '--run-id', '../../x'],
      /--run-id: "\.\.\/\.\.\/x" is not a valid run id/,
    ],
    ['an empty run id', (dir: string) => [ccScript(dir, 'return 1'), '--run-id', ''], /--run-id/],
    ['a zero concurrency', (dir: string) => [ccScript(dir, 'return 1'), '--concurrency', '0'], /--concurrency must be a whole number/],
    [
      'a huge concurrency',
      (dir: string) => [ccScript(dir, 'return 1'), '--concurrency', '99999999999999999999'],
      /--concurrency must be a whole number from 1 to 256/,
    ],
    [
      'a negative concurrency',
      (dir: string) => [ccScript(dir, 'return 1'), '--concurrency=-3'],
      /--concurrency must be a whole number from 1 to 256/,
    ],
    [
      'an exponent for a count',
      (dir: string) => [ccScript(dir, 'return 1'), '--max-agents', '1e3'],
      /--max-agents must be a whole number ≥ 1/,
    ],
    [
      'a fraction of a token',
      (dir: string) => [ccScript(dir, 'return 1'), '--budget-tokens', '2.5'],
      /--budget-tokens must be a whole number ≥ 0/,
    ],
    ['--from a run of a store that does not exist', (dir: string) => [ccScript(dir, 'return 1'), '--from', 'r1'], /no drover store at/],
  ])('%s: exit 2, no store file', async (_what, args, message) => {
    const dir = tempDir();
    const store = join(dir, 'state', 'drover.db');
    const r = await cli(['run', ...args(dir)], { cwd: dir, env: { DROVER_STORE: store } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(store)).toBe(false);
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('a good run still creates the store', async () => {
    const dir = tempDir();
    const store = join(dir, 'state', 'drover.db');
    const r = await cli(['run', ccScript(dir, 'return 1'), '--json'], { cwd: dir, env: { DROVER_STORE: store } });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(store)).toBe(true);
  });
});

describe('whole-number DROVER_* variables', () => {
  const names = Object.keys(NUMERIC_ENV) as (keyof typeof NUMERIC_ENV)[];

  it.each(names)(
    '%s: a non-number or out-of-range value is exit 2 naming it and the accepted form, before any store exists',
    async (name) => {
      const dir = tempDir();
      const store = join(dir, 'drover.db');
      const spec = NUMERIC_ENV[name];
      for (const bad of ['abc', '-5', '1e3', String(spec.min - 1), String(spec.max + 1)]) {
        const r = await cli(['run', ccScript(dir, 'return 1'), '--json'], { cwd: dir, env: { DROVER_STORE: store, [name]: bad } });
        expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
        expect(r.stderr).toContain(`${name}: must be a whole number of ${spec.unit} from ${spec.min} to ${spec.max}, got "${bad}"`);
        expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'INVALID_INPUT' } });
        expect(readdirSync(dir).filter((f) => f.startsWith('drover.db'))).toEqual([]);
      }
    },
  );

  it('read-only commands refuse them too, and a good value is taken', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 'drover.db') };
    const r = await cli(['tasks', 'list'], { cwd: dir, env: { ...env, DROVER_LEASE_TTL_MS: 'soon' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DROVER_LEASE_TTL_MS: must be a whole number of milliseconds');
    const small = await cli(['run', ccScript(dir, "return 'x'.repeat(50)"), '--json'], {
      cwd: dir,
      env: { ...env, DROVER_MAX_RESULT_BYTES: '20' },
    });
    expect(small.code).toBe(1);
    expect(lastJson(small.stdout)).toMatchObject({
      error: { code: 'RESULT_TOO_LARGE', message: expect.stringContaining('the limit is 20') },
    });
  });

  it('envInt: defaults when unset or blank, plain digits otherwise', () => {
    expect(envInt('DROVER_LEASE_TTL_MS', {})).toBe(30_000);
    expect(envInt('DROVER_LEASE_TTL_MS', { DROVER_LEASE_TTL_MS: ' ' })).toBe(30_000);
    expect(envInt('DROVER_LEASE_TTL_MS', { DROVER_LEASE_TTL_MS: '1500' })).toBe(1500);
    expect(envInt('DROVER_CONCURRENCY', {})).toBeUndefined();
    expect(() => envInt('DROVER_SCRIPT_CPU_MS', { DROVER_SCRIPT_CPU_MS: '0x10' })).toThrow(/DROVER_SCRIPT_CPU_MS: must be a whole number/);
  });
});

describe('a result JSON cannot hold is named with where it sits', () => {
  it.each([
    ['a BigInt', 'return { a: [1, { n: 10n }] };', 'the returned value.a[1].n is a BigInt (10n); JSON has no BigInt'],
    ['a cycle', 'const o = { k: 1 }; o.me = o; return { list: [o] };', 'the returned value.list[0].me is a cycle back to .list[0]'],
    ['a function', 'return { ok: true, "next step": agent };', 'the returned value["next step"] is a function'],
    ['a Symbol at the top', "return Symbol('x');", 'the returned value is a Symbol'],
  ])('Claude Code form, %s: the run fails with the place', async (_what, body, message) => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const s = await runWorkflow({ store, workdir: dir, script: ccScript(dir, body) });
    expect(s.status).toBe('failed');
    expect(s.error?.message).toContain(message);
  });

  it('a parallel item that returns one fails that item, naming it', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      workdir: dir,
      script: ccScript(dir, 'return await parallel([() => 1, () => ({ big: 2n ** 70n })]);'),
    });
    expect(s).toMatchObject({ status: 'completed', result: [1, null] });
    const logs = (await store.listEvents(s.runId)).filter((e) => e.type === 'log').map((e) => JSON.stringify(e.data));
    expect(logs.join('\n')).toContain('the returned value.big is a BigInt (1180591620717411303424n)');
  });

  it('module form: the workflow return value and a step result', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const entry = JSON.stringify(join(ROOT, 'dist', 'workflow-entry.js'));
    const mod = (name: string, body: string) =>
      write(
        dir,
        name,
        `import { defineWorkflow } from ${entry};\nexport default defineWorkflow({ name: 'm', description: 'd' }, async (ctx) => { ${body} });\n`,
      );
    const ret = await runWorkflow({ store, workdir: dir, script: mod('ret.mjs', 'return { total: 5n };') });
    expect(ret.error).toMatchObject({
      code: 'RESULT_NOT_JSON',
      message: expect.stringContaining("the workflow's return value.total is a BigInt (5n)"),
    });
    const step = await runWorkflow({
      store,
      workdir: dir,
      script: mod('step.mjs', "return await ctx.step('count', async () => ({ n: 1n }));"),
    });
    expect(step.error?.message).toContain('step("count"): the result.n is a BigInt (1n)');
  });

  it('nonJsonValue walks any depth and any data without a false alarm', () => {
    let deep: unknown = { leaf: 1n };
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(nonJsonValue(deep)?.path).toBe(`${'[0]'.repeat(100_000)}.leaf`);
    const shared = { x: 1 };
    expect(nonJsonValue({ a: shared, b: shared, c: [shared], d: undefined, e: new Date(0), f: null, g: 'text' })).toBeUndefined();
    expect(nonJsonValue({ t: { toJSON: () => 3n } })).toEqual({ path: '.t', what: 'a BigInt (3n)' });
    expect(describeNonJson({ a: 1 }, 'x')).toBeUndefined();
  });
});

describe('--plan on a run a live process is driving', () => {
  it('warns that the plan may change while it runs; without a driver there is no warning', async () => {
    const dir = tempDir();
    const path = join(dir, 'drover.db');
    const env = { DROVER_STORE: path };
    const scenario = write(
      dir,
      'held.yaml',
      "rules:\n  - name: held\n    match: { prompt: '^held' }\n    latency_ms: 600000\n    turns: [{ text: 'late' }]\n",
    );
    const script = ccScript(dir, "await sh('true');\nreturn await agent('held one');");
    const held = spawnCli(['run', script, '--sim', scenario, '--run-id', 'live'], { cwd: dir, env });
    const store = createStore(path);
    onCleanup(() => store.close());
    // The sh call is journaled and the agent is held at the gateway: the run is being driven.
    await waitFor(
      async () => ((await store.listCalls('live')).some((c) => c.kind === 'agent') ? true : undefined),
      30_000,
      'the agent call',
    );
    const text = await cli(['resume', 'live', '--plan'], { cwd: dir, env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /warning: run live is being driven right now \(pid \d+ on .+\): its journal is still growing, so this plan may change while it runs/,
    );
    const json = await cli(['resume', 'live', '--plan', '--json'], { cwd: dir, env });
    expect(lastJson(json.stdout).warnings).toEqual([expect.stringContaining('this plan may change while it runs')]);
    expect(json.stderr).toContain('warning: run live is being driven right now');
    const from = await cli(['run', script, '--from', 'live', '--plan', '--json'], { cwd: dir, env });
    expect(lastJson(from.stdout).warnings).toEqual([expect.stringContaining('run live is being driven right now')]);
    held.kill('SIGINT');
    expect((await held.done).code).toBe(130);
    const after = await cli(['resume', 'live', '--plan', '--json'], { cwd: dir, env });
    expect(lastJson(after.stdout).warnings).toEqual([]);
    expect(after.stderr).not.toContain('warning');
  });
});
