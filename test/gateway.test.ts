import { gzipSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../src/gateway/scenario.js';
import { cli, gateway, runClaude, tempDir, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: tools
    match: { prompt: 'use a tool' }
    turns:
      - text: 'Let me look.'
        tool_use: { name: read_file, input: { path: notes.txt } }
      - text: 'The file says {{answer}}.'
  - name: structured
    match: { prompt: 'classify (?<word>\\w+)' }
    turns:
      - json: { word: '{{word}}', kind: noun }
  - name: limited
    match: { prompt: 'flaky' }
    faults:
      - { status: 429, times: 2, retry_after_s: 0 }
    turns:
      - text: ok after limits
  - name: overloaded
    match: { prompt: 'overloaded' }
    faults: [{ status: 529 }]
    turns: [{ text: recovered }]
  - name: cut
    match: { prompt: 'cut me' }
    faults: [{ cut_after_events: 3 }]
    turns: [{ text: 'a long answer that will be cut in the middle of its stream' }]
  - name: fixed-usage
    match: { prompt: 'count' }
    usage: { input_tokens: 123, output_tokens: 45, cache_read_input_tokens: 6 }
    turns: [{ text: counted }]
  - name: echo
    match: { prompt: 'echo (.*)' }
    turns: [{ text: 'echo: {{1}}' }]
`;

function client(url: string) {
  return new Anthropic({ baseURL: url, apiKey: 'test', maxRetries: 0 });
}

describe('sim gateway: Anthropic Messages wire format', () => {
  it('answers the official SDK without streaming, with counted usage', async () => {
    const gw = await gateway(SCENARIO);
    const msg = await client(gw.url).messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'echo hi there' }],
    });
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: hi there' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.model).toBe('claude-sonnet-5');
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
    expect(gw.stats().requests).toBe(1);
  });

  it('streams SSE the SDK accumulates into the same message, tool calls included', async () => {
    const gw = await gateway(SCENARIO);
    const c = client(gw.url);
    const first = await c.messages
      .stream({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'please use a tool' }] })
      .finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content[0]).toEqual({ type: 'text', text: 'Let me look.' });
    const use = first.content[1];
    expect(use?.type).toBe('tool_use');
    if (use?.type !== 'tool_use') throw new Error('no tool use');
    expect(use.name).toBe('read_file');
    expect(use.input).toEqual({ path: 'notes.txt' });
    // The tool result comes back in the next request: the conversation has one assistant turn, so turn 2 answers.
    const second = await c.messages
      .stream({
        model: 'm',
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'please use a tool' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'forty-two' }] },
        ],
      })
      .finalMessage();
    expect(second.content).toEqual([{ type: 'text', text: 'The file says {{answer}}.' }]);
    expect(second.stop_reason).toBe('end_turn');
  });

  it('answers a json turn through the structured-output tool the request offers', async () => {
    const gw = await gateway(SCENARIO);
    const msg = await client(gw.url).messages.create({
      model: 'm',
      max_tokens: 100,
      tools: [{ name: 'submit_result', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'submit_result' },
      messages: [{ role: 'user', content: 'classify apple' }],
    });
    expect(msg.content[0]).toMatchObject({ type: 'tool_use', name: 'submit_result', input: { word: 'apple', kind: 'noun' } });
  });

  it('injects 429 with retry-after, then recovers; 529 overloaded; stats count every request', async () => {
    const gw = await gateway(SCENARIO);
    const c = client(gw.url);
    const ask = () => c.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'flaky' }] });
    for (let i = 0; i < 2; i++) {
      const err = await ask().then(
        () => null,
        (e) => e,
      );
      expect(err).toBeInstanceOf(Anthropic.RateLimitError);
      expect(err.headers.get('retry-after')).toBe('0');
      expect(err.error.error.type).toBe('rate_limit_error');
    }
    expect((await ask()).content).toEqual([{ type: 'text', text: 'ok after limits' }]);
    const overloaded = await c.messages
      .create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'overloaded' }] })
      .catch((e) => e);
    expect(overloaded.status).toBe(529);
    const res = await fetch(`${gw.url}/_drover/stats`);
    expect(await res.json()).toMatchObject({ requests: 4, maxInFlight: 1, byStatus: { 200: 1, 429: 2, 529: 1 } });
  });

  it('cuts a stream mid-way and the SDK sees a broken stream', async () => {
    const gw = await gateway(SCENARIO);
    const err = await client(gw.url)
      .messages.stream({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'cut me' }] })
      .finalMessage()
      .then(
        () => null,
        (e) => e,
      );
    expect(err).toBeInstanceOf(Error);
  });

  it('reports given usage exactly, and accepts gzip bodies', async () => {
    const gw = await gateway(SCENARIO);
    const body = gzipSync(JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'count' }] }));
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    expect(res.status).toBe(200);
    const msg = (await res.json()) as { usage: Record<string, number> };
    expect(msg.usage).toEqual({ input_tokens: 123, output_tokens: 45, cache_read_input_tokens: 6, cache_creation_input_tokens: 0 });
  });

  it('refuses malformed bodies and unmatched prompts with a clear 400', async () => {
    const gw = await gateway(SCENARIO);
    const bad = await fetch(`${gw.url}/v1/messages`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    const noMessages = await fetch(`${gw.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'm' }) });
    expect(noMessages.status).toBe(400);
    expect(((await noMessages.json()) as { error: { message: string } }).error.message).toMatch(/^messages:/);
    const err = await client(gw.url)
      .messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'nothing matches this' }] })
      .catch((e) => e);
    expect(err.status).toBe(400);
    expect(err.error.error.message).toMatch(/no rule of scenario .* matches this request \(prompt begins: "nothing matches this"\)/);
  });
});

describe('scenario files', () => {
  it('names file, line and column for broken YAML', () => {
    expect(() => parseScenario('rules:\n  - match: { prompt: "x"\n    turns: []\n', 'bad.yaml')).toThrow(/^bad\.yaml:\d+:\d+: /);
  });

  it('names the position of an unknown key', () => {
    const text = 'rules:\n  - name: a\n    turns:\n      - text: hi\n    colour: blue\n';
    expect(() => parseScenario(text, 's.yaml')).toThrow('s.yaml:5:5: rules.0: unknown key "colour"');
  });

  it('names the position of a bad regex', () => {
    const text = 'rules:\n  - match:\n      prompt: "(unclosed"\n    turns: [{ text: hi }]\n';
    expect(() => parseScenario(text, 's.yaml')).toThrow(/^s\.yaml:3:15: rules\.0\.match\.prompt: bad regex: /);
  });

  it('refuses a turn with nothing to say and a fault with two kinds', () => {
    expect(() => parseScenario('rules:\n  - turns: [{ stop_reason: end_turn }]\n', 's.yaml')).toThrow(
      /a turn needs text, json or tool_use/,
    );
    expect(() => parseScenario('rules:\n  - turns: [{ text: a }]\n    faults: [{ status: 429, cut_after_events: 2 }]\n', 's.yaml')).toThrow(
      /exactly one of status or cut_after_events/,
    );
  });

  it('refuses a missing file by name', () => {
    expect(() => loadScenario('/nonexistent/scenario.yaml')).toThrow(/\/nonexistent\/scenario\.yaml: cannot read scenario \(ENOENT\)/);
  });

  it('drover gateway refuses a bad scenario at start with exit 2 and the position', async () => {
    const dir = tempDir();
    const file = write(dir, 'bad.yaml', 'rules:\n  - turns: [{ text: hi }]\n    mathc: {}\n');
    const r = await cli(['gateway', '--mode', 'sim', '--scenario', file, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3:5: rules.0: unknown key "mathc"`);
  });
});

describe('the real claude CLI against the sim gateway', () => {
  it('runs a tool turn (Read) and returns the scripted final text', async () => {
    const dir = tempDir();
    write(dir, 'notes.txt', 'the secret word is heliotrope\n');
    const gw = await gateway(`
rules:
  - name: read-then-answer
    match: { last: 'What does notes.txt say|heliotrope' }
    turns:
      - tool_use: { name: Read, input: { file_path: '${dir}/notes.txt' } }
      - text: 'notes.txt says heliotrope'
`);
    const home = tempDir();
    const r = await runClaude(['-p', 'What does notes.txt say?', '--allowedTools', 'Read'], { gatewayUrl: gw.url, home, cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const result = lines[lines.length - 1];
    expect(result).toMatchObject({ type: 'result', subtype: 'success', is_error: false, result: 'notes.txt says heliotrope' });
    // The tool really ran: its output went back to the model in the second request.
    const toolResult = lines.find((l) => l.type === 'user' && JSON.stringify(l.message).includes('heliotrope'));
    expect(toolResult).toBeDefined();
    const stats = gw.stats();
    expect(stats.log.map((e) => [e.rule, e.turn, e.status, e.stream])).toEqual([
      ['read-then-answer', 0, 200, true],
      ['read-then-answer', 1, 200, true],
    ]);
  });
});

describe('the sim gateway refuses other sites and foreign Host names', () => {
  it('a cross-origin simple request or a rebound Host gets 403 and changes nothing; SDK-style requests pass', async () => {
    const gw = await gateway(SCENARIO);
    const reset = await fetch(`${gw.url}/_drover/reset`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'text/plain' },
    });
    expect(reset.status).toBe(403);
    expect(await reset.text()).toMatch(/origin http:\/\/evil\.example may not call this server/);
    const spend = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(spend.status).toBe(403);
    const { request } = await import('node:http');
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(`${gw.url}/_drover/stats`, { headers: { host: `evil.example:${gw.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(403);
    expect(gw.stats().requests).toBe(0);
    const own = await fetch(`${gw.url}/_drover/stats`, { headers: { origin: gw.url } });
    expect(own.status).toBe(200);
  });
});

describe('scenario files', () => {
  it('an empty scenario (no rules, no fallback) is refused at start, naming the file', () => {
    expect(() => parseScenario('', 'empty.yaml')).toThrow(/empty\.yaml: the scenario answers nothing/);
    expect(() => parseScenario('rules: []\n', 'none.yaml')).toThrow(/answers nothing/);
    expect(parseScenario('fallback: { text: ok }\n', 'fb.yaml').fallback).toBeDefined();
  });
});
