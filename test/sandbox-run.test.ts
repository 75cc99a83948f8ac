import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { answerQuestion, resumeRun, runWorkflow } from '../src/workflow/index.js';
import { workspaceSandbox } from '../src/workflow/run-sandbox.js';
import { ccScript, cli, FAST_BACKOFF, gateway, lastJson, onCleanup, tempStore, write } from './helpers.js';
import { requireBwrap, sandboxDirs } from './sandbox-helpers.js';

beforeAll(requireBwrap);

/** The builtin agent is asked (by the sim gateway) to write outside the workspace with its bash tool, then inside. */
const scenario = (outside: string) => `
rules:
  - name: agent-escape
    match: { prompt: 'escape via bash' }
    turns:
      - tool_use: { name: bash, input: { command: 'echo agent > ${outside}/by-agent; echo ran > agent-ran' } }
      - text: 'tried'
`;

/** Top level sh, a nested workflow's sh, and an agent's bash tool each try to write outside. */
function scripts(ws: string, outside: string): string {
  ccScript(ws, `return (await sh('echo nested > ${outside}/by-nested; echo ran > nested-ran')).stderr;`, 'child.js', 'child');
  return ccScript(
    ws,
    `const top = await sh('timeout 30 sh -c "echo top > ${outside}/by-sh"; echo ran > sh-ran');
     const nested = await workflow('child', {});
     const said = await agent('escape via bash', { label: 'escaper' });
     return { top: top.stderr, nested, said };`,
  );
}

const OUTSIDE_FILES = ['by-sh', 'by-nested', 'by-agent'];

describe("a run's sandbox covers every process it starts (real bwrap, sim gateway)", () => {
  it("holds for the script's sh, a nested workflow's sh and the builtin agent's bash tool; without it all three write", async () => {
    const dirs = sandboxDirs();
    const script = scripts(dirs.ws, dirs.outside);
    const gw = await gateway(scenario(dirs.outside));
    const { store } = tempStore();
    const common = { store, script, workdir: dirs.ws, gateway: gw.url, backoff: FAST_BACKOFF };

    const held = await runWorkflow({ ...common, sandbox: workspaceSandbox() });
    expect(held.status).toBe('completed');
    for (const name of OUTSIDE_FILES) expect(existsSync(join(dirs.outside, name)), `${name} written from inside the sandbox`).toBe(false);
    // Each process did run, inside a writable workspace.
    for (const name of ['sh-ran', 'nested-ran', 'agent-ran']) expect(readFileSync(join(dirs.ws, name), 'utf8')).toBe('ran\n');
    const result = held.result as { top: string; nested: string };
    expect(result.top).toMatch(/Read-only file system/);
    expect(result.nested).toMatch(/Read-only file system/);
    // The model saw the refusal in the tool's output.
    const toolResult = gw.stats().log.find((l) => l.rule === 'agent-escape' && l.last?.includes('Read-only'));
    expect(toolResult, 'the bash tool result the model got').toBeDefined();
    // The spec is stored with the run (a resume runs under it too), paths resolved.
    expect((await store.getRun(held.runId))?.settings).toMatchObject({
      sandbox: { enabled: true, writablePaths: [dirs.ws], network: 'none' },
    });

    const free = await runWorkflow({ ...common });
    expect(free.status).toBe('completed');
    for (const name of OUTSIDE_FILES) expect(existsSync(join(dirs.outside, name)), `${name} without the sandbox`).toBe(true);
  });
});

describe('drover run --sandbox and meta.sandbox (the built CLI)', () => {
  const WRITE_OUTSIDE = (outside: string) => `await sh('echo x > ${outside}/by-cli'); return 'ok';`;

  it('--sandbox holds; meta.sandbox: true holds; neither: the write happens', async () => {
    const dirs = sandboxDirs();
    const env = { DROVER_STORE: join(dirs.base, 'drover.db') };
    const plain = ccScript(dirs.ws, WRITE_OUTSIDE(dirs.outside), 'plain.js');
    const flagged = await cli(['run', plain, '--sandbox', '--json'], { cwd: dirs.ws, env });
    expect(lastJson(flagged.stdout).status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'by-cli'))).toBe(false);

    const asks = write(
      dirs.ws,
      'asks.js',
      `export const meta = { name: 'asks', description: 'asks for a sandbox', sandbox: true };\n${WRITE_OUTSIDE(dirs.outside)}\n`,
    );
    const metaRun = await cli(['run', asks, '--json'], { cwd: dirs.ws, env });
    expect(lastJson(metaRun.stdout).status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'by-cli'))).toBe(false);

    const free = await cli(['run', plain, '--json'], { cwd: dirs.ws, env });
    expect(lastJson(free.stdout).status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'by-cli'))).toBe(true);
  });

  it('a bad meta.sandbox is refused before the run exists (exit 2, the field named)', async () => {
    const dirs = sandboxDirs();
    const env = { DROVER_STORE: join(dirs.base, 'drover.db') };
    const bad = write(dirs.ws, 'bad.js', `export const meta = { name: 'b', description: 'd', sandbox: { network: 'all' } };\nreturn 1;\n`);
    const r = await cli(['run', bad, '--json'], { cwd: dirs.ws, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/meta\.sandbox\.network/);
    const missing = write(
      dirs.ws,
      'missing.js',
      `export const meta = { name: 'm', description: 'd', sandbox: { writablePaths: ['no-such-dir'] } };\nreturn 1;\n`,
    );
    const m = await cli(['run', missing, '--json'], { cwd: dirs.ws, env });
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/writable path .*no-such-dir does not exist/);
    expect(existsSync(join(dirs.base, 'drover.db'))).toBe(false);
  });
});

describe('fail closed: no bubblewrap, no process', () => {
  it('sh and the builtin bash tool are refused with SANDBOX_UNAVAILABLE naming bubblewrap; a resume once it works runs them held; without the sandbox they run', async () => {
    const dirs = sandboxDirs();
    const storePath = join(dirs.base, 'drover.db');
    const env = { DROVER_STORE: storePath, DROVER_BWRAP: join(dirs.base, 'no-such-bwrap') };
    write(dirs.ws, 'scenario.yaml', scenario(dirs.outside));
    const script = ccScript(
      dirs.ws,
      `const said = await agent('escape via bash', { label: 'escaper' });
       await sh('echo x > ${dirs.outside}/by-sh');
       return said;`,
    );
    const r = await cli(['run', script, '--sandbox', '--sim', join(dirs.ws, 'scenario.yaml'), '--json'], { cwd: dirs.ws, env });
    expect(r.code).toBe(1);
    const summary = lastJson(r.stdout);
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', message: expect.stringMatching(/install bubblewrap/) });
    expect(existsSync(join(dirs.outside, 'by-sh'))).toBe(false);
    expect(existsSync(join(dirs.outside, 'by-agent'))).toBe(false);
    expect(existsSync(join(dirs.ws, 'agent-ran'))).toBe(false);
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const calls = await store.listCalls(summary.runId as string);
    expect(calls.map((c) => [c.kind, c.error?.code]).sort()).toEqual([
      ['agent', 'SANDBOX_UNAVAILABLE'],
      ['sh', 'SANDBOX_UNAVAILABLE'],
    ]);

    // Once bubblewrap works, a resume runs the refused calls, still under the stored sandbox: nothing was lost.
    const { DROVER_BWRAP: _gone, ...installed } = env;
    const resumed = await cli(['resume', summary.runId as string, '--json'], { cwd: dirs.ws, env: installed });
    expect(lastJson(resumed.stdout)).toMatchObject({ status: 'completed' });
    expect(readFileSync(join(dirs.ws, 'agent-ran'), 'utf8')).toBe('ran\n');
    expect(existsSync(join(dirs.outside, 'by-sh'))).toBe(false);
    expect(existsSync(join(dirs.outside, 'by-agent'))).toBe(false);

    const free = await cli(['run', script, '--sim', join(dirs.ws, 'scenario.yaml'), '--json'], { cwd: dirs.ws, env });
    expect(lastJson(free.stdout).status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'by-sh'))).toBe(true);
    expect(existsSync(join(dirs.outside, 'by-agent'))).toBe(true);
  });
});

describe('drover doctor: the sandbox line', () => {
  it('says available with the version, or why not (missing binary; a bwrap that cannot create namespaces)', async () => {
    const dirs = sandboxDirs();
    const env = { DROVER_STORE: join(dirs.base, 'drover.db') };
    const ok = await cli(['doctor', '--json'], { cwd: dirs.ws, env });
    expect(JSON.parse(ok.stdout).sandbox).toMatchObject({ available: true, version: expect.stringMatching(/^\d+\.\d+/) });
    const text = await cli(['doctor'], { cwd: dirs.ws, env });
    expect(text.stdout).toMatch(/OS sandbox: available \(bubblewrap \d/);

    const missing = await cli(['doctor', '--json'], { cwd: dirs.ws, env: { ...env, DROVER_BWRAP: join(dirs.base, 'none') } });
    expect(JSON.parse(missing.stdout).sandbox).toMatchObject({ available: false, reason: expect.stringMatching(/install bubblewrap/) });
    // A bwrap that answers --version but cannot make namespaces (as in a container that forbids them).
    const fake = write(
      dirs.base,
      'fake-bwrap',
      '#!/bin/sh\n[ "$1" = --version ] && { echo bubblewrap 0.8.0; exit 0; }\necho "bwrap: No permissions to create new namespace" >&2; exit 1\n',
    );
    chmodSync(fake, 0o755);
    const denied = await cli(['doctor'], { cwd: dirs.ws, env: { ...env, DROVER_BWRAP: fake } });
    expect(denied.stdout).toMatch(
      /OS sandbox: unavailable: .*cannot create the sandbox's namespaces here \(bwrap: No permissions.*unprivileged user namespaces/,
    );
  });
});

describe('a resumed run keeps its sandbox', () => {
  it('sh after an answered ask, resumed (resumeRun) without a sandbox option, is still held; a run started without one writes', async () => {
    const dirs = sandboxDirs();
    const { store } = tempStore();
    const script = ccScript(dirs.ws, `await ask('go on?'); return (await sh('echo x > ${dirs.outside}/after-resume')).stderr;`);
    const answerAndResume = async (runId: string) => {
      const [question] = await store.listQuestions(runId);
      await answerQuestion(store, runId, question?.id as string, 'yes');
      return resumeRun({ store, runId });
    };

    const first = await runWorkflow({ store, script, workdir: dirs.ws, sandbox: workspaceSandbox() });
    expect(first.status).toBe('waiting');
    const resumed = await answerAndResume(first.runId);
    expect(resumed.status).toBe('completed');
    expect(resumed.result).toMatch(/Read-only file system/);
    expect(existsSync(join(dirs.outside, 'after-resume'))).toBe(false);

    const free = await runWorkflow({ store, script, workdir: dirs.ws });
    expect((await answerAndResume(free.runId)).status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'after-resume'))).toBe(true);
  });
});

describe('who decides', () => {
  it("a sandbox given to the run wins over the script's meta.sandbox: a script cannot switch it off", async () => {
    const dirs = sandboxDirs();
    const { store } = tempStore();
    const script = write(
      dirs.ws,
      'loosen.js',
      `export const meta = { name: 'loosen', description: 'tries to turn the sandbox off', sandbox: { enabled: false, network: 'host' } };
       await sh('echo x > ${dirs.outside}/loosened');
       return 'ok';\n`,
    );
    const held = await runWorkflow({ store, script, workdir: dirs.ws, sandbox: workspaceSandbox() });
    expect(held.status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'loosened'))).toBe(false);
    const alone = await runWorkflow({ store, script, workdir: dirs.ws });
    expect(alone.status).toBe('completed');
    expect(existsSync(join(dirs.outside, 'loosened'))).toBe(true);
  });
});

describe('the policy tier turns the sandbox on (src/policy → src/sandbox)', () => {
  it('a team-beta workflow’s sh runs sandboxed (workspace writable, network per tier) with no flag; a personal one does not', async () => {
    const dirs = sandboxDirs();
    const body = `return (await sh('echo tier > ${dirs.outside}/by-tier; echo ran > tier-ran')).stderr;`;
    const { store } = tempStore();
    const beta = write(
      dirs.ws,
      'beta.js',
      `export const meta = { name: 'beta', description: 'a team beta', tier: 'team-beta', owner: 'platform' };\n${body}\n`,
    );
    const held = await runWorkflow({ store, script: beta, workdir: dirs.ws, backoff: FAST_BACKOFF });
    expect(held.status, JSON.stringify(held.error)).toBe('completed');
    expect(existsSync(join(dirs.outside, 'by-tier'))).toBe(false);
    expect(held.result).toMatch(/Read-only file system/);
    expect(readFileSync(join(dirs.ws, 'tier-ran'), 'utf8')).toBe('ran\n');
    expect((await store.getRun(held.runId))?.settings).toMatchObject({ sandbox: { enabled: true, writablePaths: [dirs.ws] } });

    const personal = ccScript(dirs.ws, body, 'personal.js', 'personal');
    const free = await runWorkflow({ store, script: personal, workdir: dirs.ws, backoff: FAST_BACKOFF });
    expect(free.status).toBe('completed');
    expect(readFileSync(join(dirs.outside, 'by-tier'), 'utf8')).toBe('tier\n');
    expect((await store.getRun(free.runId))?.settings).not.toHaveProperty('sandbox');
  });
});
