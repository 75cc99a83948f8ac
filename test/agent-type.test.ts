import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentDefinitionError, builtinToolsFor, findAgentDefinition } from '../src/agents/agent-types.js';
import { BuiltinBackend, ClaudeCodeBackend, CODING_SYSTEM, CODING_TOOL_NAMES, CodexBackend } from '../src/agents/index.js';
import type { AgentProgress, AgentRequest } from '../src/agents/types.js';
import { parseScenario } from '../src/gateway/scenario.js';
import { type RunningGateway, startSimGateway } from '../src/gateway/sim-server.js';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, onCleanup, tempDir, tempStore, write } from './helpers.js';

/** Writes `files` (relative path → text) under `root`, creating folders. */
function tree(root: string, files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    write(root, name, text);
  }
  return root;
}

const agentFile = (fields: string, body: string) => `---\n${fields}\n---\n${body}\n`;

const REVIEWER = agentFile(
  'name: code-reviewer\ndescription: Reviews code for bugs\ntools: Read, Grep, WebFetch\nmodel: haiku',
  'You are REVIEWER-MARK. Review the code and list bugs.',
);

/** A project (git repo) with .claude/agents/, and a user home with its own agents. */
function project(extra: Record<string, string> = {}): { dir: string; home: string } {
  const dir = tempDir('drover-agent-project-');
  execFileSync('git', ['init', '-q'], { cwd: dir });
  tree(dir, { 'app.js': 'export const x = 1;\n', '.claude/agents/code-reviewer.md': REVIEWER, ...extra });
  const home = tree(tempDir('drover-agent-home-'), {
    '.claude/agents/user-helper.md': agentFile('name: user-helper\ndescription: from the user level', 'You are USER-MARK.'),
    '.claude/agents/code-reviewer.md': agentFile('name: code-reviewer\ndescription: user copy', 'You are USER-REVIEWER-MARK.'),
  });
  return { dir, home };
}

async function simGateway(yaml: string): Promise<RunningGateway> {
  const gw = await startSimGateway({ scenario: parseScenario(yaml, 'agent-type.yaml'), keepRequests: true });
  onCleanup(() => gw.close());
  return gw;
}

/** Answers by what the system prompt says, so a test sees which definition reached the model. */
const SCENARIO = `
rules:
  - name: try-bash
    match: { system: 'REVIEWER-MARK', prompt: 'try bash' }
    turns:
      - tool_use: { name: bash, input: { command: 'echo hi' } }
      - text: 'bash refused'
  - name: structured
    match: { system: 'REVIEWER-MARK', prompt: 'structured review' }
    turns: [{ json: { bugs: 0 } }]
  - name: reviewer
    match: { system: 'REVIEWER-MARK' }
    turns: [{ text: 'reviewed as code-reviewer' }]
  - name: user-level
    match: { system: 'USER-MARK' }
    turns: [{ text: 'helped from the user level' }]
  - name: plain
    turns: [{ text: 'plain agent' }]
`;

function builtin(gw: RunningGateway, home: string, provider: 'anthropic' | 'openai' = 'anthropic') {
  return new BuiltinBackend({
    baseURL: provider === 'anthropic' ? gw.url : `${gw.url}/v1`,
    apiKey: 'sim',
    provider,
    backoff: FAST_BACKOFF,
    userHome: home,
  });
}

function request(cwd: string, extra: Partial<AgentRequest> = {}): AgentRequest & { progress: AgentProgress[] } {
  const progress: AgentProgress[] = [];
  return {
    prompt: 'review app.js',
    model: 'claude-sonnet-5',
    cwd,
    callTag: 'call-1',
    onProgress: (p) => progress.push(p),
    progress,
    ...extra,
  };
}

describe('agent definitions: found and read as Claude Code does', () => {
  it('finds an agent by its frontmatter name: nearest project folder first, then the user level, then built-ins', () => {
    const { dir, home } = project({
      'pkg/.claude/agents/near.md': agentFile('name: code-reviewer\ndescription: nearer', 'NEAR'),
      'pkg/.claude/agents/group/renamed.md': agentFile('name: other-name\ndescription: file named differently', 'OTHER'),
    });
    const sub = join(dir, 'pkg', 'src');
    mkdirSync(sub, { recursive: true });
    expect(findAgentDefinition('code-reviewer', { cwd: sub, home }).prompt).toBe('NEAR');
    expect(findAgentDefinition('code-reviewer', { cwd: dir, home })).toMatchObject({
      prompt: 'You are REVIEWER-MARK. Review the code and list bugs.',
      tools: ['Read', 'Grep', 'WebFetch'],
      model: 'haiku',
      scope: 'project',
    });
    expect(findAgentDefinition('other-name', { cwd: sub, home }).source).toBe(join(dir, 'pkg/.claude/agents/group/renamed.md'));
    expect(findAgentDefinition('user-helper', { cwd: dir, home })).toMatchObject({ scope: 'user', prompt: 'You are USER-MARK.' });
    expect(findAgentDefinition('Explore', { cwd: dir, home })).toMatchObject({
      scope: 'built-in',
      tools: ['Bash', 'Glob', 'Grep', 'Read'],
    });
    // The file name is not the agent's name.
    expect(() => findAgentDefinition('renamed', { cwd: sub, home })).toThrow(/agentType 'renamed' not found/);
  });

  it('stops the project search at the git root', () => {
    const outer = tree(tempDir(), { '.claude/agents/outer.md': agentFile('name: outer\ndescription: above the repo', 'OUTER') });
    const repo = join(outer, 'repo');
    mkdirSync(repo);
    execFileSync('git', ['init', '-q'], { cwd: repo });
    const home = tempDir();
    expect(findAgentDefinition('outer', { cwd: outer, home }).prompt).toBe('OUTER');
    expect(() => findAgentDefinition('outer', { cwd: repo, home })).toThrow(AgentDefinitionError);
  });

  it('reads tools as a list or a comma string, empty tools as none, and disallowedTools', () => {
    const { dir, home } = project({
      '.claude/agents/a.md': agentFile('name: listed\ndescription: d\ntools: [Bash, "Bash(git log, git diff)"]', 'A'),
      '.claude/agents/b.md': agentFile('name: none\ndescription: d\ntools:', 'B'),
      '.claude/agents/c.md': agentFile(
        'name: minus\ndescription: d\ndisallowedTools: Write, Edit\nmaxTurns: 4\neffort: high\nhooks: {}',
        'C',
      ),
    });
    const listed = findAgentDefinition('listed', { cwd: dir, home });
    expect(listed.tools).toEqual(['Bash', 'Bash(git log, git diff)']);
    // The builtin agent cannot enforce a rule: that entry grants nothing (plain Bash still does).
    expect(builtinToolsFor({ ...listed, tools: ['Bash(git log, git diff)', 'Read'] }, CODING_TOOL_NAMES)).toEqual({
      tools: ['read_file'],
      warnings: ["agentType 'listed': tool 'Bash(git log, git diff)' has a rule the builtin agent cannot enforce; not granted"],
    });
    expect(findAgentDefinition('none', { cwd: dir, home }).tools).toEqual([]);
    expect(findAgentDefinition('minus', { cwd: dir, home })).toMatchObject({
      disallowedTools: ['Write', 'Edit'],
      maxTurns: 4,
      effort: 'high',
      unapplied: ['hooks'],
    });
  });

  it('refuses an invalid definition with its file and line; other agents stay usable', () => {
    const { dir, home } = project({
      '.claude/agents/broken.md': '---\nname: broken\ndescription: d\ntools: [Read\nmodel: haiku\n---\nbody\n',
      '.claude/agents/typed.md': '---\nname: typed\ndescription: d\n\nmodel: {id: x}\n---\nbody\n',
      '.claude/agents/nodesc.md': '---\n# a comment\nname: nodesc\n---\nbody\n',
      '.claude/agents/open.md': '---\nname: open\ndescription: d\nbody with no closing line\n',
      '.claude/agents/turns.md': '---\nname: turns\ndescription: d\nmaxTurns: many\n---\nbody\n',
      '.claude/agents/effort.md': '---\nname: effortful\ndescription: d\neffort: ultra\n---\nbody\n',
    });
    const failure = (name: string) => {
      try {
        findAgentDefinition(name, { cwd: dir, home });
      } catch (err) {
        return err as AgentDefinitionError;
      }
      throw new Error(`${name} was accepted`);
    };
    const agents = join(dir, '.claude/agents');
    expect(failure('broken').message).toMatch(new RegExp(`^${join(agents, 'broken.md')}:[45]: invalid YAML frontmatter`));
    expect(failure('broken').code).toBe('INVALID_AGENT_DEFINITION');
    expect(failure('typed').message).toBe(`${join(agents, 'typed.md')}:5: \`model\` must be a string`);
    expect(failure('nodesc').message).toMatch(new RegExp(`^${join(agents, 'nodesc.md')}:3: agent 'nodesc' has no \`description\``));
    expect(failure('open').message).toMatch(/open\.md:1: the frontmatter opened by --- is never closed/);
    expect(failure('turns').message).toMatch(/turns\.md:4: `maxTurns` must be a positive integer/);
    expect(failure('turns').exitCode).toBe(2);
    expect(failure('effortful').message).toMatch(/effort\.md:4: `effort` must be one of low, medium, high, xhigh, max/);
    expect(findAgentDefinition('code-reviewer', { cwd: dir, home }).prompt).toContain('REVIEWER-MARK');
  });

  it('says which folders it searched and which agents exist when the name is unknown (as claude --agent does)', () => {
    const { dir, home } = project();
    const err = (() => {
      try {
        findAgentDefinition('no-such-agent', { cwd: dir, home });
      } catch (e) {
        return e as AgentDefinitionError;
      }
    })();
    expect(err?.code).toBe('AGENT_TYPE_NOT_FOUND');
    expect(err?.message).toContain(join(dir, '.claude/agents'));
    expect(err?.message).toContain(join(home, '.claude/agents'));
    expect(err?.message).toMatch(/Available agents: .*code-reviewer.*general-purpose.*user-helper/);
  });
});

describe('builtin backend: agentType applies the definition', () => {
  it("appends the definition's body to the fixed prompt, narrows the tools and maps the model alias", async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const req = request(dir, { agentType: 'code-reviewer' });
    const out = await builtin(gw, home).run(req);
    expect(out).toMatchObject({ ok: true, text: 'reviewed as code-reviewer' });
    const [sent] = gw.stats().log;
    expect(sent?.model).toBe('claude-haiku-4-5-20251001');
    const rendered = sent?.rendered ?? '';
    // The fixed prompt stays first (a shared cacheable prefix), the agent's body after it.
    expect(rendered.indexOf(CODING_SYSTEM.split('\n')[0] as string)).toBeGreaterThan(-1);
    expect(rendered.indexOf('REVIEWER-MARK')).toBeGreaterThan(rendered.indexOf(CODING_SYSTEM.split('\n')[0] as string));
    expect(rendered).toContain('"name":"read_file"');
    expect(rendered).toContain('"name":"grep"');
    expect(rendered).not.toContain('"name":"bash"');
    expect(rendered).not.toContain('"name":"write_file"');
    const warning = "agentType 'code-reviewer': tool 'WebFetch' has no builtin counterpart; ignored";
    expect(req.progress).toContainEqual({ type: 'warning', message: warning });
    expect(out.detail).toMatchObject({ agentDefinition: join(dir, '.claude/agents/code-reviewer.md'), warnings: [warning] });
  });

  it('refuses a tool the definition does not grant, as a tool error the model sees', async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const out = await builtin(gw, home).run(request(dir, { agentType: 'code-reviewer', prompt: 'try bash' }));
    expect(out).toMatchObject({ ok: true, text: 'bash refused' });
    expect(gw.stats().log[1]?.last).toMatch(/unknown tool "bash"; available: grep, read_file/);
  });

  it("keeps the call's own model, and the run's for `inherit`; an id is used as written", async () => {
    const { dir, home } = project({
      '.claude/agents/inherit.md': agentFile('name: inheriting\ndescription: d\nmodel: inherit', 'You are USER-MARK too.'),
      '.claude/agents/pinned.md': agentFile('name: pinned\ndescription: d\nmodel: claude-opus-4-8', 'You are USER-MARK, pinned.'),
    });
    const gw = await simGateway(SCENARIO);
    const backend = builtin(gw, home);
    await backend.run(request(dir, { agentType: 'code-reviewer', model: 'claude-sonnet-5', modelFromCall: true }));
    await backend.run(request(dir, { agentType: 'inheriting', model: 'run-model' }));
    await backend.run(request(dir, { agentType: 'pinned', model: 'run-model' }));
    expect(gw.stats().log.map((l) => l.model)).toEqual(['claude-sonnet-5', 'run-model', 'claude-opus-4-8']);
  });

  it('keeps the model on a provider that does not speak Claude aliases, with a warning', async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const req = request(dir, { agentType: 'code-reviewer', model: 'gpt-5.5' });
    const out = await builtin(gw, home, 'openai').run(req);
    expect(out).toMatchObject({ ok: true, text: 'reviewed as code-reviewer' });
    expect(gw.stats().log[0]?.model).toBe('gpt-5.5');
    expect(out.detail?.warnings).toContain("agentType 'code-reviewer': model 'haiku' is a Claude alias; kept gpt-5.5 on this provider");
  });

  it("intersects the call's tools with the definition's; maxTurns and disallowedTools apply; the user level is found", async () => {
    const { dir, home } = project({
      '.claude/agents/limited.md': agentFile(
        'name: limited\ndescription: d\ndisallowedTools: Bash, Write\nmaxTurns: 1\nmcpServers: [github]',
        'You are REVIEWER-MARK, limited.',
      ),
    });
    const gw = await simGateway(SCENARIO);
    const backend = builtin(gw, home);
    const narrowed = await backend.run(request(dir, { agentType: 'code-reviewer', tools: ['read_file', 'bash'] }));
    expect(narrowed.ok).toBe(true);
    const toolsOffered = (i: number) => [...(gw.stats().log[i]?.rendered ?? '').matchAll(/"name":"(\w+)"/g)].map((m) => m[1]);
    expect(toolsOffered(0)).toEqual(['read_file']);
    // maxTurns 1: the first tool call uses the only turn.
    const limited = await backend.run(request(dir, { agentType: 'limited', prompt: 'try bash' }));
    expect(limited).toMatchObject({ ok: false, error: { code: 'MAX_TURNS' } });
    expect(limited.detail?.warnings).toEqual(["agentType 'limited': mcpServers not applied by the builtin backend"]);
    expect(toolsOffered(1)).toEqual(['edit_file', 'glob', 'grep', 'read_file']);
    const user = await backend.run(request(dir, { agentType: 'user-helper' }));
    expect(user).toMatchObject({ ok: true, text: 'helped from the user level' });
  });

  it('fails the call before any request for an unknown agent type or an invalid definition', async () => {
    const { dir, home } = project({ '.claude/agents/bad.md': '---\nname: bad\ndescription: [oops\n---\nbody\n' });
    const gw = await simGateway(SCENARIO);
    const backend = builtin(gw, home);
    const unknown = await backend.run(request(dir, { agentType: 'security-auditor' }));
    expect(unknown).toMatchObject({ ok: false, attempts: 0, error: { code: 'AGENT_TYPE_NOT_FOUND' } });
    expect(unknown.ok ? '' : unknown.error.message).toMatch(/agentType 'security-auditor' not found .*Available agents: .*code-reviewer/);
    const invalid = await backend.run(request(dir, { agentType: 'bad' }));
    expect(invalid).toMatchObject({ ok: false, attempts: 0, error: { code: 'INVALID_AGENT_DEFINITION' } });
    expect(invalid.ok ? '' : invalid.error.message).toMatch(new RegExp(`^${join(dir, '.claude/agents/bad.md')}:3: invalid YAML`));
    expect(gw.stats().requests).toBe(0);
  });

  it('runs without agentType exactly as before (no definition read)', async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const out = await builtin(gw, home).run(request(dir));
    expect(out).toMatchObject({ ok: true, text: 'plain agent' });
    expect(out.detail?.agentDefinition).toBeUndefined();
    expect(gw.stats().log[0]?.model).toBe('claude-sonnet-5');
  });
});

describe('claude-code backend: agentType becomes --agent (real claude CLI, offline against the sim gateway)', () => {
  it("runs Claude Code as the project's agent: its prompt, tools and model reach the request", async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const backend = new ClaudeCodeBackend({ gatewayUrl: gw.url, apiKey: 'sim', maxRetries: 0, userHome: home });
    const out = await backend.run(request(dir, { agentType: 'code-reviewer' }));
    expect(out).toMatchObject({ ok: true, text: 'reviewed as code-reviewer' });
    const sent = gw.stats().log.filter((l) => l.agent === 'claude-code');
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((l) => l.rule === 'reviewer')).toBe(true);
    expect(sent[0]?.model).toBe('claude-haiku-4-5-20251001');
    const rendered = sent[0]?.rendered ?? '';
    expect(rendered).toContain('REVIEWER-MARK');
    expect(rendered).not.toContain('USER-REVIEWER-MARK');
    const tools = [...rendered.split('\n')[0]!.matchAll(/"name":"(\w+)"/g)].map((m) => m[1]);
    // Claude Code's own names pass through: WebFetch is one of its tools (the builtin agent has no counterpart).
    expect(tools.sort()).toEqual(['Grep', 'Read', 'WebFetch']);
    expect(out.detail?.agentDefinition).toBe(join(dir, '.claude/agents/code-reviewer.md'));
  });

  it("finds the user's ~/.claude/agents through the isolated HOME; the call's model wins over the definition's", async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const backend = new ClaudeCodeBackend({ gatewayUrl: gw.url, apiKey: 'sim', maxRetries: 0, userHome: home });
    const user = await backend.run(request(dir, { agentType: 'user-helper' }));
    expect(user).toMatchObject({ ok: true, text: 'helped from the user level' });
    gw.reset();
    const schema = { type: 'object', properties: { bugs: { type: 'number' } }, required: ['bugs'] };
    const pinned = await backend.run(
      request(dir, { agentType: 'code-reviewer', model: 'claude-sonnet-5', modelFromCall: true, prompt: 'structured review', schema }),
    );
    // A structured result still works with the agent's narrowed tools.
    expect(pinned).toMatchObject({ ok: true, object: { bugs: 0 } });
    expect(gw.stats().log[0]).toMatchObject({ model: 'claude-sonnet-5', rule: 'structured' });
  });

  it("refuses an invalid definition before starting claude; an unknown name gets Claude Code's own error", async () => {
    const { dir, home } = project({ '.claude/agents/bad.md': '---\nname: bad\ndescription: [oops\n---\nbody\n' });
    const gw = await simGateway(SCENARIO);
    const backend = new ClaudeCodeBackend({ gatewayUrl: gw.url, apiKey: 'sim', maxRetries: 0, userHome: home });
    const invalid = await backend.run(request(dir, { agentType: 'bad' }));
    expect(invalid).toMatchObject({ ok: false, attempts: 0, error: { code: 'INVALID_AGENT_DEFINITION' } });
    const unknown = await backend.run(request(dir, { agentType: 'security-auditor' }));
    expect(unknown.ok).toBe(false);
    expect(unknown.ok ? '' : unknown.error.message).toMatch(/--agent 'security-auditor' not found\. Available agents: .*code-reviewer/);
    expect(gw.stats().requests).toBe(0);
  });
});

describe('codex backend: agentType as instructions', () => {
  it("sends the definition's body as developer instructions; its tools and model are warned about, not applied", async () => {
    const { dir, home } = project();
    const gw = await simGateway(SCENARIO);
    const backend = new CodexBackend({ gatewayUrl: gw.url, apiKey: 'sim', maxRetries: 0, userHome: home });
    const req = request(dir, { agentType: 'code-reviewer', model: 'gpt-5.5' });
    const out = await backend.run(req);
    // The rule that matched is the one whose system pattern is the definition's body.
    expect(out).toMatchObject({ ok: true, text: 'reviewed as code-reviewer' });
    const [sent] = gw.stats().log;
    expect(sent).toMatchObject({ agent: 'codex', rule: 'reviewer', model: 'gpt-5.5' });
    expect(sent?.rendered).toContain('REVIEWER-MARK');
    expect(out.detail?.warnings).toEqual([
      "agentType 'code-reviewer': its tools are Claude Code's; codex keeps its own tools",
      "agentType 'code-reviewer': model 'haiku' is not applied on codex; kept gpt-5.5",
    ]);
    expect(req.progress.filter((p) => p.type === 'warning')).toHaveLength(2);
    const unknown = await backend.run(request(dir, { agentType: 'security-auditor' }));
    expect(unknown).toMatchObject({ ok: false, error: { code: 'AGENT_TYPE_NOT_FOUND' } });
  });
});

describe('agent(prompt, { agentType }) through the workflow runtime', () => {
  it('reaches the builtin and claude-code backends; editing the definition makes the call run again', async () => {
    const dir = tempDir();
    execFileSync('git', ['init', '-q'], { cwd: dir });
    mkdirSync(join(dir, '.claude/agents'), { recursive: true });
    const definition = (mark: string) =>
      `---\nname: code-reviewer\ndescription: d\ntools: Read, Grep, WebFetch\nmodel: haiku\n---\nYou are ${mark}.\n`;
    write(dir, '.claude/agents/code-reviewer.md', definition('REVIEWER-MARK'));
    const gw = await gateway(
      `rules:\n  - match: { system: 'REVIEWER-MARK' }\n    turns: [{ text: reviewed }]\n  - match: { system: 'EDITED-MARK' }\n    turns: [{ text: edited }]\n  - turns: [{ text: plain }]\n`,
    );
    for (const backend of ['builtin', 'claude-code']) {
      const { store } = tempStore(tempDir());
      const s = await runWorkflow({
        store,
        script: ccScript(dir, "return await agent('review', { agentType: 'code-reviewer', label: 'rev' })"),
        gateway: gw.url,
        workdir: dir,
        backend,
        cliRetries: 0,
      });
      expect(s.result, backend).toBe('reviewed');
      if (backend === 'builtin') {
        const same = await resumeRun({ store, runId: s.runId, gateway: gw.url });
        expect(same.calls).toMatchObject({ executed: 0, reused: 1 });
        write(dir, '.claude/agents/code-reviewer.md', definition('EDITED-MARK'));
        const again = await resumeRun({ store, runId: s.runId, gateway: gw.url });
        expect(again.calls).toMatchObject({ executed: 1 });
        expect(again.result).toBe('edited');
        write(dir, '.claude/agents/code-reviewer.md', definition('REVIEWER-MARK'));
      }
    }
  });
});
