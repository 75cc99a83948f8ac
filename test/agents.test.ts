import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuiltinBackend } from '../src/agents/index.js';
import type { RunningGateway } from '../src/gateway/index.js';
import type { Store } from '../src/store/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, FAST_BACKOFF, gateway, lastJson, tempDir, tempStore, write } from './helpers.js';

/**
 * One coding task, scripted for each agent in its own tool vocabulary: read the
 * file, edit it, run the test command, submit a structured result. The rules
 * pick the agent by who is asking (x-drover-agent / user agent).
 */
const PATCH = `*** Begin Patch\\n*** Update File: greet.js\\n@@\\n-export const greet = () => 'hello';\\n+export const greet = () => 'goodbye';\\n*** End Patch\\n`;
const SCENARIO = `
rules:
  - name: builtin-fix
    match: { agent: '^builtin$', prompt: 'fix greet' }
    turns:
      - tool_use: { name: read_file, input: { path: greet.js } }
      - tool_use: { name: edit_file, input: { path: greet.js, old_string: "'hello'", new_string: "'goodbye'" } }
      - tool_use: { name: bash, input: { command: 'sh test.sh' } }
      - json: { fixed: true, summary: greet says goodbye }
  - name: claude-fix
    match: { agent: '^claude-code$', prompt: 'fix greet in (?<dir>\\S+)' }
    turns:
      - tool_use: { name: Read, input: { file_path: '{{dir}}/greet.js' } }
      - tool_use: { name: Edit, input: { file_path: '{{dir}}/greet.js', old_string: "'hello'", new_string: "'goodbye'" } }
      - tool_use: { name: Bash, input: { command: 'sh test.sh', description: 'run the test' } }
      - json: { fixed: true, summary: greet says goodbye }
  - name: codex-fix
    match: { agent: '^codex$', prompt: 'fix greet' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'cat greet.js' } }
      - tool_use: { name: apply_patch, input: "${PATCH}" }
      - tool_use: { name: exec_command, input: { cmd: 'sh test.sh' } }
      - json: { fixed: true, summary: greet says goodbye }
  - name: escape
    match: { prompt: 'escape' }
    turns:
      - tool_use: { name: read_file, input: { path: ../../../../etc/hostname } }
      - tool_use: { name: read_file, input: { path: link/hostname } }
      - tool_use: { name: write_file, input: { path: /tmp/drover-escape.txt, content: x } }
      - text: 'gave up'
  - name: cut-then-ok
    match: { prompt: 'flaky stream' }
    faults: [{ cut_after_events: 2 }, { status: 500 }]
    turns: [{ text: 'made it' }]
  - name: bad-then-good
    match: { prompt: 'report' }
    turns:
      - json: { fixed: 'yes' }
      - json: { fixed: true, summary: second try }
  - name: loop-forever
    match: { prompt: 'keep going' }
    turns: [{ tool_use: { name: glob, input: { pattern: '*.js' } } }]
  - name: slow-tool
    match: { prompt: 'wait a while' }
    turns:
      - tool_use: { name: bash, input: { command: 'sleep 20' } }
      - text: 'too late'
  - name: trace
    match: { prompt: 'show trace' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'echo tp=$TRACEPARENT' } }
      - text: 'shown'
  - name: summary
    match: { prompt: 'Summarize the work so far' }
    turns: [{ text: 'Ran seq a few times.' }]
  - name: long-3
    match: { prompt: 'long task', last: 'MARK3' }
    turns: [{ text: 'finished the long task' }]
  - name: long-2
    match: { prompt: 'long task', last: 'MARK2' }
    turns: [{ tool_use: { name: bash, input: { command: 'seq 1 300; echo MARK3' } } }]
  - name: long-1
    match: { prompt: 'long task', last: 'MARK1' }
    turns: [{ tool_use: { name: bash, input: { command: 'seq 1 300; echo MARK2' } } }]
  - name: long-0
    match: { prompt: 'long task' }
    turns: [{ tool_use: { name: bash, input: { command: 'seq 1 300; echo MARK1' } } }]
`;

const RESULT_SCHEMA =
  "{ type: 'object', properties: { fixed: { type: 'boolean' }, summary: { type: 'string' } }, required: ['fixed', 'summary'] }";

function gitRepo(): string {
  const dir = tempDir('drover-repo-');
  write(dir, 'greet.js', "export const greet = () => 'hello';\n");
  write(dir, 'test.sh', 'grep -q goodbye greet.js && echo TEST PASS || { echo TEST FAIL; exit 1; }\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
  return dir;
}

async function fixRun(backend: string, provider?: 'anthropic' | 'openai' | 'openai-chat') {
  const repo = gitRepo();
  const gw = await gateway(SCENARIO);
  const { store } = tempStore(tempDir());
  const summary = await runWorkflow({
    store,
    script: ccScript(repo, `return await agent('fix greet in ' + args.dir, { schema: ${RESULT_SCHEMA}, label: 'fix' })`),
    args: { dir: repo },
    gateway: gw.url,
    workdir: repo,
    backend,
    ...(provider ? { provider } : {}),
    backoff: FAST_BACKOFF,
    cliRetries: 0,
  });
  return { repo, gw, store, summary };
}

/** A call whose every model request gets HTTP 500, with the CLI's own retries off. */
async function doomedCall(backend: string) {
  const dir = tempDir();
  const gw = await gateway(
    `rules:\n  - match: { prompt: 'doomed' }\n    faults: [{ status: 500, times: 50 }]\n    turns: [{ text: never }]\n`,
  );
  const { store } = tempStore(tempDir());
  const s = await runWorkflow({
    store,
    script: ccScript(dir, "return await agent('doomed task')"),
    gateway: gw.url,
    workdir: dir,
    backend,
    cliRetries: 0,
  });
  const [call] = await store.listCalls(s.runId);
  return { call, gw };
}

/** The usage rows drover recorded are exactly the gateway's answered requests for that call. */
async function expectUsageMatchesGateway(store: Store, runId: string, gw: RunningGateway) {
  const rows = await store.listUsage(runId);
  const answered = gw.stats().log.filter((l) => l.status === 200 && l.tag);
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.map((r) => r.requestId)).toEqual(answered.map((l) => l.requestId));
  expect(rows.map((r) => r.inputTokens)).toEqual(answered.map((l) => l.usage?.input_tokens));
  expect(new Set(rows.map((r) => r.callKey)).size).toBe(1);
  return rows;
}

describe('builtin backend: the lean coding agent', () => {
  for (const provider of ['anthropic', 'openai', 'openai-chat'] as const) {
    it(`reads, edits, runs the test and submits a structured result (${provider})`, async () => {
      const { repo, gw, store, summary } = await fixRun('builtin', provider);
      expect(summary.status).toBe('completed');
      expect(summary.result).toEqual({ fixed: true, summary: 'greet says goodbye' });
      expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toContain("'goodbye'");
      const log = gw.stats().log;
      expect(log.map((l) => l.wire)).toEqual(
        Array(4).fill(provider === 'anthropic' ? 'anthropic' : provider === 'openai' ? 'responses' : 'chat'),
      );
      expect(log[3]?.last).toContain('TEST PASS');
      expect(log[1]?.last).toContain("export const greet = () => 'hello'");
      const rows = await expectUsageMatchesGateway(store, summary.runId, gw);
      expect(rows).toHaveLength(4);
      const [call] = await store.listCalls(summary.runId);
      expect(call?.detail).toMatchObject({ turns: 4, toolCalls: 4 });
      // Each request is the previous one plus what happened since: the prefix is cacheable.
      for (const l of log.slice(1)) expect(l.cacheableTokens / l.inputTokens).toBeGreaterThan(0.75);
    });
  }

  it('keeps its fixed prompt (system + tool schemas) under 1,500 tokens', async () => {
    const { gw } = await fixRun('builtin');
    const first = gw.stats().log[0];
    expect(first?.inputTokens).toBeLessThan(1500 + 40);
  });

  it('refuses paths that escape the workspace, by .. , by symlink and absolute, as tool errors the model sees', async () => {
    const repo = gitRepo();
    symlinkSync('/etc', join(repo, 'link'));
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({ store, script: ccScript(repo, "return await agent('escape now')"), gateway: gw.url, workdir: repo });
    expect(s.result).toBe('gave up');
    const lasts = gw.stats().log.map((l) => l.last);
    expect(lasts[1]).toMatch(/outside the workspace/);
    expect(lasts[2]).toMatch(/symbolic link/);
    expect(lasts[3]).toMatch(/outside the workspace/);
    expect(existsSync('/tmp/drover-escape.txt')).toBe(false);
  });

  it('retries a stream cut mid-way and an HTTP 500, recording every request', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(repo, "return await agent('flaky stream please')"),
      gateway: gw.url,
      workdir: repo,
      backoff: FAST_BACKOFF,
    });
    expect(s.result).toBe('made it');
    expect(gw.stats().log.map((l) => l.status)).toEqual([0, 500, 200]);
    const [call] = await store.listCalls(s.runId);
    expect(call?.attempts).toBe(3);
  });

  it('re-asks after a result that does not match the schema, then accepts the corrected one', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(repo, `return await agent('report status', { schema: ${RESULT_SCHEMA} })`),
      gateway: gw.url,
      workdir: repo,
    });
    expect(s.result).toEqual({ fixed: true, summary: 'second try' });
    expect(gw.stats().log[1]?.last).toMatch(/does not match the required schema/);
    expect((await store.listUsage(s.runId)).length).toBe(2);
  });

  it('stops at maxTurns with a recorded MAX_TURNS error and its usage', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(repo, "return await agent('keep going', { maxTurns: 3 })"),
      gateway: gw.url,
      workdir: repo,
    });
    expect(s.result).toBeNull();
    const [call] = await store.listCalls(s.runId);
    expect(call?.error?.code).toBe('MAX_TURNS');
    expect((await store.listUsage(s.runId)).length).toBe(3);
  });

  it('ends a call that passes its timeoutMs with TIMEOUT, killing the running command', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const started = Date.now();
    const s = await runWorkflow({
      store,
      script: ccScript(repo, "return await agent('wait a while', { timeoutMs: 800 })"),
      gateway: gw.url,
      workdir: repo,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    const [call] = await store.listCalls(s.runId);
    expect(call?.error?.code).toBe('TIMEOUT');
  });

  it('compacts a long conversation: task, summary and the last turns', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const backend = new BuiltinBackend({ baseURL: gw.url, apiKey: 'sim', compactAtTokens: 1500, keepTurns: 1 });
    const outcome = await backend.run({ prompt: 'long task', model: 'm', cwd: repo });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.error));
    expect(outcome.ok && outcome.text).toBe('finished the long task');
    expect(outcome.detail?.compactions).toBeGreaterThan(0);
    const log = gw.stats().log;
    const summaryAt = log.findIndex((l) => l.rule === 'summary');
    expect(summaryAt).toBeGreaterThan(0);
    // After compaction the next request starts over from the task with the summary, and is smaller.
    const after = log[summaryAt + 1];
    expect(after?.prompt).toContain('<progress-summary>');
    expect(after?.inputTokens).toBeLessThan(log[summaryAt - 1]?.inputTokens ?? 0);
  });
});

describe('worktree isolation', () => {
  it("runs the agent in a fresh git worktree; changes land on the call's branch, the checkout is untouched", async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(repo, `return await agent('fix greet', { schema: ${RESULT_SCHEMA}, isolation: 'worktree' })`),
      gateway: gw.url,
      workdir: repo,
    });
    const [call] = await store.listCalls(s.runId);
    if (call?.error) throw new Error(call.error.message);
    expect(s.status).toBe('completed');
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toContain("'hello'");
    const wt = call?.detail?.worktree as { branch: string; commit: string; changed: boolean };
    expect(wt.changed).toBe(true);
    const shown = execFileSync('git', ['show', `${wt.branch}:greet.js`], { cwd: repo, encoding: 'utf8' });
    expect(shown).toContain("'goodbye'");
    expect(execFileSync('git', ['rev-parse', wt.branch], { cwd: repo, encoding: 'utf8' }).trim()).toBe(wt.commit);
  });

  it('removes the worktree and its branch when the agent changed nothing', async () => {
    const repo = gitRepo();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(repo, "return await agent('escape now', { isolation: 'worktree' })"),
      gateway: gw.url,
      workdir: repo,
    });
    expect(s.result).toBe('gave up');
    const [call] = await store.listCalls(s.runId);
    const wt = call?.detail?.worktree as { path: string; branch: string; changed: boolean };
    expect(wt.changed).toBe(false);
    expect(existsSync(wt.path)).toBe(false);
    expect(execFileSync('git', ['branch', '--list', wt.branch], { cwd: repo, encoding: 'utf8' }).trim()).toBe('');
  });

  it('records a clear error outside a git repository', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(dir, "return await agent('escape', { isolation: 'worktree' })"),
      gateway: gw.url,
      workdir: dir,
    });
    const [call] = await store.listCalls(s.runId);
    expect(call?.error).toMatchObject({ code: 'WORKTREE' });
    expect(call?.error?.message).toMatch(/needs a git repository/);
  });
});

describe('claude-code backend (real claude CLI, offline against the sim gateway)', () => {
  it('reads, edits, runs the test and returns the structured result; usage comes from the gateway per request', async () => {
    const { repo, gw, store, summary } = await fixRun('claude-code');
    expect(summary.error).toBeUndefined();
    expect(summary.result).toEqual({ fixed: true, summary: 'greet says goodbye' });
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toContain("'goodbye'");
    const log = gw.stats().log.filter((l) => l.rule === 'claude-fix');
    expect(log.length).toBeGreaterThanOrEqual(4);
    expect(log.every((l) => l.agent === 'claude-code')).toBe(true);
    expect(log[3]?.last).toContain('TEST PASS');
    await expectUsageMatchesGateway(store, summary.runId, gw);
    const [call] = await store.listCalls(summary.runId);
    expect(call?.detail).toMatchObject({ usageSource: 'gateway' });
    expect(typeof call?.detail?.sessionId).toBe('string');
  });

  it('records CLI_MISSING when claude cannot be found, and CLI_CRASHED when it dies', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const script = ccScript(dir, "return await agent('fix greet in x')");
    const old = process.env.DROVER_CLAUDE_BIN;
    try {
      process.env.DROVER_CLAUDE_BIN = join(dir, 'no-such-claude');
      const missing = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backend: 'claude-code' });
      const [m] = await store.listCalls(missing.runId);
      expect(m?.error).toMatchObject({ code: 'CLI_MISSING' });
      // A stand-in that starts like claude and then dies from a signal mid-run.
      const crash = write(dir, 'crashing-claude', '#!/bin/sh\necho \'{"type":"system","subtype":"init","session_id":"s1"}\'\nkill -9 $$\n');
      chmodSync(crash, 0o755);
      process.env.DROVER_CLAUDE_BIN = crash;
      const crashed = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backend: 'claude-code' });
      const [c] = await store.listCalls(crashed.runId);
      expect(c?.error).toMatchObject({ code: 'CLI_CRASHED' });
      expect(c?.error?.message).toMatch(/SIGKILL/);
    } finally {
      if (old === undefined) delete process.env.DROVER_CLAUDE_BIN;
      else process.env.DROVER_CLAUDE_BIN = old;
    }
  });

  it('records an is_error result (the API failing) as an agent error with its usage', async () => {
    const { call, gw } = await doomedCall('claude-code');
    expect(call?.status).toBe('failed');
    expect(call?.error?.code).toMatch(/AGENT_ERROR|CLI_EXIT/);
    expect(gw.stats().byStatus['500']).toBeGreaterThan(0);
  });
});

describe('codex backend (real codex CLI, offline against the sim gateway)', () => {
  it('runs commands, applies a patch, runs the test and returns the structured result', async () => {
    const { repo, gw, store, summary } = await fixRun('codex');
    expect(summary.error).toBeUndefined();
    expect(summary.result).toEqual({ fixed: true, summary: 'greet says goodbye' });
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toContain("'goodbye'");
    const log = gw.stats().log.filter((l) => l.rule === 'codex-fix');
    expect(log).toHaveLength(4);
    expect(log.every((l) => l.wire === 'responses' && l.agent === 'codex')).toBe(true);
    expect(log[3]?.last).toContain('TEST PASS');
    await expectUsageMatchesGateway(store, summary.runId, gw);
    const [call] = await store.listCalls(summary.runId);
    expect(call?.detail).toMatchObject({ usageSource: 'gateway', toolCalls: 3 });
  });

  it('turns an HTTP 500 into a recorded turn.failed error with a non-zero exit', async () => {
    const { call } = await doomedCall('codex');
    expect(call?.status).toBe('failed');
    expect(call?.error?.code).toMatch(/AGENT_ERROR|CLI_EXIT/);
    expect(call?.error?.message).toMatch(/500|Internal|error/i);
  });
});

describe('trace context for agent processes', () => {
  it("gives codex the run's TRACEPARENT, so its commands see the run's trace id", async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(dir, "return await agent('show trace')"),
      gateway: gw.url,
      workdir: dir,
      backend: 'codex',
      cliRetries: 0,
    });
    expect(s.result).toBe('shown');
    const { traceIdForRun } = await import('../src/telemetry/index.js');
    expect(gw.stats().log[1]?.last).toContain(`tp=00-${traceIdForRun(s.runId)}-`);
  });
});

describe('per-call backend choice', () => {
  it('agent(prompt, { backend }) runs each call on the named backend within one run', async () => {
    const repo = gitRepo();
    writeFileSync(join(repo, 'other.txt'), 'x');
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(
        repo,
        `const a = await agent('fix greet in ' + args.dir, { schema: ${RESULT_SCHEMA}, backend: 'codex' });
         return a.fixed;`,
      ),
      args: { dir: repo },
      gateway: gw.url,
      workdir: repo,
      backend: 'builtin',
      cliRetries: 0,
    });
    expect(s.result).toBe(true);
    expect(gw.stats().log.every((l) => l.agent === 'codex')).toBe(true);
    // codex got its own default model, not the run's Anthropic one.
    expect(gw.stats().log[0]?.model).toBe('gpt-5.5');
  });
});

describe('drover run --backend / --provider', () => {
  it('runs the same workflow on codex and on the builtin agent over OpenAI Responses, from the CLI', async () => {
    for (const flags of [
      ['--backend', 'codex'],
      ['--backend', 'builtin', '--provider', 'openai'],
    ]) {
      const repo = gitRepo();
      const sim = write(repo, 'scenario.yaml', SCENARIO);
      const script = ccScript(repo, `return await agent('fix greet in ' + args.dir, { schema: ${RESULT_SCHEMA} })`);
      const r = await cli(['run', script, '--sim', sim, '--args-json', JSON.stringify({ dir: repo }), '--json', ...flags], {
        cwd: repo,
        env: { DROVER_STORE: join(tempDir(), 'd.db') },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ status: 'completed', result: { fixed: true } });
      expect(r.stderr).toMatch(flags[1] === 'codex' ? /tool fix greet.* exec_command/ : /tool fix greet.* edit_file/);
      expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toContain("'goodbye'");
    }
  });

  it('refuses an unknown backend or provider with exit 2 and the choices', async () => {
    const dir = tempDir();
    const script = ccScript(dir, "return await agent('x')");
    const bad = await cli(['run', script, '--backend', 'gpt-engineer', '--gateway', 'http://127.0.0.1:9'], {
      cwd: dir,
      env: { DROVER_STORE: join(dir, 'd.db') },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/builtin, claude-code, codex/);
    const badProvider = await cli(['run', script, '--provider', 'gemini', '--gateway', 'http://127.0.0.1:9'], {
      cwd: dir,
      env: { DROVER_STORE: join(dir, 'd.db') },
    });
    expect(badProvider.code).toBe(2);
    expect(badProvider.stderr).toMatch(/anthropic, openai, openai-chat/);
  });
});
