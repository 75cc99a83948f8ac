import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import {
  CASSETTE_VERSION,
  type Cassette,
  diffKeys,
  keyHash,
  matchKey,
  recordingSource,
  replaySource,
} from '../src/gateway/cassette/index.js';
import { startGateway } from '../src/gateway/server.js';
import { ProxySource } from '../src/gateway/sources/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, gateway, lastJson, runClaude, tempDir, tempStore, write } from './helpers.js';
import { forwardSource, type Served, serveSource } from './source-harness.js';

const SCENARIO = `
rules:
  - name: tools
    match: { prompt: 'look at (\\S+)' }
    turns:
      - text: 'Let me read {{1}}.'
        tool_use: { name: read_file, input: { path: '{{1}}' } }
      - text: 'Done with {{1}}: a long enough answer to come in several stream chunks, one after another.'
  - name: flaky
    match: { prompt: 'flaky' }
    faults: [{ status: 429, times: 1, retry_after_s: 0 }]
    turns: [{ text: 'fine now' }]
  - name: cut
    match: { prompt: 'cut me' }
    faults: [{ cut_after_events: 3 }]
    turns: [{ text: 'a long answer that will be cut in the middle of its stream' }]
  - name: echo
    match: { prompt: 'echo (.*)' }
    turns: [{ text: 'echo: {{1}}' }]
`;

const PLANTED = 'sk-ant-api03-PLANTEDsecretKEY0123456789abcdefXYZ';

function bodyOf(text: string): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield Buffer.from(text);
  })();
}

function cassettes(dir: string): { file: string; text: string; cassette: Cassette }[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => {
      const text = readFileSync(join(dir, n), 'utf8');
      return { file: n, text, cassette: JSON.parse(text) as Cassette };
    });
}

/** The served answers as comparable strings, order-free (parallel agents answer in any order). */
function servedSet(list: Served[]): string[] {
  return list.map((s) => `${s.path} ${s.status} ${s.cut ? 'cut' : 'ended'} ${s.bytes.toString('base64')}`).sort();
}

describe('cassettes: record then replay a workflow', () => {
  it('replays a streamed multi-agent workflow byte for byte with the upstream stopped and no key', async () => {
    const dir = tempDir();
    const tapes = join(dir, 'cassettes', 'wf');
    write(dir, 'a.txt', 'alpha');
    write(dir, 'b.txt', 'beta');
    const script = ccScript(
      dir,
      `const out = await parallel(['a.txt', 'b.txt', 'c.txt'].map((f) => () => agent('look at ' + f, { label: f })));
return out;`,
    );
    const sim = await gateway(SCENARIO);
    const recorder = await serveSource(recordingSource(forwardSource(sim.url), tapes));
    const recorded = await cli(['run', script, '--gateway', recorder.url, '--json'], {
      cwd: dir,
      env: { DROVER_STORE: join(dir, 'rec.db'), ANTHROPIC_API_KEY: PLANTED },
    });
    expect(recorded.code, recorded.stderr).toBe(0);
    const expected = lastJson(recorded.stdout).result;
    expect(expected).toEqual([
      expect.stringContaining('Done with a.txt'),
      expect.stringContaining('Done with b.txt'),
      expect.stringContaining('Done with c.txt'),
    ]);
    // Two turns per agent (tool call, then the answer), all streamed.
    expect(recorder.served).toHaveLength(6);
    expect(recorder.served.every((s) => s.headers['content-type']?.includes('text/event-stream'))).toBe(true);
    const files = cassettes(tapes);
    expect(files).toHaveLength(6);
    for (const { text, cassette } of files) {
      expect(cassette.version).toBe(CASSETTE_VERSION);
      expect(cassette.response.end).toBe('complete');
      const body = cassette.response.chunks.map((c) => ('utf8' in c ? c.utf8 : Buffer.from(c.b64, 'base64').toString())).join('');
      expect(body).toMatch(/^event: message_start[\s\S]*event: message_stop/);
      expect(text).not.toContain('PLANTED');
    }
    const simRequests = sim.stats().requests;
    await recorder.close();
    await sim.close();

    const player = await serveSource(replaySource(tapes));
    const replayed = await cli(['run', script, '--gateway', player.url, '--json'], {
      cwd: dir,
      env: { DROVER_STORE: join(dir, 'replay.db'), ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' },
    });
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(lastJson(replayed.stdout).result).toEqual(expected);
    expect(player.served.map((s) => s.headers['x-drover-cassette'])).not.toContain('miss');
    expect(servedSet(player.served)).toEqual(servedSet(recorder.served));
    expect(sim.stats().requests).toBe(simRequests);
  });
});

describe('cassettes: the real claude CLI', () => {
  it('a Chat stream whose client did not ask for usage: replay sends the bytes the client got when recorded (no usage chunk)', async () => {
    const dir = tempDir();
    const tapes = join(dir, 'cassettes', 'chat');
    const sim = await gateway(SCENARIO);
    const body = JSON.stringify({ model: 'gpt-sim', stream: true, messages: [{ role: 'user', content: 'echo hello there' }] });
    const read = async (url: string) => {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
        body,
      });
      expect(res.status).toBe(200);
      return res.text();
    };
    // drover's own gateway (its pipeline applies the client filter), in record then replay mode.
    const recorder = await startGateway({
      mode: 'record',
      source: recordingSource(new ProxySource({ openai: sim.url, anthropic: sim.url, env: {} }), tapes),
    });
    const recorded = await read(recorder.url);
    await recorder.close();
    await sim.close();
    // The cassette keeps the usage chunk drover asked for (to meter it); the client never saw it.
    const [tape] = cassettes(tapes);
    const stored = (tape?.cassette.response.chunks ?? [])
      .map((c) => ('utf8' in c ? c.utf8 : Buffer.from(c.b64, 'base64').toString()))
      .join('');
    expect(stored).toMatch(/"choices":\s*\[\]/);
    expect(recorded).not.toMatch(/"choices":\s*\[\]/);
    expect(recorded).toContain('echo: hello there');
    const player = await startGateway({ mode: 'replay', source: replaySource(tapes) });
    expect(await read(player.url)).toBe(recorded);
    await player.close();
  });

  it('records a tool-using session and replays it with the upstream stopped and no key', async () => {
    const dir = tempDir();
    write(dir, 'notes.txt', 'the secret word is heliotrope\n');
    const sim = await gateway(`
rules:
  - name: read-then-answer
    match: { last: 'What does notes.txt say|heliotrope' }
    turns:
      - tool_use: { name: Read, input: { file_path: '${dir}/notes.txt' } }
      - text: 'notes.txt says heliotrope'
`);
    const tapes = join(dir, 'tapes');
    const recording = recordingSource(forwardSource(sim.url), tapes);
    const recorder = await serveSource(recording);
    const args = ['-p', 'What does notes.txt say?', '--allowedTools', 'Read'];
    // The system prompt names the home directory (Claude Code's memory path): both runs share one.
    const home = tempDir();
    const recorded = await runClaude(args, { gatewayUrl: recorder.url, home, cwd: dir, env: { ANTHROPIC_API_KEY: PLANTED } });
    expect(recorded.status, recorded.stderr).toBe(0);
    expect(recorded.lines.at(-1)).toMatchObject({ type: 'result', is_error: false, result: 'notes.txt says heliotrope' });
    await recording.flush();
    await recorder.close();
    await sim.close();
    for (const { text } of cassettes(tapes)) expect(text).not.toContain('PLANTED');

    const player = await serveSource(replaySource(tapes));
    const replayed = await runClaude(args, { gatewayUrl: player.url, home, cwd: dir, env: { ANTHROPIC_API_KEY: 'no-key' } });
    expect(replayed.status, `${replayed.stderr}\n${player.served.map((s) => s.bytes.toString()).join('\n')}`).toBe(0);
    expect(replayed.lines.at(-1)).toMatchObject({ type: 'result', is_error: false, result: 'notes.txt says heliotrope' });
    expect(player.served.map((s) => s.headers['x-drover-cassette'])).not.toContain('miss');
    expect(servedSet(player.served)).toEqual(servedSet(recorder.served));
  });
});

describe('cassettes: the real codex CLI', () => {
  it('records a tool-using codex agent and replays it with the upstream stopped', async () => {
    const dir = tempDir();
    write(dir, 'notes.txt', 'heliotrope\n');
    const sim = await gateway(`
rules:
  - name: codex-read
    match: { agent: '^codex$', prompt: 'read the notes' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'cat notes.txt' } }
      - text: 'the notes say heliotrope'
`);
    const tapes = join(dir, 'tapes');
    const recording = recordingSource(forwardSource(sim.url), tapes);
    const recorder = await serveSource(recording);
    const script = ccScript(dir, "return await agent('read the notes', { label: 'notes' })");
    const run = (url: string, db: string) =>
      runWorkflow({ store: tempStore(tempDir()).store, script, gateway: url, workdir: dir, backend: 'codex', cliRetries: 0, runId: db });
    const recorded = await run(recorder.url, 'rec');
    expect(recorded.status).toBe('completed');
    expect(recorded.result).toBe('the notes say heliotrope');
    await recording.flush();
    await recorder.close();
    await sim.close();
    const player = await serveSource(replaySource(tapes));
    const replayed = await run(player.url, 'rep');
    const misses = player.served.filter((s) => s.headers['x-drover-cassette'] === 'miss').map((s) => s.bytes.toString());
    expect(misses).toEqual([]);
    // Codex prefixes each command's output with a random chunk id and the wall time: the turn after
    // the tool call matched with tool outputs ignored.
    expect(player.served.map((s) => s.headers['x-drover-cassette-match'] ?? 'exact')).toEqual(['exact', 'tool-outputs-ignored']);
    expect(replayed.result).toBe(recorded.result);
    expect(servedSet(player.served)).toEqual(servedSet(recorder.served));
  });
});

describe('cassettes: request matching', () => {
  const base = {
    path: '/v1/messages',
    model: 'claude-sonnet-5',
    stream: true,
    body: {
      model: 'claude-sonnet-5',
      max_tokens: 100,
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Fix   the\nbug ' }] }],
      tools: [{ name: 'read_file', description: 'reads', input_schema: { type: 'object', properties: {} } }],
      metadata: { user_id: 'session-1' },
    },
  };
  const hash = (b: Record<string, unknown>, over: Partial<typeof base> = {}) => keyHash(matchKey({ ...base, ...over, body: b }));

  it('ignores key order, cache markers, whitespace runs, max_tokens and metadata', () => {
    const same = {
      metadata: { user_id: 'session-2' },
      tools: [{ input_schema: { properties: {}, type: 'object' }, description: 'reads', name: 'read_file' }],
      messages: [{ content: [{ text: 'Fix the bug', type: 'text', cache_control: { type: 'ephemeral' } }], role: 'user' }],
      system: [{ text: ' You are  terse. ', type: 'text' }],
      max_tokens: 4096,
      model: 'claude-sonnet-5',
    };
    expect(hash(same)).toBe(hash(base.body));
  });

  it('shows where a long line differs, not only its start', () => {
    const long = 'You are an agent. '.repeat(30);
    const d = diffKeys({ system: `${long}memory at /home/alice/.claude` }, { system: `${long}memory at /home/bob/.claude` });
    expect(d.distance).toBe(2);
    expect(d.text).toMatch(/^- ….*\/home\/alice\/\.claude"$/m);
    expect(d.text).toMatch(/^\+ ….*\/home\/bob\/\.claude"$/m);
  });

  it("ignores item ids and mkdtemp suffixes (codex's fresh CODEX_HOME and msg_ ids)", () => {
    const at = (home: string, id: string) =>
      hash(
        {
          model: 'gpt-5.5',
          input: [{ id, type: 'message', role: 'developer', content: [{ type: 'input_text', text: `skills at ${home}/.codex/skills` }] }],
        },
        { path: '/v1/responses' },
      );
    expect(at('/tmp/drover-codex-UPoYQ3', 'msg_1')).toBe(at('/tmp/drover-codex-qHAhRY', 'msg_2'));
    expect(at('/tmp/drover-codex-UPoYQ3', 'msg_1')).not.toBe(at('/tmp/other-codex-UPoYQ3', 'msg_1'));
    expect(at('/tmp/drover-codex-UPoYQ3', 'msg_1')).not.toBe(at('/home/me/drover-codex-qHAhRY', 'msg_1'));
  });

  it('tells apart model, system, messages, tools, stream and route', () => {
    const h = hash(base.body);
    expect(hash({ ...base.body, system: 'You are verbose.' })).not.toBe(h);
    expect(hash({ ...base.body, messages: [{ role: 'user', content: 'Fix the bag' }] })).not.toBe(h);
    expect(hash({ ...base.body, tools: [] })).not.toBe(h);
    expect(hash(base.body, { model: 'claude-opus-4-1' })).not.toBe(h);
    expect(hash(base.body, { stream: false })).not.toBe(h);
    expect(hash(base.body, { path: '/v1/chat/completions' })).not.toBe(h);
    // The Responses API's instructions/input count as system/messages.
    const r = { model: 'gpt-5.5', instructions: 'Be terse.', input: 'hello' };
    expect(hash(r, { path: '/v1/responses' })).not.toBe(hash({ ...r, input: 'hello there' }, { path: '/v1/responses' }));
  });
});

describe('cassettes: replay', () => {
  /** Records `count` answers, waiting for their cassettes (a client may see the end of a body before its cassette is renamed). */
  async function recordThen(count: number, requests: (url: string) => Promise<void>) {
    const tapes = tempDir();
    const sim = await gateway(SCENARIO);
    let written = 0;
    let allWritten = () => {};
    const done = new Promise<void>((resolve) => {
      allWritten = resolve;
    });
    const onWrite = () => {
      if (++written === count) allWritten();
    };
    if (count === 0) allWritten();
    const recorder = await serveSource(recordingSource(forwardSource(sim.url), tapes, { onWrite }));
    await requests(recorder.url);
    await done;
    await recorder.close();
    await sim.close();
    return { tapes, recorder, player: await serveSource(replaySource(tapes)) };
  }
  const anthropic = (url: string) => new Anthropic({ baseURL: url, apiKey: 'test-key', maxRetries: 0 });

  it('answers a miss with 404 naming the request and the closest recording with a diff', async () => {
    const { player } = await recordThen(2, async (url) => {
      await anthropic(url).messages.create({
        model: 'claude-sonnet-5',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'echo hello world' }],
      });
      await anthropic(url).messages.create({
        model: 'claude-sonnet-5',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'look at x' }],
      });
    });
    // A hit first: same request, different max_tokens.
    const hit = await anthropic(player.url).messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 999,
      messages: [{ role: 'user', content: 'echo hello world' }],
    });
    expect(hit.content).toEqual([{ type: 'text', text: 'echo: hello world' }]);
    const err = await anthropic(player.url)
      .messages.create({ model: 'claude-sonnet-5', max_tokens: 50, messages: [{ role: 'user', content: 'echo hello there friend' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    const message = ((err as InstanceType<typeof Anthropic.NotFoundError>).error as { error: { message: string } }).error.message;
    expect(message).toContain('no recording');
    expect(message).toContain('model claude-sonnet-5');
    expect(message).toContain('"echo hello there friend"');
    expect(message).toMatch(/hash [0-9a-f]{12}/);
    expect(message).toMatch(
      /closest recording: [0-9a-f]{16}-0\.json \(\/v1\/messages model claude-sonnet-5, last user message "echo hello world"/,
    );
    expect(message).toContain('- ');
    expect(message).toMatch(/-\s+"content": "echo hello world"/);
    expect(message).toMatch(/\+\s+"content": "echo hello there friend"/);
    expect(player.served.at(-1)?.headers['x-drover-cassette']).toBe('miss');
  });

  it('answers an OpenAI miss in the OpenAI error shape', async () => {
    const { player } = await recordThen(0, async () => {});
    const openai = new OpenAI({ baseURL: `${player.url}/v1`, apiKey: 'test-key', maxRetries: 0 });
    const err = await openai.responses.create({ model: 'gpt-5.5', input: 'echo nothing recorded' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const e = err as InstanceType<typeof OpenAI.NotFoundError>;
    expect(e.code).toBe('cassette_miss');
    expect(e.message).toContain('"echo nothing recorded"');
    expect(e.message).toContain('holds no recordings');
  });

  it('serves identical requests in recorded order, then repeats the last', async () => {
    const ask = (url: string) =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': PLANTED },
        body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'flaky' }] }),
      }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() }));
    const recordedAnswers: { status: number; text: string }[] = [];
    const { player, tapes } = await recordThen(2, async (url) => {
      recordedAnswers.push(await ask(url), await ask(url));
    });
    expect(recordedAnswers.map((a) => a.status)).toEqual([429, 200]);
    expect(readdirSync(tapes).sort()).toEqual([expect.stringMatching(/-0\.json$/), expect.stringMatching(/-1\.json$/)]);
    const first = await ask(player.url);
    expect(first).toEqual({ ...recordedAnswers[0], retryAfter: '0' });
    expect((await ask(player.url)).text).toBe(recordedAnswers[1]?.text);
    expect((await ask(player.url)).text).toBe(recordedAnswers[1]?.text);
  });

  it('replays a stream the upstream cut: the same bytes, then the same cut', async () => {
    const raw = (url: string) =>
      fetch(`${url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'cut me' }] }),
      })
        .then((r) => r.text())
        .catch((e: unknown) => e);
    const { player, recorder, tapes } = await recordThen(1, async (url) => {
      expect(await raw(url)).toBeInstanceOf(Error);
    });
    expect(cassettes(tapes)[0]?.cassette.response.end).toBe('cut');
    expect(await raw(player.url)).toBeInstanceOf(Error);
    expect(player.served[0]?.cut).toBe(true);
    expect(player.served[0]?.bytes.length).toBeGreaterThan(0);
    expect(player.served[0]?.bytes.equals(recorder.served[0]?.bytes ?? Buffer.alloc(0))).toBe(true);
  });

  it('matches a tool output that changed only in the lenient tier, and says so', async () => {
    const turn = (output: string) => ({
      model: 'claude-sonnet-5',
      max_tokens: 20,
      messages: [
        { role: 'user', content: 'echo ran' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'make' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: output }] },
      ],
    });
    const send = (url: string, output: string) =>
      fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(turn(output)) });
    const { tapes } = await recordThen(1, async (url) => {
      expect((await send(url, 'built in 0.19 s')).status).toBe(200);
    });
    const lenient = await serveSource(replaySource(tapes));
    const exact = await serveSource(replaySource(tapes, { match: 'exact' }));
    const same = await send(lenient.url, 'built in 0.19 s');
    expect([same.status, same.headers.get('x-drover-cassette-match')]).toEqual([200, null]);
    const noisy = await send(lenient.url, 'built in 0.31 s');
    expect([noisy.status, noisy.headers.get('x-drover-cassette-match')]).toEqual([200, 'tool-outputs-ignored']);
    expect(await noisy.text()).toBe(await same.text());
    const refused = await send(exact.url, 'built in 0.31 s');
    expect(refused.status).toBe(404);
    expect(await refused.text()).toContain('built in 0.31 s');
  });

  it('waits as the recording did with timing: recorded', async () => {
    const tapes = tempDir();
    const cassette: Cassette = {
      version: 1,
      key: matchKey({ path: '/v1/messages', model: 'm', stream: true, body: { messages: [{ role: 'user', content: 'hi' }] } }),
      hash: '',
      recordedAt: new Date().toISOString(),
      request: { method: 'POST', path: '/v1/messages', wire: 'anthropic', model: 'm', stream: true, body: { utf8: '{}' } },
      response: {
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        headersMs: 3000,
        chunks: [
          { t: 3000, utf8: 'event: a\n\n' },
          { t: 9000, b64: Buffer.from('event: b\n\n').toString('base64') },
        ],
        end: 'complete',
      },
    };
    cassette.hash = keyHash(cassette.key);
    writeFileSync(join(tapes, 'x-0.json'), JSON.stringify(cassette));
    const waits: number[] = [];
    const source = replaySource(tapes, { timing: 'recorded', delay: async (ms) => void waits.push(ms) });
    const req = {
      receivedAt: Date.now(),
      method: 'POST',
      path: '/v1/messages',
      headers: {},
      rawBody: Buffer.from('{}'),
      body: { model: 'm', stream: true, messages: [{ role: 'user', content: ' hi ' }] },
      wire: 'anthropic' as const,
      provider: 'anthropic' as const,
      model: 'm',
      stream: true,
      maxTokens: null,
      attribution: { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null },
    };
    const answer = await source.answer(req, new AbortController().signal);
    let text = '';
    for await (const c of answer.body) text += Buffer.from(c).toString();
    expect(text).toBe('event: a\n\nevent: b\n\n');
    // headers at ~3 s, first chunk at ~3 s (the fake delay did not wait, so it is asked again), second at ~9 s.
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThan(2900);
    expect(waits[2]).toBeGreaterThan(8900);
    expect(replaySource(tapes).mode).toBe('replay');
  });

  it('refuses a bad cassette file naming the file and the field', () => {
    const tapes = tempDir();
    writeFileSync(join(tapes, 'bad-0.json'), JSON.stringify({ version: 1, key: {}, hash: 'nothex' }));
    expect(() => replaySource(tapes)).toThrow(
      expect.objectContaining({ code: 'BAD_CASSETTE', message: expect.stringContaining('bad-0.json: hash') }),
    );
    expect(() => replaySource(join(tapes, 'missing'))).toThrow(expect.objectContaining({ code: 'NO_CASSETTES', exitCode: 2 }));
    writeFileSync(join(tapes, 'bad-0.json'), JSON.stringify({ version: 2 }));
    expect(() => replaySource(tapes)).toThrow(/version/);
  });
});

describe('cassettes: secrets never reach a cassette', () => {
  it('scans every cassette for a planted key in headers, request body and a response split across chunks', async () => {
    const tapes = tempDir();
    const half = PLANTED.length / 2;
    const upstream = {
      mode: 'proxy' as const,
      async answer() {
        return {
          status: 200,
          headers: {
            'content-type': 'text/event-stream',
            'set-cookie': `session=${PLANTED}`,
            'x-echo': `Bearer ${PLANTED}`,
            'anthropic-organization-id': 'org-123',
            'request-id': 'req_1',
            connection: 'keep-alive',
          },
          body: (async function* () {
            yield Buffer.from(`data: {"text":"key ${PLANTED.slice(0, half)}`);
            yield Buffer.from(`${PLANTED.slice(half)} end"}\n\n`);
            yield Buffer.from('data: {"also":"ENVSECRETVALUE42"}\n\n');
          })(),
        };
      },
    };
    const recorder = await serveSource(recordingSource(upstream, tapes, { env: { MY_SERVICE_TOKEN: 'ENVSECRETVALUE42' } }));
    const res = await fetch(`${recorder.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': PLANTED, authorization: `Bearer ${PLANTED}`, cookie: `k=${PLANTED}` },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: `my key is ${PLANTED}` }] }),
    });
    // The client still gets the upstream's exact bytes.
    expect(await res.text()).toContain(PLANTED);
    const [only] = cassettes(tapes);
    expect(only).toBeDefined();
    const text = only?.text ?? '';
    expect(text).not.toContain('PLANTED');
    expect(text).not.toContain(PLANTED.slice(0, half));
    expect(text).not.toContain('ENVSECRETVALUE42');
    expect(text).not.toContain('org-123');
    expect(text).toContain('[REDACTED]');
    const headers = only?.cassette.response.headers ?? {};
    expect(Object.keys(headers).sort()).toEqual(['content-type', 'request-id', 'x-echo']);
    expect(headers['x-echo']).toBe('Bearer [REDACTED]');
    // A request carrying the key still matches the recording made without it.
    const player = await serveSource(replaySource(tapes));
    const again = await fetch(`${player.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: `my key is ${PLANTED}` }] }),
    });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('key [REDACTED] end');
  });

  it('stores a compressed request body decoded, so that its key is found and removed', async () => {
    const tapes = tempDir();
    const body = { model: 'm', stream: false, messages: [{ role: 'user', content: `zipped ${PLANTED}` }] };
    const source = recordingSource({ mode: 'proxy', answer: async () => ({ status: 200, headers: {}, body: bodyOf('{}') }) }, tapes);
    const res = await source.answer(
      {
        receivedAt: Date.now(),
        method: 'POST',
        path: '/v1/responses',
        headers: { 'content-encoding': 'gzip' },
        rawBody: gzipSync(JSON.stringify(body)),
        body,
        wire: 'responses',
        provider: 'openai',
        model: 'm',
        stream: false,
        maxTokens: null,
        attribution: { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null },
      },
      new AbortController().signal,
    );
    for await (const _ of res.body);
    await source.flush();
    const [only] = cassettes(tapes);
    expect(only?.text).not.toContain('PLANTED');
    expect(only?.cassette.request.body).toEqual({
      utf8: JSON.stringify({ ...body, messages: [{ role: 'user', content: 'zipped [REDACTED]' }] }),
    });
  });
});
