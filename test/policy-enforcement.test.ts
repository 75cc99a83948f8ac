import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODING_TOOLS, Workspace } from '../src/agents/builtin/tools/index.js';
import { createStore } from '../src/store/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { startRunGateway } from '../src/workflow/run-gateway.js';
import { loadRunPolicyEngine, RunPolicy } from '../src/workflow/run-policy.js';
import { cli, FAST_BACKOFF, gateway, lastJson, onCleanup, tempDir, tempStore, write } from './helpers.js';

/**
 * The policy where agents act, with real runs (sim gateway for the models, the built CLI as a
 * process): the model and backend at spawn and at the gateway, tools per backend, files by real
 * path, sh commands, approvals as durable questions, and the audit records in status and trace.
 */

const SCENARIO = `
rules:
  - name: writes-with-bash
    match: { prompt: 'use bash' }
    turns:
      - tool_use: { name: bash, input: { command: 'echo pwned > pwned.txt' } }
      - text: 'tried bash'
  - name: secrets
    match: { prompt: 'read secrets' }
    turns:
      - tool_use: { name: read_file, input: { path: .env } }
      - tool_use: { name: read_file, input: { path: notes.txt } }
      - tool_use: { name: write_file, input: { path: config/.env.local, content: 'X=1' } }
      - tool_use: { name: read_file, input: { path: README.md } }
      - text: 'read what I could'
  - name: any
    match: { prompt: '.' }
    turns: [{ text: 'hi' }]
`;

/** A project directory with a workflow of `tier` and optional `.drover/policy` files. */
function project(tier: string | null, body: string, policy: Record<string, string> = {}): { dir: string; script: string } {
  const dir = tempDir('drover-enforce-');
  write(dir, 'drover.config.json', '{}');
  if (Object.keys(policy).length) {
    mkdirSync(join(dir, '.drover', 'policy'), { recursive: true });
    for (const [name, text] of Object.entries(policy)) write(join(dir, '.drover', 'policy'), name, text);
  }
  const meta = `{ name: 'governed', description: 'a governed workflow'${tier ? `, tier: '${tier}', owner: 'platform-team'` : ''} }`;
  const script = write(dir, 'wf.js', `export const meta = ${meta};\n${body}\n`);
  return { dir, script };
}

async function run(tier: string | null, body: string, policy: Record<string, string> = {}) {
  const p = project(tier, body, policy);
  const gw = await gateway(SCENARIO);
  const { store } = tempStore(tempDir());
  const summary = await runWorkflow({ store, script: p.script, workdir: p.dir, gateway: gw.url, backoff: FAST_BACKOFF });
  const events = (await store.listEvents(summary.runId)).filter((e) => e.type === 'policy').map((e) => e.data);
  return { ...p, summary, events, store };
}

describe('models and backends', () => {
  it('a model the tier does not name is refused at spawn: POLICY_DENIED with the rule, catchable, null in parallel', async () => {
    const r = await run(
      'internal',
      `let caught = null;
try { await agent('hello', { model: 'claude-opus-4-1', label: 'big' }); } catch (e) { caught = { code: e.code, message: e.message }; }
const results = await parallel([() => agent('hello', { model: 'claude-opus-4-1' }), () => agent('hello', { model: 'claude-sonnet-5' })]);
return { caught, results };`,
    );
    expect(r.summary.status).toBe('completed');
    const result = r.summary.result as { caught: { code: string; message: string }; results: unknown[] };
    expect(result.caught.code).toBe('POLICY_DENIED');
    expect(result.caught.message).toMatch(/policy denied useModel claude-opus-4-1 \(backend builtin\) \(rule default-deny\)/);
    expect(result.results).toEqual([null, 'hi']);
    expect(r.events.filter((e) => e.kind === 'deny')).toHaveLength(2);
    expect(r.events[0]).toMatchObject({
      kind: 'deny',
      at: 'spawn',
      ruleIds: ['default-deny'],
      attempted: 'useModel claude-opus-4-1 (backend builtin)',
    });
    expect(typeof r.events[0]?.callKey).toBe('string');
  });

  it("a nested workflow's agents run under the calling workflow's policy", async () => {
    const p = project('internal', "return await workflow('helper', {});");
    write(
      p.dir,
      'helper.js',
      "export const meta = { name: 'helper', description: 'no tier of its own' };\ntry { return await agent('x', { model: 'gpt-4o' }); } catch (e) { return e.code + ' ' + e.message; }\n",
    );
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const summary = await runWorkflow({ store, script: p.script, workdir: p.dir, gateway: gw.url, backoff: FAST_BACKOFF });
    expect(summary.result).toMatch(/^POLICY_DENIED policy denied useModel gpt-4o \(backend builtin\) \(rule default-deny\)/);
  });

  it('a backend the project forbids is refused, and the same script runs under the personal tier', async () => {
    const policy = { 'team.yaml': 'tiers: [team-beta]\nbackends: [claude-code]\n' };
    const denied = await run('team-beta', "return await agent('hello')", policy);
    expect(denied.summary.status).toBe('failed');
    expect(denied.summary.error).toMatchObject({ code: 'POLICY_DENIED' });
    expect(denied.summary.error?.message).toMatch(/useBackend builtin \(rule team-beta\.backends-only\)/);
    const personal = await run(null, "return await agent('hello')", policy);
    expect(personal.summary).toMatchObject({ status: 'completed', result: 'hi' });
  });

  it("the gateway's policy stage refuses a denied model with 403 in each wire's shape, and leaves a ledger row", async () => {
    const dir = tempDir();
    const engine = loadRunPolicyEngine(dir);
    const policy = new RunPolicy(engine, { name: 'w', tier: 'customer-facing' }, dir);
    const audit: unknown[] = [];
    policy.onAudit((e) => audit.push(e));
    const { store } = tempStore(tempDir());
    const scenario = write(dir, 's.yaml', SCENARIO);
    const gw = await startRunGateway({ store, runId: 'run-gw', workflow: 'w', sim: scenario, policy: policy.gatewayStage() });
    onCleanup(() => gw.close());
    const post = (path: string, body: unknown, agent: string) =>
      fetch(`${gw.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': 'k',
          authorization: 'Bearer k',
          'x-drover-agent': agent,
          'x-drover-call': 'c1',
        },
        body: JSON.stringify(body),
      });
    const anthropic = await post(
      '/v1/messages',
      { model: 'claude-opus-4-8', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] },
      'claude-code',
    );
    expect(anthropic.status).toBe(403);
    const a = (await anthropic.json()) as { type: string; error: { type: string; message: string } };
    expect(a.type).toBe('error');
    expect(a.error.type).toBe('permission_error');
    expect(a.error.message).toMatch(/useModel claude-opus-4-8 \(backend claude-code\) \(rule default-deny\)/);
    const openai = await post('/v1/responses', { model: 'gpt-4o', input: 'x' }, 'codex');
    expect(openai.status).toBe(403);
    expect(((await openai.json()) as { error: { type: string; message: string } }).error).toMatchObject({ type: 'permission_error' });
    const allowed = await post(
      '/v1/messages',
      { model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] },
      'builtin',
    );
    expect(allowed.status).toBe(200);
    await allowed.text();
    await gw.gateway.idle();
    expect(gw.gateway.entries().map((e) => e.status)).toEqual([403, 403, 200]);
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ kind: 'deny', at: 'gateway', callKey: 'c1' });
  });
});

describe('caps and content', () => {
  it("a tier's caps join the run's (the lower wins) and customer-facing captures no content even when asked", async () => {
    const p = project('customer-facing', "try { return await agent('hello', { label: 'greet' }); } catch (e) { return e.code; }", {
      'caps.yaml': 'tier: customer-facing\ncaps: { usd: 3, perAgentUsd: 0.5 }\napprovals: { agentResults: false }\n',
    });
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const summary = await runWorkflow({
      store,
      script: p.script,
      workdir: p.dir,
      gateway: gw.url,
      backoff: FAST_BACKOFF,
      maxUsd: 10,
      traceContent: true,
    });
    expect(summary).toMatchObject({ status: 'completed', result: 'hi' });
    const run = await store.getRun(summary.runId);
    expect(run?.settings.caps).toEqual({ usd: 3, perAgentUsd: 0.5 });
    const spans = await store.spans.querySpans({ runId: summary.runId });
    const agentSpan = spans.find((s) => s.name === 'invoke_agent greet');
    expect(agentSpan).toBeDefined();
    expect(Object.keys(agentSpan?.attributes ?? {}).filter((k) => k.includes('messages'))).toEqual([]);
  });
});

describe('models a CLI picks itself', () => {
  it('the run gateway refuses the model, and agent() rejects with POLICY_DENIED naming the rule; denied at spawn on every backend', async () => {
    const p = project(
      'internal',
      `const out = {};
try { out.gateway = await agent('a', { backend: 'claude-code' }); } catch (e) { out.gateway = e.code + ' ' + e.message; }
for (const backend of ['claude-code', 'codex']) {
  try { await agent('b', { backend, model: 'gpt-4o' }); } catch (e) { out[backend] = e.code + ' ' + e.message; }
}
return out;`,
    );
    const bin = tempDir('drover-fake-cli-');
    // A "claude" that asks drover's gateway for a model of its own choosing (as an agent definition or the CLI's own defaults may).
    const claude = write(
      bin,
      'claude',
      `#!/usr/bin/env node
(async () => {
  const headers = { 'content-type': 'application/json', 'x-api-key': process.env.ANTHROPIC_API_KEY || 'k' };
  for (const line of (process.env.ANTHROPIC_CUSTOM_HEADERS || '').split('\\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const res = await fetch(process.env.ANTHROPIC_BASE_URL.replace(/\\/$/, '') + '/v1/messages', {
    method: 'POST', headers, body: JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
  });
  const body = await res.json();
  console.log(JSON.stringify({ type: 'result', subtype: 'error_during_execution', is_error: true, result: 'API Error: ' + res.status + ' ' + body.error.message, session_id: 's', num_turns: 1 }));
})();
`,
    );
    chmodSync(claude, 0o755);
    const codex = write(bin, 'codex', '#!/bin/sh\necho codex must not start >&2\nexit 3\n');
    chmodSync(codex, 0o755);
    const scenario = write(p.dir, 's.yaml', SCENARIO);
    const r = await cli(['run', p.script, '--sim', scenario, '--json'], {
      cwd: p.dir,
      env: { DROVER_CLAUDE_BIN: claude, DROVER_CODEX_BIN: codex, DROVER_STORE: join(p.dir, 'drover.db') },
    });
    const out = lastJson(r.stdout) as { status: string; runId: string; result: Record<string, string> };
    expect(out.status).toBe('completed');
    expect(out.result.gateway).toMatch(
      /^POLICY_DENIED policy denied useModel claude-opus-4-1 \(backend claude-code\) \(rule default-deny\): refused by the gateway/,
    );
    expect(out.result['claude-code']).toMatch(
      /^POLICY_DENIED policy denied useModel gpt-4o \(backend claude-code\) \(rule default-deny\)$/,
    );
    expect(out.result.codex).toMatch(/^POLICY_DENIED policy denied useModel gpt-4o \(backend codex\) \(rule default-deny\)$/);
    const status = JSON.parse(
      (await cli(['status', out.runId, '--json'], { cwd: p.dir, env: { DROVER_STORE: join(p.dir, 'drover.db') } })).stdout,
    );
    expect(status.policy.map((e: { where: string }) => e.where)).toEqual(['gateway', 'spawn', 'spawn']);
  });
});

describe('tools', () => {
  it('builtin: a named denied tool refuses the call; unnamed, the agent simply does not get it', async () => {
    const r = await run(
      'internal',
      `let named = null;
try { await agent('use bash now', { tools: ['bash', 'read_file'] }); } catch (e) { named = e.message; }
const plain = await agent('use bash please');
return { named, plain };`,
      { 'tools.yaml': 'tier: internal\ntools: [read, glob, grep]\n' },
    );
    const result = r.summary.result as { named: string; plain: string };
    expect(result.named).toMatch(/policy denied useTool bash \(bash, backend builtin\) \(rule internal\.tools-only\)/);
    expect(result.plain).toBe('tried bash');
    expect(existsSync(join(r.dir, 'pwned.txt'))).toBe(false);
  });

  it('claude-code gets --allowedTools/--disallowedTools and codex its sandbox mode, derived from the same policy', async () => {
    const p = project(
      'internal',
      "return [await agent('a', { backend: 'claude-code' }), await agent('b', { backend: 'codex', model: 'gpt-5.5' })]",
      {
        'team.yaml': 'tier: internal\nwritable: []\n',
      },
    );
    const bin = tempDir('drover-fake-cli-');
    const fake = (name: string, lines: unknown[]) => {
      const file = write(
        bin,
        name,
        `#!/usr/bin/env node\nrequire('node:fs').writeFileSync(process.cwd() + '/argv-${name}.json', JSON.stringify(process.argv.slice(2)));\n${lines.map((l) => `console.log(${JSON.stringify(JSON.stringify(l))});`).join('\n')}\n`,
      );
      chmodSync(file, 0o755);
      return file;
    };
    const usage = { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const claude = fake('claude', [
      { type: 'result', subtype: 'success', is_error: false, result: 'claude ok', session_id: 's', num_turns: 1, usage },
    ]);
    const codex = fake('codex', [
      { type: 'thread.started', thread_id: 't' },
      { type: 'item.completed', item: { id: 'i', type: 'agent_message', text: 'codex ok' } },
      { type: 'turn.completed', usage: { input_tokens: 1, cached_input_tokens: 0, output_tokens: 1 } },
    ]);
    const scenario = write(p.dir, 's.yaml', SCENARIO);
    const r = await cli(['run', p.script, '--sim', scenario, '--json'], {
      cwd: p.dir,
      env: { DROVER_CLAUDE_BIN: claude, DROVER_CODEX_BIN: codex, DROVER_STORE: join(p.dir, 'drover.db') },
    });
    expect(r.stderr).not.toMatch(/error/);
    expect(lastJson(r.stdout)).toMatchObject({ status: 'completed', result: ['claude ok', 'codex ok'] });
    const claudeArgs = JSON.parse(readFileSync(join(p.dir, 'argv-claude.json'), 'utf8')) as string[];
    const allowed = claudeArgs[claudeArgs.indexOf('--allowedTools') + 1]?.split(',');
    const disallowed = claudeArgs[claudeArgs.indexOf('--disallowedTools') + 1]?.split(',');
    expect(allowed).toEqual(['Bash', 'Edit', 'Glob', 'Grep', 'Read', 'Write']);
    expect(disallowed).toEqual(expect.arrayContaining(['WebFetch', 'WebSearch', 'Task', 'Read(./.env)']));
    const codexArgs = JSON.parse(readFileSync(join(p.dir, 'argv-codex.json'), 'utf8')) as string[];
    expect(codexArgs[codexArgs.indexOf('--sandbox') + 1]).toBe('read-only');
    expect(codexArgs).toContain('sandbox_workspace_write.network_access=false');
  });
});

describe('files', () => {
  it('builtin file tools refuse secret files by real path (a symlink to .env too), and the audit names the rule', async () => {
    const body = "return await agent('read secrets')";
    const p = project('team-beta', body);
    writeFileSync(join(p.dir, '.env'), 'API_TOKEN=super-secret\n');
    writeFileSync(join(p.dir, 'README.md'), 'hello\n');
    symlinkSync(join(p.dir, '.env'), join(p.dir, 'notes.txt'));
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const summary = await runWorkflow({ store, script: p.script, workdir: p.dir, gateway: gw.url, backoff: FAST_BACKOFF });
    expect(summary).toMatchObject({ status: 'completed', result: 'read what I could' });
    const denies = (await store.listEvents(summary.runId)).filter((e) => e.type === 'policy').map((e) => e.data);
    const real = realpathSync(p.dir);
    expect(denies.map((d) => d.attempted)).toEqual([
      `readPath ${real}/.env`,
      `readPath ${real}/.env`,
      `writePath ${real}/config/.env.local`,
    ]);
    for (const d of denies) expect(d).toMatchObject({ kind: 'deny', at: 'file', ruleIds: ['base.deny-secret-files'] });
    expect(existsSync(join(p.dir, 'config'))).toBe(false);
  });

  it('grep drops matches in files the guard denies, saying so', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.env'), 'TOKEN=abc\n');
    writeFileSync(join(dir, 'a.txt'), 'TOKEN is documented here\n');
    const guard = (_op: 'read' | 'write', real: string) => (real.endsWith('/.env') ? 'policy denied readPath (rule x)' : null);
    const grep = CODING_TOOLS.find((t) => t.name === 'grep');
    const out = await grep?.run(
      { pattern: 'TOKEN', glob: '**/*' },
      { workspace: new Workspace(dir, guard), signal: new AbortController().signal },
    );
    expect(out).toContain('a.txt:1: TOKEN is documented here');
    expect(out).not.toContain('abc');
    const withDot = await grep?.run(
      { pattern: 'TOKEN', path: '.env' },
      { workspace: new Workspace(dir, guard), signal: new AbortController().signal },
    );
    expect(withDot).toMatch(/^no matches\n\[1 match in files the policy does not let this agent read were dropped\]$/);
  });
});

describe('commands and approvals', () => {
  it('sh is refused when the tier forbids commands', async () => {
    const r = await run('internal', "try { await sh('ls'); return 'ran'; } catch (e) { return e.code + ' ' + e.message; }", {
      'sh.yaml': 'tier: internal\nsh: false\n',
    });
    expect(r.summary.result).toMatch(/^POLICY_DENIED policy denied sh "ls" \(rule internal\.sh\)/);
  });

  it('git push waits for approval in its branch only; answered with drover answer, the run continues; audit in status and trace', async () => {
    const p = project(
      'internal',
      `const [pushed, other] = await parallel([
  async () => (await sh('echo git push origin main')).stdout.trim(),
  () => agent('other work', { label: 'other' }),
]);
return { pushed, other };`,
    );
    const scenario = write(p.dir, 's.yaml', SCENARIO);
    const env = { DROVER_STORE: join(p.dir, 'drover.db'), DROVER_USER: 'alice' };
    const first = await cli(['run', p.script, '--sim', scenario, '--json'], { cwd: p.dir, env });
    expect(first.code).toBe(4);
    const waiting = lastJson(first.stdout) as {
      runId: string;
      status: string;
      questions: { id: string; question: string; choices: string[] }[];
    };
    expect(waiting.status).toBe('waiting');
    expect(waiting.questions).toHaveLength(1);
    expect(waiting.questions[0]?.question).toMatch(/^Approve sh "echo git push origin main"\? \(policy internal\.approve-commands\)/);
    expect(waiting.questions[0]?.choices).toEqual(['approve', 'reject']);
    const status = JSON.parse((await cli(['status', waiting.runId, '--json'], { cwd: p.dir, env })).stdout);
    // The other branch ran while the push waited.
    expect(status.agents.find((a: { label: string }) => a.label === 'other')).toMatchObject({ state: 'done' });
    const answered = await cli(['answer', waiting.runId, waiting.questions[0]?.id as string, 'approve'], { cwd: p.dir, env });
    expect(answered.code).toBe(0);
    const resumed = await cli(['resume', waiting.runId, '--json'], { cwd: p.dir, env });
    expect(lastJson(resumed.stdout)).toMatchObject({ status: 'completed', result: { pushed: 'git push origin main', other: 'hi' } });
    const after = JSON.parse((await cli(['status', waiting.runId, '--json'], { cwd: p.dir, env })).stdout);
    expect(after.policy.map((e: { kind: string }) => e.kind)).toEqual(['approval_request', 'approval']);
    expect(after.policy[1]).toMatchObject({ by: 'alice', answer: 'approve', ruleIds: ['internal.approve-commands'] });
    const text = (await cli(['status', waiting.runId], { cwd: p.dir, env })).stdout;
    expect(text).toMatch(/policy approval sh "echo git push origin main" \[internal\.approve-commands\] approved by alice/);
    const store = createStore(join(p.dir, 'drover.db'));
    onCleanup(() => store.close());
    const spans = await store.spans.querySpans({ runId: waiting.runId });
    const span = spans.find((s) => s.name === 'policy approval_request');
    expect(span?.events[0]).toMatchObject({ name: 'drover.policy.approval_request' });
    expect(span?.events[0]?.attributes['drover.policy.rule_ids']).toBe('internal.approve-commands');
  });

  it("customer-facing: an agent's result needs approval before use; rejected, agent() rejects with POLICY_DENIED", async () => {
    const p = project(
      'customer-facing',
      "try { return { used: await agent('draft the reply', { label: 'draft' }) }; } catch (e) { return { refused: e.code, message: e.message }; }",
    );
    const scenario = write(p.dir, 's.yaml', SCENARIO);
    const env = { DROVER_STORE: join(p.dir, 'drover.db'), DROVER_USER: 'bob' };
    const first = lastJson((await cli(['run', p.script, '--sim', scenario, '--json'], { cwd: p.dir, env })).stdout) as {
      runId: string;
      questions: { id: string; question: string }[];
    };
    expect(first.questions[0]?.question).toMatch(
      /^Approve use of agent "draft"'s result\? \(policy customer-facing\.approve-agent-results\)\nresult: hi$/,
    );
    await cli(['answer', first.runId, first.questions[0]?.id as string, 'reject'], { cwd: p.dir, env });
    const resumed = lastJson((await cli(['resume', first.runId, '--json'], { cwd: p.dir, env })).stdout);
    expect(resumed).toMatchObject({ status: 'completed', result: { refused: 'POLICY_DENIED' } });
    expect((resumed.result as { message: string }).message).toMatch(/not approved \(the answer was "reject"\)/);
  });
});
