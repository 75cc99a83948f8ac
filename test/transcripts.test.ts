/**
 * Agent transcripts for all three backends: the builtin loop, the real `claude` CLI (stream-json)
 * and the real `codex` CLI (exec --json), each offline against the sim gateway, doing the same
 * read → edit → test → answer task in a temp git repo. The transcript (prompt, turns, tool calls
 * with input and output, answer) is stored redacted, only with content capture on, and printed by
 * `drover agent` (the built CLI, a real process).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/output.js';
import { type AgentTranscript, createStore, type TranscriptToolCall } from '../src/store/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { bareRun, ccScript, cli, FAST_BACKOFF, gateway, lastJson, tempDir, tempStore, write } from './helpers.js';

const SECRET = 'sk-ant-transcript0123456789abcdef';
const PATCH = `*** Begin Patch\\n*** Update File: greet.js\\n@@\\n-export const greet = () => 'hello';\\n+export const greet = () => 'goodbye';\\n*** End Patch\\n`;
const SCENARIO = `
rules:
  - name: builtin-fix
    match: { agent: '^builtin$', prompt: 'fix greet' }
    turns:
      - tool_use: { name: read_file, input: { path: greet.js } }
      - tool_use: { name: edit_file, input: { path: greet.js, old_string: "'hello'", new_string: "'goodbye'" } }
      - tool_use: { name: bash, input: { command: 'sh test.sh' } }
      - text: 'greet says goodbye now'
  - name: claude-fix
    match: { agent: '^claude-code$', prompt: 'fix greet in (?<dir>\\S+)' }
    turns:
      - tool_use: { name: Read, input: { file_path: '{{dir}}/greet.js' } }
      - tool_use: { name: Edit, input: { file_path: '{{dir}}/greet.js', old_string: "'hello'", new_string: "'goodbye'" } }
      - tool_use: { name: Bash, input: { command: 'sh test.sh', description: 'run the test' } }
      - text: 'greet says goodbye now'
  - name: codex-fix
    match: { agent: '^codex$', prompt: 'fix greet' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'cat greet.js' } }
      - tool_use: { name: apply_patch, input: "${PATCH}" }
      - tool_use: { name: exec_command, input: { cmd: 'sh test.sh' } }
      - text: 'greet says goodbye now'
`;

function gitRepo(): string {
  const dir = tempDir('drover-repo-');
  write(dir, 'greet.js', `export const greet = () => 'hello';\n// deploy key: ${SECRET}\n`);
  write(dir, 'test.sh', 'grep -q goodbye greet.js && echo TEST PASS || { echo TEST FAIL; exit 1; }\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
  return dir;
}

async function fixRun(backend: string, traceContent: boolean) {
  const repo = gitRepo();
  const gw = await gateway(SCENARIO);
  const { store, path } = tempStore(tempDir());
  const summary = await runWorkflow({
    store,
    script: ccScript(repo, `return await agent('fix greet in ' + args.dir + ' (key ${SECRET})', { label: 'fix' })`),
    args: { dir: repo },
    gateway: gw.url,
    workdir: repo,
    backend,
    backoff: FAST_BACKOFF,
    cliRetries: 0,
    traceContent,
  });
  return { repo, store, path, summary };
}

const allCalls = (t: AgentTranscript): TranscriptToolCall[] => t.turns.flatMap((turn) => turn.toolCalls);

/** What every backend's transcript of the fix task must hold, whatever its tool vocabulary. */
async function expectFixTranscript(backend: string, tools: { read: RegExp; edit: RegExp; test: RegExp }) {
  const { repo, store, path, summary } = await fixRun(backend, true);
  expect(summary.status, JSON.stringify(summary.error)).toBe('completed');
  const calls0 = (await store.listCalls(summary.runId)).filter((c) => c.kind === 'agent');
  expect(calls0).toHaveLength(1);
  const [call] = (await store.listCalls(summary.runId)).filter((c) => c.kind === 'agent');
  const [rec, ...more] = await store.transcripts.forCall(summary.runId, call?.key as string);
  expect(more).toEqual([]);
  const t = rec?.transcript as AgentTranscript;
  expect(t.backend).toBe(backend);
  expect(t.prompt).toBe(`fix greet in ${repo} (key [REDACTED])`);
  expect(t.answer).toBe('greet says goodbye now');
  expect(t.turns.length).toBeGreaterThanOrEqual(2);
  expect(t.turns.map((turn) => turn.text).join('\n')).toContain('greet says goodbye now');
  const calls = allCalls(t);
  const read = calls.find((c) => tools.read.test(`${c.name} ${JSON.stringify(c.input)}`));
  const edit = calls.find((c) => tools.edit.test(`${c.name} ${JSON.stringify(c.input)}`));
  const test = calls.find((c) => tools.test.test(`${c.name} ${JSON.stringify(c.input)}`));
  // Every tool call the backend counted is in the transcript, each with its output.
  expect(calls).toHaveLength(call?.detail?.toolCalls as number);
  expect(calls.every((c) => typeof c.output === 'string')).toBe(true);
  // Codex must be able to run its commands (its own sandbox: see docs/sandbox.md on a bwrap on PATH).
  expect(read?.output, JSON.stringify(calls, null, 1)).toContain("export const greet = () => 'hello'");
  // The secret the tool read is redacted in the stored output.
  expect(read?.output).toContain('[REDACTED]');
  expect(test?.output, JSON.stringify(calls, null, 1)).toContain('TEST PASS');
  expect(test?.isError).toBe(false);
  // Nowhere in the stored record (the prompt carried it too).
  expect(JSON.stringify(rec)).not.toContain(SECRET);
  expect(edit, JSON.stringify(calls, null, 1)).toBeDefined();
  expect(edit?.input).toBeTruthy();
  // Not on the journal entry: the call keeps its counts only.
  expect(call?.detail?.transcript).toBeUndefined();

  // `drover agent` prints it, by label, as text and as JSON.
  const text = await cli(['agent', summary.runId, 'fix', '--store', path]);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toContain(`agent fix · ${backend}`);
  expect(text.stdout).toContain('── prompt');
  expect(text.stdout).toContain(`  → ${edit?.name}`);
  expect(text.stdout).toContain('TEST PASS');
  expect(text.stdout).toMatch(/── answer\n {2}greet says goodbye now/);
  expect(text.stdout).not.toContain(SECRET);
  const json = await cli(['agent', summary.runId, call?.key as string, '--json', '--store', path]);
  expect(json.code, json.stderr).toBe(0);
  expect(lastJson(json.stdout)).toMatchObject({ callKey: call?.key, label: 'fix', attempt: 1, attempts: 1, transcript: { backend } });
}

describe('agent transcripts', { timeout: 120_000 }, () => {
  it('builtin: prompt, every turn, every tool call with input and output, the answer — redacted', async () => {
    await expectFixTranscript('builtin', { read: /^read_file/, edit: /^edit_file/, test: /^bash .*test\.sh/ });
  });

  it('claude-code (the real claude CLI): the same, from its stream-json', async () => {
    await expectFixTranscript('claude-code', { read: /^Read/, edit: /^Edit/, test: /^Bash .*test\.sh/ });
  });

  it('codex (the real codex CLI): the same, from its JSON events', async () => {
    await expectFixTranscript('codex', { read: /^exec_command .*cat greet/, edit: /^apply_patch/, test: /^exec_command .*test\.sh/ });
  });

  it('numbers attempts of a call in the store, and runs prune deletes a run with its transcripts', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    await bareRun(store, 'kept', dir);
    const transcript = (answer: string): AgentTranscript => ({ backend: 'builtin', prompt: 'p', turns: [], answer });
    await store.transcripts.save({ runId: 'kept', callKey: 'agent:k', label: 'k', createdAt: 1, transcript: transcript('one') });
    const second = await store.transcripts.save({
      runId: 'kept',
      callKey: 'agent:k',
      label: 'k',
      createdAt: 2,
      transcript: transcript('two'),
    });
    expect(second.attempt).toBe(2);
    expect((await store.transcripts.forCall('kept', 'agent:k')).map((t) => [t.attempt, t.transcript.answer])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(await store.transcripts.callsWithTranscripts('kept')).toEqual(new Map([['agent:k', 2]]));
    await store.updateRun('kept', { status: 'completed' }, Date.now());
    const pruned = await cli(['runs', 'prune', '--yes', '--json', '--store', path]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await store.transcripts.forCall('kept', 'agent:k')).toEqual([]);
  });

  it('saves of one call racing on two connections get attempts 1…n, each once', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const other = createStore(path);
    try {
      await bareRun(store, 'race', dir);
      const save = (s: typeof store, i: number) =>
        s.transcripts.save({
          runId: 'race',
          callKey: 'agent:r',
          label: 'r',
          createdAt: i,
          transcript: { backend: 'builtin', prompt: 'p', turns: [], answer: `a${i}` },
        });
      const saved = await Promise.all(Array.from({ length: 12 }, (_, i) => save(i % 2 ? other : store, i)));
      expect(saved.map((t) => t.attempt).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const stored = await store.transcripts.forCall('race', 'agent:r');
      // Each record's attempt is the one stored with its answer.
      expect(stored.map((t) => [t.attempt, t.transcript.answer]).sort()).toEqual(saved.map((t) => [t.attempt, t.transcript.answer]).sort());
    } finally {
      await other.close();
    }
  });

  it('keeps nothing without content capture, and drover agent says why (exit 2); an unknown agent is named', async () => {
    const { store, path, summary } = await fixRun('builtin', false);
    expect(summary.status).toBe('completed');
    const [call] = await store.listCalls(summary.runId);
    expect(await store.transcripts.forCall(summary.runId, call?.key as string)).toEqual([]);
    const none = await cli(['agent', summary.runId, 'fix', '--store', path]);
    expect(none.code).toBe(EXIT.input);
    expect(none.stderr).toContain('DROVER_TRACE_CONTENT=1');
    const unknown = await cli(['agent', summary.runId, 'nobody', '--store', path]);
    expect(unknown.code).toBe(EXIT.input);
    expect(unknown.stderr).toContain('its agents: fix');
  });
});
