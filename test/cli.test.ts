import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, SQLITE_SCHEMA_VERSION } from '../src/store/index.js';
import { ccScript, cli, gatewayProcess, lastJson, onCleanup, spawnCli, tempDir, waitFor, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: slow
    match: { prompt: '^task (\\d+)' }
    latency_ms: 150
    turns: [{ text: 'answer {{1}}' }]
  - name: quick
    match: { prompt: '^quick (\\w+)' }
    turns: [{ text: 'quick {{1}}' }]
  - name: held
    match: { prompt: '^held (\\w+)' }
    hold: held
    turns: [{ text: 'held {{1}}' }]
`;

/** Waits until `count` requests reached the gateway process's gate `name` (an event, not a time). */
async function arrived(url: string, name: string, count = 1): Promise<void> {
  await waitFor(
    async () => ((await (await fetch(`${url}/_drover/gates/${name}`)).json()) as { arrived: number }).arrived >= count || undefined,
    60_000,
    `${count} request(s) at gate ${name}`,
  );
}

const TWELVE = `
phase('Work');
const out = await parallel(Array.from({ length: 12 }, (_, i) => () => agent('task ' + i, { label: 'task ' + i })));
return out;
`;

function openStore(path: string) {
  const store = createStore(path);
  onCleanup(() => store.close());
  return store;
}

async function setup() {
  const dir = tempDir();
  const scenario = write(dir, 'scenario.yaml', SCENARIO);
  const gw = await gatewayProcess(scenario);
  const storePath = join(dir, 'drover.db');
  const env = { DROVER_STORE: storePath };
  return { dir, gw, storePath, env };
}

describe('drover run / resume as processes', () => {
  it('finishes after kill -9 without re-requesting any finished agent call, with the same result', async () => {
    const { dir, gw, storePath, env } = await setup();
    const script = ccScript(dir, TWELVE);

    // Reference: the same workflow uninterrupted, in another store.
    const reference = await cli(['run', script, '--gateway', gw.url, '--concurrency', '2', '--json'], {
      env: { DROVER_STORE: join(dir, 'ref.db') },
    });
    expect(reference.code, reference.stderr).toBe(0);
    const expected = lastJson(reference.stdout).result;
    expect(expected).toEqual(Array.from({ length: 12 }, (_, i) => `answer ${i}`));
    await fetch(`${gw.url}/_drover/reset`, { method: 'POST' });

    const child = spawnCli(['run', script, '--gateway', gw.url, '--concurrency', '2', '--run-id', 'crash-me', '--json'], { env });
    const store = openStore(storePath);
    await waitFor(
      async () => {
        const calls = await store.listCalls('crash-me').catch(() => []);
        return calls.filter((c) => c.status === 'finished').length >= 4 || undefined;
      },
      20_000,
      '4 finished agents',
    );
    child.kill('SIGKILL');
    const killed = await child.done;
    expect(killed.signal).toBe('SIGKILL');

    const finishedBefore = (await store.listCalls('crash-me')).filter((c) => c.status === 'finished');
    expect(finishedBefore.length).toBeGreaterThanOrEqual(4);
    expect(finishedBefore.length).toBeLessThan(12);
    const run = await store.getRun('crash-me');
    expect(run?.status).toBe('running'); // the dead process never finished it
    expect(run?.lease).not.toBeNull();

    // Right after the kill: the lease of a dead PID is taken over at once.
    const resumed = await cli(['resume', 'crash-me', '--json'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = lastJson(resumed.stdout);
    expect(summary).toMatchObject({ runId: 'crash-me', status: 'completed', result: expected });
    expect((summary.calls as { reused: number }).reused).toBe(finishedBefore.length);

    const log = (await gw.stats()).log;
    for (const call of finishedBefore) {
      const prompt = (call.inputs as { prompt: string }).prompt;
      expect(log.filter((e) => e.prompt === prompt).length, prompt).toBe(1);
    }
    // Every prompt was answered at least once; at most the two in flight at the kill were asked twice.
    expect(log.length).toBeGreaterThanOrEqual(12);
    expect(log.length).toBeLessThanOrEqual(14);
  });

  it('resume --script re-runs only the calls an edit changed', async () => {
    const { dir, gw, env } = await setup();
    const v1 = ccScript(dir, "return [await agent('quick a'), await agent('quick b'), await agent('quick c')]", 'v1.js');
    const first = await cli(['run', v1, '--gateway', gw.url, '--run-id', 'edit-me', '--json'], { env });
    expect(lastJson(first.stdout).result).toEqual(['quick a', 'quick b', 'quick c']);
    // Edit: b changes, d is new, a and c stay (c moves: identity is not positional).
    const v2 = ccScript(
      dir,
      "return [await agent('quick c'), await agent('quick a'), await agent('quick bee'), await agent('quick d')]",
      'v2.js',
    );
    await fetch(`${gw.url}/_drover/reset`, { method: 'POST' });
    const second = await cli(['resume', 'edit-me', '--script', v2, '--json'], { env });
    const summary = lastJson(second.stdout);
    expect(summary).toMatchObject({
      status: 'completed',
      result: ['quick c', 'quick a', 'quick bee', 'quick d'],
      calls: { total: 4, executed: 2, reused: 2 },
    });
    const prompts = (await gw.stats()).log.map((e) => e.prompt).sort();
    expect(prompts).toEqual(['quick bee', 'quick d']);
  });

  it('run --from reuses another run’s finished calls', async () => {
    const { dir, gw, env } = await setup();
    const script = ccScript(dir, "return [await agent('quick x'), await agent('quick y')]");
    await cli(['run', script, '--gateway', gw.url, '--run-id', 'origin', '--json'], { env });
    await fetch(`${gw.url}/_drover/reset`, { method: 'POST' });
    const script2 = ccScript(dir, "return [await agent('quick x'), await agent('quick z')]", 'wf2.js');
    const r = await cli(['run', script2, '--gateway', gw.url, '--from', 'origin', '--run-id', 'copy', '--json'], { env });
    expect(lastJson(r.stdout)).toMatchObject({ status: 'completed', calls: { total: 2, executed: 1, reused: 1 } });
    expect((await gw.stats()).requests).toBe(1);
    // The copy now owns the reused entry: resuming it makes no requests even without the origin.
    const again = await cli(['resume', 'copy', '--json'], { env });
    expect(lastJson(again.stdout)).toMatchObject({ calls: { executed: 0, reused: 2 } });
    expect((await gw.stats()).requests).toBe(1);
  });

  it('ask() makes the run wait; drover answer in another process; resume continues', async () => {
    const { dir, gw, env, storePath } = await setup();
    const script = ccScript(
      dir,
      `const plan = await agent('quick plan');
       const choice = await ask('Ship ' + plan + '?', { choices: ['yes', 'no'] });
       if (choice === 'yes') return await agent('quick ship');
       return 'held';`,
    );
    const first = await cli(['run', script, '--gateway', gw.url, '--run-id', 'asker', '--json'], { env });
    expect(first.code).toBe(4);
    const waiting = lastJson(first.stdout);
    expect(waiting).toMatchObject({ status: 'waiting', questions: [{ question: 'Ship quick plan?', choices: ['yes', 'no'] }] });
    const qid = (waiting.questions as { id: string }[])[0]?.id as string;

    const status = await cli(['status', 'asker', '--json'], { env });
    expect(lastJson(status.stdout)).toMatchObject({ status: 'waiting', questions: [{ id: qid, status: 'pending' }] });

    const wrong = await cli(['answer', 'asker', qid, 'maybe'], { env });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/answer "maybe" is not one of the choices: "yes", "no"/);

    const answered = await cli(['answer', 'asker', qid, 'yes'], { env });
    expect(answered.code, answered.stderr).toBe(0);
    const twice = await cli(['answer', 'asker', qid, 'no'], { env });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/already answered/);

    const resumed = await cli(['resume', 'asker', '--json'], { env });
    expect(lastJson(resumed.stdout)).toMatchObject({
      status: 'completed',
      result: 'quick ship',
      calls: { total: 3, executed: 1, reused: 2 },
    });
    expect((await gw.stats()).log.map((e) => e.prompt)).toEqual(['quick plan', 'quick ship']);
    const store = openStore(storePath);
    expect((await store.getRun('asker'))?.status).toBe('completed');
  });

  it('a second process cannot drive a run that is being driven', async () => {
    const { dir, gw, env } = await setup();
    // The first driver is held mid-agent by the gateway until the second process has been refused.
    const script = ccScript(dir, `return agent('held one');`);
    const child = spawnCli(['run', script, '--gateway', gw.url, '--run-id', 'busy', '--json'], { env });
    await arrived(gw.url, 'held');
    const second = await cli(['resume', 'busy', '--json'], { env });
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(/run busy is being driven by another process \(pid \d+ on /);
    expect(lastJson(second.stdout)).toMatchObject({ error: { code: 'RUN_BUSY' } });
    await fetch(`${gw.url}/_drover/gates/held/open`, { method: 'POST' });
    const first = await child.done;
    expect(first.code).toBe(0);
    expect(lastJson(first.stdout).status).toBe('completed');
  });

  it('two resumes racing for one interrupted run: exactly one drives it', async () => {
    const { dir, gw, env, storePath } = await setup();
    const script = ccScript(dir, TWELVE);
    const child = spawnCli(['run', script, '--gateway', gw.url, '--concurrency', '1', '--run-id', 'race', '--json'], { env });
    const store = openStore(storePath);
    await waitFor(
      async () => ((await store.listCalls('race')).some((c) => c.status === 'finished') ? true : undefined),
      10_000,
      'first call',
    );
    child.kill('SIGKILL');
    await child.done;
    const [a, b] = await Promise.all([cli(['resume', 'race', '--json'], { env }), cli(['resume', 'race', '--json'], { env })]);
    expect([a.code, b.code].sort()).toEqual([0, 5]);
    expect((await store.getRun('race'))?.status).toBe('completed');
  });
});

describe('script errors', () => {
  it('a syntax error names file, line and column, exits 2 and leaves no run behind', async () => {
    const { dir, env, storePath } = await setup();
    const script = write(dir, 'broken.js', "export const meta = { name: 'b', description: 'd' };\nconst x = 1;\nconst y = (;\n");
    const r = await cli(['run', script, '--sim', join(dir, 'scenario.yaml'), '--run-id', 'syntax', '--json'], { env });
    expect(r.code).toBe(2);
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({ error: { code: 'SCRIPT_SYNTAX', file: script, line: 3, column: 12 } });
    expect((s.error as { message: string }).message).toBe(`${script}:3:12: SyntaxError: Unexpected token`);
    const store = openStore(storePath);
    expect(await store.getRun('syntax')).toBeUndefined();
  });

  it('a runtime error names file, line and column', async () => {
    const { dir, env } = await setup();
    const script = write(
      dir,
      'throws.js',
      "export const meta = { name: 't', description: 'd' };\nconst a = await agent('quick one');\nconst cfg = null;\nreturn cfg.value;\n",
    );
    const r = await cli(['run', script, '--sim', join(dir, 'scenario.yaml'), '--json'], { env });
    expect(r.code).toBe(1);
    const s = lastJson(r.stdout);
    expect(s.error).toMatchObject({ code: 'SCRIPT_RUNTIME', file: script, line: 4, column: 12 });
    expect((s.error as { message: string }).message).toMatch(/throws\.js:4:12: TypeError: Cannot read properties of null/);
  });

  it('meta must be a pure literal with name and description', async () => {
    const { dir, env } = await setup();
    const noDesc = write(dir, 'a.js', "export const meta = { name: 'x' };\nreturn 1;\n");
    const r1 = await cli(['run', noDesc, '--sim', join(dir, 'scenario.yaml'), '--json'], { env });
    expect(lastJson(r1.stdout).error).toMatchObject({ code: 'SCRIPT_META', line: 1, column: 21 });
    expect((lastJson(r1.stdout).error as { message: string }).message).toMatch(/meta\.description is required/);
    const computed = write(dir, 'b.js', "const n = 'x';\nexport const meta = { name: n, description: 'd' };\n");
    const r2 = await cli(['run', computed, '--sim', join(dir, 'scenario.yaml'), '--json'], { env });
    expect((lastJson(r2.stdout).error as { message: string }).message).toMatch(
      /b\.js:2:29: meta must be a pure literal: the shorthand|b\.js:2:\d+: meta must be a pure literal: identifier is not allowed/,
    );
    const imports = write(dir, 'c.js', "import fs from 'node:fs';\nexport const meta = { name: 'c', description: 'd' };\n");
    const r3 = await cli(['run', imports, '--sim', join(dir, 'scenario.yaml'), '--json'], { env });
    expect((lastJson(r3.stdout).error as { message: string }).message).toMatch(/c\.js:1:1: import is not available in workflow scripts/);
  });

  it('bad input is refused with exit 2 and nothing stored is lost', async () => {
    const { dir, env, gw, storePath } = await setup();
    const script = ccScript(dir, "return await agent('quick keep')");
    await cli(['run', script, '--gateway', gw.url, '--run-id', 'keep', '--json'], { env });
    const badJson = await cli(['run', script, '--args-json', '{oops', '--gateway', gw.url], { env });
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--args-json: not valid JSON/);
    const dup = await cli(['run', script, '--run-id', 'keep', '--gateway', gw.url], { env });
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/run keep already exists/);
    const badId = await cli(['run', script, '--run-id', '../x', '--gateway', gw.url], { env });
    expect(badId.code).toBe(2);
    const badConc = await cli(['run', script, '--concurrency', '0', '--gateway', gw.url], { env });
    expect(badConc.code).not.toBe(0);
    expect(badConc.stderr).toMatch(/--concurrency must be a whole number/);
    const badScenario = write(dir, 'bad.yaml', 'rules: [');
    const badSim = await cli(['run', script, '--sim', badScenario], { env });
    expect(badSim.code).toBe(2);
    expect(badSim.stderr).toMatch(/bad\.yaml:1:\d+: /);
    const missing = await cli(['resume', 'nope'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/run nope not found/);
    const store = openStore(storePath);
    expect(await store.getRun('keep')).toMatchObject({ status: 'completed', result: 'quick keep' });
  });
});

describe('runs, status and doctor', () => {
  it('status --json gives phases and agents with state and tokens; runs lists runs', async () => {
    const { dir, gw, env } = await setup();
    const script = ccScript(dir, "phase('A'); await agent('quick one', { label: 'one' }); phase('B'); await agent('quick two'); return 2");
    await cli(['run', script, '--gateway', gw.url, '--run-id', 'shown', '--json'], { env });
    const status = lastJson((await cli(['status', 'shown', '--json'], { env })).stdout);
    expect(status).toMatchObject({
      id: 'shown',
      status: 'completed',
      result: 2,
      phases: [
        { title: 'A', agents: 1, done: 1 },
        { title: 'B', agents: 1, done: 1 },
      ],
      agents: [
        { label: 'one', phase: 'A', state: 'done' },
        { label: 'quick two', phase: 'B', state: 'done' },
      ],
    });
    expect((status.agents as { outputTokens: number }[])[0]?.outputTokens).toBeGreaterThan(0);
    const runs = JSON.parse((await cli(['runs', '--json'], { env })).stdout);
    expect(runs.map((r: { id: string }) => r.id)).toEqual(['shown']);
    const text = await cli(['status', 'shown'], { env });
    expect(text.stdout).toMatch(/A: 1\/1 done/);
  });

  it('doctor says the store is fine, or what is wrong with it', async () => {
    const { dir, gw, env, storePath } = await setup();
    await cli(['run', ccScript(dir, "return await agent('quick d')"), '--gateway', gw.url, '--json'], { env });
    const ok = await cli(['doctor', '--json'], { env });
    expect(ok.code).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ ok: true, store: { schemaVersion: SQLITE_SCHEMA_VERSION, problems: [] } });
    const backends = lastJson(ok.stdout).backends as { name: string; usable: boolean; detail: string }[];
    expect(backends.map((b) => [b.name, b.usable])).toEqual([
      ['builtin', true],
      ['claude-code', true],
      ['codex', true],
    ]);
    expect(backends[1]?.detail).toMatch(/Claude Code/);
    const without = await cli(['doctor'], { env: { ...env, DROVER_CODEX_BIN: join(dir, 'nope') } });
    expect(without.code).toBe(0);
    expect(without.stdout).toMatch(/✗ codex: .*nope.* is not an executable/);
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a database at all'.repeat(200));
    const bad = await cli(['doctor', '--store', junk], { env });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/is not a readable SQLite store|cannot open/);
    const none = await cli(['doctor', '--store', join(dir, 'missing.db')], { env });
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/store .*missing\.db: none yet/);
    const newer = createStore(join(dir, 'newer.db'));
    await newer.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(dir, 'newer.db'));
    db.pragma('user_version = 99');
    db.close();
    const future = await cli(['doctor', '--store', join(dir, 'newer.db')], { env });
    expect(future.stdout).toContain(`schema version 99 is newer than this drover (${SQLITE_SCHEMA_VERSION}); upgrade drover`);
    expect(storePath).toBeTruthy();
  });
});
