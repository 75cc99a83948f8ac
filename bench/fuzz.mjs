// Fuzzing (issue 10, Figures): FUZZ_N (default 40) malformed inputs per input kind — workflow scripts,
// sim scenarios, Claude Code task folders, OTLP bodies, CLI arguments, store files — each given to the
// real CLI (a child process with a timeout, loopback only). Counted per kind:
//  - crashes: exit codes outside docs/cli.md's table (70, an internal error, counts as one), signals;
//  - stack traces printed to the user (lines like `    at fn (file:1:2)`);
//  - refusals without a message (a non-zero exit with nothing on stdout or stderr);
//  - wrong refusal codes (a bad input of a kind whose refusal must be exit 2, refused otherwise);
//  - hangs (still running at the timeout), and OTLP bodies answered 5xx or with a dropped connection.
// Inputs come from a seeded PRNG (FUZZ_SEED; printed): the same seed gives the same inputs. Each
// failing input is kept under the printed folder. FUZZ_KINDS=scripts,scenarios,tasks,otlp,args,stores
// picks kinds; FUZZ_JOBS (default 2) processes run at once; FUZZ_TIMEOUT_MS (default 30000) per input.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { CLI, ROOT, tempDir } from './lib.mjs';
import { prng, seedFrom } from './prng.mjs';

const num = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
};

/** Exit codes docs/cli.md documents, without 70 (internal error: a bug) and 130 (interrupted). */
export function documentedExitCodes() {
  const doc = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8');
  const section = doc.split('## Exit codes')[1]?.split('\n## ')[0] ?? '';
  const codes = [...section.matchAll(/^\|\s*(\d+)\s*\|/gm)].map((m) => Number(m[1]));
  return new Set(codes.filter((c) => c !== 70 && c !== 130));
}

const STACK = [/^\s+at .*\(.*:\d+:\d+\)/m, /^\s+at (?:async )?(?:file:\/\/|node:|\/)\S*:\d+:\d+$/m];
/** Keep the environment offline: every default endpoint is a closed loopback port. */
const OFFLINE = {
  CI: '1',
  NO_COLOR: '1',
  DROVER_GATEWAY: 'http://127.0.0.1:9',
  ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
  OPENAI_BASE_URL: 'http://127.0.0.1:9',
  ANTHROPIC_API_KEY: '',
  OPENAI_API_KEY: '',
  OTEL_EXPORTER_OTLP_ENDPOINT: '',
  DROVER_SCRIPT_CPU_MS: '500',
  DROVER_TASK_LIST: 'fuzz',
};

function runCli(args, { cwd, env = {}, timeoutMs }) {
  return new Promise((res) => {
    const t0 = Date.now();
    let child;
    try {
      child = spawn(process.execPath, [CLI, ...args], {
        cwd,
        env: { ...process.env, ...OFFLINE, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      // Not drover's doing (an argument the OS refuses): kept apart, never counted as drover's exit.
      res({ code: null, signal: null, timedOut: false, spawnError: err.code ?? err.message, stdout: '', stderr: '', ms: 0 });
      return;
    }
    let stdout = '';
    let stderr = '';
    const cap = (s, d) => (s.length < 200_000 ? s + d : s);
    child.stdout.on('data', (d) => (stdout = cap(stdout, d)));
    child.stderr.on('data', (d) => (stderr = cap(stderr, d)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal: timedOut ? null : signal, timedOut, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs `jobs` async tasks at a time over `items`. */
async function pool(items, jobs, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, jobs) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

// ---------- mutations ----------

function mutateText(rand, text) {
  const kind = rand.int(0, 6);
  const at = rand.int(0, text.length);
  switch (kind) {
    case 0:
      return text.slice(0, at); // truncated
    case 1: {
      let s = text;
      for (let i = rand.int(1, 8); i > 0; i--) {
        const p = rand.int(0, s.length);
        s =
          s.slice(0, p) +
          String.fromCharCode(rand.pick([0, 10, 34, 39, 40, 41, 58, 91, 93, 123, 125, 92, 96, 0xfffd, 0xd800, rand.int(32, 126)])) +
          s.slice(p + 1);
      }
      return s;
    }
    case 2:
      return text.slice(0, at) + text.slice(at + rand.int(1, 40)); // a deleted stretch
    case 3: {
      const lines = text.split('\n');
      const i = rand.int(0, lines.length - 1);
      lines.splice(rand.int(0, lines.length - 1), 0, lines[i]); // a duplicated line elsewhere
      return lines.join('\n');
    }
    case 4:
      return rand.bytes(rand.int(0, 600)).toString('latin1'); // random bytes
    case 5:
      return (
        text.slice(0, at) +
        rand.pick(['\u0000', '\ufeff', '${', '{{', '*/', '/*', '`', '"""', '\r', '\t\t', '<<', '&a', '*a', '!!js/function']) +
        text.slice(at)
      );
    default:
      return text.replace(/\d+/g, () => rand.pick(['-1', '0', '1e309', '99999999999999999999999', 'NaN', '0x10', '1.5', '']));
  }
}

/** A value of a wrong or hostile shape, for structured mutations. */
function hostileValue(rand, depth = 0) {
  const deep = (n, make) => {
    let v = 'x';
    for (let i = 0; i < n; i++) v = make(v);
    return v;
  };
  return rand.pick([
    () => null,
    () => -1,
    () => 1e308 * 10,
    () => 1e23,
    () => '99999999999999999999999',
    () => '',
    () => 'x'.repeat(rand.int(1000, 200_000)),
    () => '../../etc/passwd',
    () => ({}),
    () => [],
    () => true,
    () => '\u0000\ud800',
    () => (depth < 2 ? [hostileValue(rand, depth + 1)] : 0),
    () => ({ __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } }),
    () => deep(rand.int(100, 1500), (v) => [v]),
    () => deep(rand.int(100, 1500), (v) => ({ a: v })),
  ])();
}

/** Replaces, deletes or retypes one random path of a JSON value. */
function mutateJson(rand, value) {
  const copy = JSON.parse(JSON.stringify(value));
  const paths = [];
  const walk = (v, path) => {
    paths.push(path);
    if (v && typeof v === 'object') for (const k of Object.keys(v)) walk(v[k], [...path, k]);
  };
  walk(copy, []);
  for (let n = rand.int(1, 3); n > 0; n--) {
    const path = rand.pick(paths.filter((p) => p.length > 0));
    if (!path) break;
    let parent = copy;
    for (const k of path.slice(0, -1)) parent = parent?.[k];
    if (!parent || typeof parent !== 'object') continue;
    const key = path[path.length - 1];
    if (rand.chance(0.25)) delete parent[key];
    else parent[key] = hostileValue(rand);
  }
  return copy;
}

// ---------- fixtures ----------

const TINY_WORKFLOW = `export const meta = { name: 'fuzz-tiny', description: 'two agents, one with a schema' };
const a = await agent('Investigate alpha', { schema: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'] } });
const b = await agent('Summarize part 1 of 2');
return { a, b };
`;

function scriptInputs(rand, n) {
  const valid = readFileSync(join(ROOT, 'bench', 'fixtures', 'crash-workflow.js'), 'utf8');
  const head = "export const meta = { name: 'hostile', description: 'a hostile shape' };\n";
  const hostile = [
    'while (true) {}',
    'for (;;) { Math.sqrt(2); }',
    'await new Promise(() => {});',
    'Promise.reject(new Error("nobody awaits"));\nawait sleep(50);\nreturn 1;',
    'sh(123);\nawait sleep(50);\nreturn 1;',
    "agent('x', { bogus: true, schema: 5 });\nawait sleep(50);\nreturn 1;",
    "return agent.constructor('return process')().env;",
    "return (await agent('Summarize part 1 of 2')).constructor.constructor('return process')();",
    'throw 42;',
    'throw null;',
    'throw undefined;',
    'throw { code: 7, message: {} };',
    'throw Symbol("s");',
    'function f() { return f(); }\nreturn f();',
    'let v = 1; for (let i = 0; i < 200000; i++) v = [v]; return v;',
    'let v = {}; for (let i = 0; i < 200000; i++) v = { v }; return v;',
    'return 10n;',
    'return () => 1;',
    'return Symbol("x");',
    'const o = {}; o.o = o; return o;',
    "const o = {}; o.o = o; log(o); await agent('Summarize part 1 of 2', { label: o }); return 1;",
    "return 'x'.repeat(64 * 1024 * 1024);",
    "return import('node:fs');",
    "await import('node:child_process');",
    'Error.prepareStackTrace = (e, s) => s[0].getThis(); return new Error().stack;',
    "Object.prototype.polluted = 'yes'; Array.prototype.map = null; JSON.stringify = () => { throw new Error('no'); };\nreturn await agent('Summarize part 1 of 2');",
    "globalThis.JSON = undefined; globalThis.Promise = undefined; return await agent('Summarize part 1 of 2');",
    "Object.defineProperty(Object.prototype, 'then', { get() { throw new Error('then'); } }); return await agent('Summarize part 1 of 2');",
    'return await parallel(5);',
    'return await parallel([1, 2, null]);',
    'return await pipeline(null, 5);',
    "return await sleep('abc');",
    'return await sleep(-1);',
    'return await sleep(Number.NaN);',
    "phase(Symbol('p')); return 1;",
    'return new Date(Number.NaN).toISOString();',
    "setTimeout('return 1', 1); return 1;",
    'return eval("1+1");',
    "return new Function('return 1')();",
    "return await sh('exit 3');",
    'return await sh(\'printf \\"\\\\x00\\\\xff\\"\');',
    "return await sh('cat /dev/urandom | head -c 100000');",
    "return await sh('', { timeoutMs: -5 });",
    "return await sh('true', { cwd: '/nonexistent/dir' });",
    "return await sh('true', { env: { A: 1, B: null } });",
    "return await ask('Ship it?', { choices: [] });",
    'return await ask(null);',
    'return await workflow(5);',
    'return await tasks.create({ subject: 5 });',
    'return budget.spent().constructor.constructor("return 1")();',
    'return args.x.y.z;',
    "await agent('x'.repeat(5_000_000)); return 1;",
    "return await agent('Summarize part 1 of 2', { model: '', backend: 'nope' });",
    "return await agent('Summarize part 1 of 2', { cwd: '../../..', isolation: 'worktree' });",
    "return await agent('Summarize part 1 of 2', { agentType: '../../etc/passwd' });",
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    const mode = i < hostile.length && i % 2 === 0 ? 'hostile' : rand.pick(['hostile', 'truncated', 'mutated', 'bytes', 'meta']);
    let text;
    if (mode === 'hostile') text = head + (i % 2 === 0 && i / 2 < hostile.length ? hostile[i / 2] : rand.pick(hostile));
    else if (mode === 'truncated') text = valid.slice(0, rand.int(0, valid.length));
    else if (mode === 'mutated') text = mutateText(rand, valid);
    else if (mode === 'bytes') text = rand.bytes(rand.int(0, 2000)).toString('latin1');
    else
      text = `export const meta = ${rand.pick(['42', 'null', '{}', '{ name: 5 }', "{ name: '', description: '' }", "{ name: 'x', description: 'y', phases: 5 }", "{ get name() { throw new Error('x'); } }", '[]'])};\nreturn 1;`;
    out.push({ mode, text });
  }
  return out;
}

function scenarioInputs(rand, n) {
  const valid = readFileSync(join(ROOT, 'bench', 'fixtures', 'crash-scenario.yaml'), 'utf8');
  const asJson = {
    name: 'j',
    rules: [
      { name: 'investigate', match: { prompt: '^Investigate (\\S+)' }, turns: [{ json: { item: '{{1}}' } }] },
      { name: 'any', match: { prompt: '.' }, turns: [{ text: 'ok' }], faults: [{ status: 429, times: 1, retry_after_s: 0 }] },
    ],
  };
  const hostile = [
    'rules: []',
    'rules:\n  - match: { prompt: "(" }\n    turns: [{ text: x }]',
    'rules:\n  - match: { prompt: "(a+)+$" }\n    turns: [{ text: x }]',
    'rules:\n  - turns: []',
    'rules:\n  - turns: [{ text: x }]\n    faults: [{ status: 418 }]',
    'rules:\n  - turns: [{ text: x }]\n    faults: [{ cut_after_events: -1 }]',
    'rules:\n  - turns: [{ text: x }]\n    latency_ms: -5',
    'rules:\n  - turns: [{ tool_use: { name: 5 } }]',
    'a: &a [*a]',
    'x: !!js/function "function(){}"',
    `rules:\n${'  - turns: [{ text: x }]\n'.repeat(5000)}`,
    `rules:\n  - turns: [{ text: ${'['.repeat(5000)} }]`,
    '',
    '\ufeff',
    '---\n---\n---',
    'defaults: { usage: { input_tokens: -1, output_tokens: 1e400 } }\nrules:\n  - turns: [{ text: x }]',
    'fallback: 5',
    'rules:\n  - turns: [{ text: "{{99}}{{nope}}{{prompt}}" }]',
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    const mode = rand.pick(['yaml', 'yaml', 'json', 'hostile']);
    if (mode === 'yaml') out.push({ mode, ext: 'yaml', text: mutateText(rand, valid) });
    else if (mode === 'json')
      out.push({
        mode,
        ext: 'json',
        text: rand.chance(0.3) ? mutateText(rand, JSON.stringify(asJson, null, 2)) : JSON.stringify(mutateJson(rand, asJson)),
      });
    else out.push({ mode, ext: 'yaml', text: rand.pick(hostile) });
  }
  return out;
}

function taskFolderInputs(rand, n) {
  const tasks = [
    {
      id: '1',
      subject: 'Build api',
      description: 'the api',
      status: 'completed',
      blocks: ['2'],
      blockedBy: [],
      metadata: { drover: { priority: 2, labels: ['a'] } },
    },
    {
      id: '2',
      subject: 'Test api',
      description: '',
      activeForm: 'Testing',
      status: 'in_progress',
      blocks: [],
      blockedBy: ['1'],
      owner: 'ci',
    },
    { id: '3', subject: 'Ship', description: '', status: 'completed', blocks: [], blockedBy: [] },
  ];
  const hostileFiles = [
    () => ({ name: '4.json', text: JSON.stringify({ ...tasks[2], id: '99999999999999999999999' }) }),
    () => ({ name: '99999999999999999999999.json', text: JSON.stringify({ ...tasks[2], id: '99999999999999999999999' }) }),
    () => ({ name: '4.json', text: JSON.stringify({ ...tasks[2], id: '../../x' }) }),
    () => ({ name: '4.json', text: JSON.stringify({ ...tasks[2], id: '4', blockedBy: ['4'] }) }),
    () => ({ name: '4.json', text: JSON.stringify({ ...tasks[2], id: '4', blocks: ['1'], blockedBy: ['2'] }) }),
    () => ({ name: '4.json', text: JSON.stringify({ ...tasks[2], id: '4', blockedBy: ['404'] }) }),
    () => ({ name: '1.json', text: JSON.stringify({ ...tasks[0], id: '2' }) }),
    () => ({ name: '.json', text: '{}' }),
    () => ({ name: 'notes.txt', text: 'not a task' }),
    () => ({ name: '5.json', text: '' }),
    () => ({ name: '5.json', text: 'null' }),
    () => ({ name: '5.json', text: '[]' }),
    () => ({
      name: '5.json',
      text: JSON.stringify({ ...tasks[2], id: '5', metadata: { drover: { priority: 'high', labels: 'x', leaseExpiresAt: 'soon' } } }),
    }),
    () => ({ name: '5.json', text: JSON.stringify({ ...tasks[2], id: '5', subject: 'x'.repeat(300_000) }) }),
    () => ({ name: '5.json', text: `${'['.repeat(100_000)}${']'.repeat(100_000)}` }),
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    const files = tasks.map((t) => ({ name: `${t.id}.json`, text: `${JSON.stringify(t, null, 2)}\n` }));
    const mode = rand.pick(['text', 'json', 'hostile', 'hostile']);
    const k = rand.int(0, files.length - 1);
    if (mode === 'text') files[k].text = mutateText(rand, files[k].text);
    else if (mode === 'json') files[k].text = JSON.stringify(mutateJson(rand, tasks[k]));
    else files.push(rand.pick(hostileFiles)());
    out.push({ mode, files, command: rand.pick(['import', 'sync']) });
  }
  return out;
}

const hex = (rand, n) => rand.bytes(n).toString('hex');

function otlpJson(rand) {
  const traceId = hex(rand, 16);
  const root = hex(rand, 8);
  const span = (spanId, parent, name) => ({
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000001500000',
    attributes: [
      { key: 'http.request.method', value: { stringValue: 'GET' } },
      { key: 'n', value: { intValue: '7' } },
      { key: 'list', value: { arrayValue: { values: [{ boolValue: true }, { doubleValue: 1.5 }] } } },
    ],
    events: [{ timeUnixNano: '1700000000000500000', name: 'e', attributes: [] }],
    links: [{ traceId, spanId: root }],
    status: { code: 1 },
  });
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fuzz' } }] },
        scopeSpans: [{ scope: { name: 'fuzz', version: '1' }, spans: [span(root, null, 'GET /'), span(hex(rand, 8), root, 'db')] }],
      },
    ],
  };
}

/** The SDK's own protobuf writer over ReadableSpan-shaped objects (as bench/otlp-sender.mjs). */
function otlpProtobuf(rand) {
  const resource = {
    attributes: { 'service.name': 'fuzz' },
    merge: () => resource,
    getRawAttributes: () => [['service.name', 'fuzz']],
    asyncAttributesPending: false,
    waitForAsyncAttributes: async () => {},
  };
  const traceId = hex(rand, 16);
  const spans = [0, 1].map((i) => ({
    name: `span ${i}`,
    kind: 1,
    spanContext: () => ({ traceId, spanId: hex(rand, 8), traceFlags: 1 }),
    parentSpanContext: undefined,
    startTime: [1700000000, i],
    endTime: [1700000001, i],
    status: { code: 1 },
    attributes: { a: 'b', n: 3, list: ['x', 'y'] },
    links: [],
    events: [{ name: 'e', time: [1700000000, 5], attributes: { k: 'v' } }],
    duration: [1, 0],
    ended: true,
    resource,
    instrumentationScope: { name: 'fuzz' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }));
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans));
}

const varint = (n) => {
  const out = [];
  let v = n;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
};
const field = (no, bytes) => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);

/** A protobuf request whose one attribute value is an array nested `depth` levels deep. */
function deepProtobuf(depth) {
  // Inside out, keeping only the prefixes (tag + length) of each level: one copy at the end, not one per level.
  const inner = field(1, Buffer.from('x')); // AnyValue.string_value
  const prefixes = [];
  let length = inner.length;
  for (let i = 0; i < depth; i++) {
    const values = Buffer.concat([varint((1 << 3) | 2), varint(length)]); // ArrayValue.values
    length += values.length;
    const array = Buffer.concat([varint((5 << 3) | 2), varint(length)]); // AnyValue.array_value
    length += array.length;
    prefixes.push(values, array);
  }
  const value = Buffer.concat([...prefixes.reverse(), inner]);
  const kv = Buffer.concat([field(1, Buffer.from('k')), field(2, value)]);
  const span = Buffer.concat([field(1, Buffer.alloc(16, 1)), field(2, Buffer.alloc(8, 2)), field(5, Buffer.from('deep')), field(9, kv)]);
  return field(1, field(2, field(2, span)));
}

function deepJson(depth) {
  let v = '{"stringValue":"x"}';
  // Built as text: JSON.stringify of a 100k-deep value would overflow this process's stack.
  const open = '{"arrayValue":{"values":['.repeat(depth);
  const close = ']}}'.repeat(depth);
  v = open + v + close;
  return `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"deep","startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"k","value":${v}}]}]}]}]}`;
}

function mutateBytes(rand, buf) {
  const b = Buffer.from(buf);
  switch (rand.int(0, 4)) {
    case 0:
      return b.subarray(0, rand.int(0, b.length));
    case 1:
      for (let i = rand.int(1, 10); i > 0; i--) b[rand.int(0, b.length - 1)] = rand.int(0, 255);
      return b;
    case 2:
      return Buffer.concat([b.subarray(0, 5), varint(2 ** 31 + rand.int(0, 1000)), b.subarray(5)]); // a huge length
    case 3:
      return rand.bytes(rand.int(0, 400));
    default:
      return Buffer.concat([b, b.subarray(rand.int(0, b.length))]);
  }
}

function otlpInputs(rand, n) {
  const out = [];
  const fixed = [
    { mode: 'deep-json', type: 'application/json', body: Buffer.from(deepJson(100_000)) },
    { mode: 'deep-protobuf', type: 'application/x-protobuf', body: deepProtobuf(100_000) },
    { mode: 'wrong-type', type: 'text/plain', body: Buffer.from(JSON.stringify(otlpJson(rand))) },
    { mode: 'fake-gzip', type: 'application/json', encoding: 'gzip', body: Buffer.from(JSON.stringify(otlpJson(rand))) },
    { mode: 'unknown-encoding', type: 'application/json', encoding: 'compress', body: Buffer.from('{}') },
    { mode: 'empty', type: 'application/json', body: Buffer.alloc(0) },
    { mode: 'empty', type: 'application/x-protobuf', body: Buffer.alloc(0) },
  ];
  for (let i = 0; i < n; i++) {
    if (i < fixed.length) {
      out.push(fixed[i]);
      continue;
    }
    const mode = rand.pick(['json-shape', 'json-text', 'protobuf']);
    if (mode === 'json-shape')
      out.push({ mode, type: 'application/json', body: Buffer.from(JSON.stringify(mutateJson(rand, otlpJson(rand)))) });
    else if (mode === 'json-text')
      out.push({ mode, type: 'application/json', body: Buffer.from(mutateText(rand, JSON.stringify(otlpJson(rand)))) });
    else out.push({ mode, type: 'application/x-protobuf', body: mutateBytes(rand, otlpProtobuf(rand)) });
  }
  return out;
}

const RUN_FLAGS = [
  '--args-json',
  '--run-id',
  '--from',
  '--plan',
  '--backend',
  '--provider',
  '--model',
  '--concurrency',
  '--max-agents',
  '--budget-tokens',
  '--gateway',
  '--base-url',
  '--sim',
  '--task-list',
  '--strict',
  '--json',
];
const COMMANDS = [
  { cmd: ['run'], pos: ['script'], flags: RUN_FLAGS },
  {
    cmd: ['resume'],
    pos: ['run'],
    flags: [...RUN_FLAGS.filter((f) => f !== '--from' && f !== '--args-json' && f !== '--run-id'), '--script'],
  },
  { cmd: ['runs'], pos: [], flags: ['--limit', '--status', '--json'] },
  { cmd: ['runs', 'prune'], pos: [], flags: ['--status', '--older-than', '--yes', '--json'] },
  { cmd: ['status'], pos: ['run'], flags: ['--json'] },
  { cmd: ['answer'], pos: ['run', 'any', 'any'], flags: ['--json'] },
  { cmd: ['trace', 'show'], pos: ['run'], flags: ['--json'] },
  { cmd: ['trace', 'export'], pos: ['run'], flags: ['--format', '--pretty'] },
  { cmd: ['trace', 'import'], pos: ['file'], flags: ['--json'] },
  { cmd: ['trace', 'gc'], pos: [], flags: ['--older-than', '--json'] },
  { cmd: ['trace', 'golden', 'save'], pos: ['run', 'outfile'], flags: [] },
  { cmd: ['trace', 'collect'], pos: [], flags: ['--port', '--grpc-port', '--host', '--linger', '--json'], tail: true },
  { cmd: ['assert'], pos: ['file'], flags: ['--run', '--trace', '--file', '--since', '--golden', '--junit', '--json'] },
  { cmd: ['gateway'], pos: [], flags: ['--mode', '--scenario', '--port', '--host', '--json'], serves: true },
  { cmd: ['doctor'], pos: [], flags: ['--json'] },
  { cmd: ['mcp'], pos: [], flags: ['--http', '--list', '--json'], serves: true },
  {
    cmd: ['tasks', 'add'],
    pos: ['any'],
    flags: ['--json', '--blocked-by', '--description', '--active-form', '--priority', '--label', '--metadata-json', '--list', '--actor'],
  },
  {
    cmd: ['tasks', 'update'],
    pos: ['task'],
    flags: ['--json', '--subject', '--status', '--owner', '--description', '--priority', '--label', '--metadata-json'],
  },
  { cmd: ['tasks', 'claim'], pos: [], flags: ['--json', '--owner', '--lease'] },
  { cmd: ['tasks', 'heartbeat'], pos: ['task'], flags: ['--json', '--owner', '--lease'] },
  { cmd: ['tasks', 'done'], pos: ['task'], flags: ['--json', '--owner'] },
  { cmd: ['tasks', 'release'], pos: ['task'], flags: ['--json', '--owner'] },
  { cmd: ['tasks', 'cancel'], pos: ['task'], flags: ['--json'] },
  { cmd: ['tasks', 'delete'], pos: ['task'], flags: ['--json', '--cascade'] },
  { cmd: ['tasks', 'list'], pos: [], flags: ['--json', '--status', '--owner', '--label'] },
  { cmd: ['tasks', 'show'], pos: ['task'], flags: ['--json'] },
  { cmd: ['tasks', 'history'], pos: [], flags: ['--json'] },
  { cmd: ['tasks', 'graph'], pos: [], flags: ['--json', '--format'] },
  { cmd: ['tasks', 'ready'], pos: [], flags: ['--json', '--limit', '--all'] },
  { cmd: ['tasks', 'export'], pos: ['outdir'], flags: ['--json'] },
  { cmd: ['tasks', 'import'], pos: ['dir'], flags: ['--json'] },
  { cmd: ['tasks', 'sync'], pos: [], flags: ['--json', '--claude-dir'] },
  { cmd: ['tasks', 'dep', 'add'], pos: ['task'], flags: ['--blocked-by', '--json'] },
];
const BOOLEAN_FLAGS = new Set(['--plan', '--strict', '--json', '--yes', '--pretty', '--cascade', '--all']);

function argInputs(rand, n, fx) {
  const values = [
    '',
    ' ',
    '-1',
    '0',
    '1',
    '3',
    '1.5',
    '1e9',
    '99999999999999999999999',
    'NaN',
    'Infinity',
    '0x10',
    'abc',
    '../../x',
    '/etc/passwd',
    'file:///etc/passwd',
    'http://127.0.0.1:9',
    'http://[::1',
    'ftp://127.0.0.1/',
    'javascript:alert(1)',
    '10m',
    '0s',
    '-5m',
    '1y',
    '9999999d',
    'builtin',
    'nope',
    'openai-chat',
    'completed',
    'running',
    'bogus-status',
    'mermaid',
    'tree',
    'sim',
    '{}',
    '[]',
    'null',
    '{"a":',
    // One argument may be at most 128 KiB (MAX_ARG_STRLEN).
    `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
    'x'.repeat(100_000),
    '\u0000',
    '\ud800',
    '--',
    '-h',
    '--json',
    'fuzz-run',
    '1',
    fx.runId,
  ];
  const positional = {
    script: () => rand.pick([fx.tinyScript, fx.tinyScript, '/nonexistent.js', fx.dir, '/etc/passwd', rand.pick(values)]),
    run: () => rand.pick([fx.runId, fx.runId, 'nope', rand.pick(values)]),
    task: () => rand.pick(['1', '2', '404', rand.pick(values)]),
    file: () => rand.pick([fx.scenario, '/nonexistent', fx.dir, '/dev/null', rand.pick(values)]),
    outfile: () => rand.pick([join(fx.scratch, 'out.json'), '/nonexistent/dir/out.json', fx.dir]),
    outdir: () => rand.pick([join(fx.scratch, 'export'), '/dev/null', '/proc/self/x']),
    dir: () => rand.pick([fx.taskDir, fx.scratch, '/nonexistent', '/etc/passwd']),
    any: () => rand.pick(values),
  };
  const flagValue = (flag) => {
    if (flag === '--sim' || flag === '--scenario')
      return rand.pick([fx.scenario, fx.scenario, '/nonexistent.yaml', '/etc/passwd', fx.tinyScript]);
    if (flag === '--script') return rand.pick([fx.tinyScript, '/nonexistent.js', rand.pick(values)]);
    if (flag === '--claude-dir') return rand.pick([fx.taskDir, '/nonexistent', '/etc/passwd', rand.pick(values)]);
    if (flag === '--port' || flag === '--http' || flag === '--grpc-port') return rand.pick(['0', '-1', '65536', 'abc', '80', 'off', '']);
    if (flag === '--host') return rand.pick(['127.0.0.1', '::1', 'localhost', '0.0.0.0', 'example.invalid', '']);
    if (flag === '--gateway' || flag === '--base-url')
      return rand.pick(['http://127.0.0.1:9', 'file:///etc/passwd', 'ftp://127.0.0.1', 'not a url', '', 'http://[::1']);
    if (flag === '--backend') return rand.pick(['builtin', 'nope', '', 'BUILTIN']);
    return rand.pick(values);
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const spec = rand.pick(COMMANDS);
    const args = [...spec.cmd];
    // Positionals: usually the right number, sometimes one fewer or one more.
    const count = Math.max(0, spec.pos.length + rand.pick([0, 0, 0, -1, 1]));
    for (let p = 0; p < count; p++) args.push((positional[spec.pos[p]] ?? positional.any)());
    for (let f = rand.int(0, 4); f > 0; f--) {
      const flag = rand.chance(0.1)
        ? rand.pick(['--bogus', '--json=1', '-x', '--store', '--concurrency'])
        : rand.pick(spec.flags.length ? spec.flags : ['--json']);
      args.push(flag);
      if (!BOOLEAN_FLAGS.has(flag) || rand.chance(0.1)) args.push(flagValue(flag));
    }
    if (spec.cmd[0] === 'run' && !args.includes('--sim') && !args.includes('--gateway') && !args.includes('--base-url') && rand.chance(0.7))
      args.push('--sim', fx.scenario);
    if (spec.tail) args.push('--', process.execPath, '-e', '0');
    out.push({ mode: spec.cmd.join(' '), args, serves: !!spec.serves });
  }
  return out;
}

function storeInputs(rand, n, validStore) {
  const bytes = readFileSync(validStore);
  const page = 4096;
  const out = [];
  for (let i = 0; i < n; i++) {
    const mode = rand.pick(['random', 'truncated', 'page', 'page', 'header', 'empty', 'text']);
    let b;
    if (mode === 'random') b = rand.bytes(rand.int(1, 20_000));
    else if (mode === 'truncated') b = bytes.subarray(0, rand.int(1, bytes.length - 1));
    else if (mode === 'page') {
      b = Buffer.from(bytes);
      const pages = Math.floor(b.length / page);
      for (let k = rand.int(1, 3); k > 0; k--) {
        const p = rand.int(0, pages - 1);
        const fill = rand.chance(0.5) ? rand.bytes(page) : Buffer.alloc(page, rand.pick([0, 0xff]));
        const len = rand.int(16, page);
        fill.copy(b, p * page + rand.int(0, page - len), 0, len);
      }
    } else if (mode === 'header') {
      b = Buffer.from(bytes);
      for (let k = rand.int(1, 6); k > 0; k--) b[rand.int(0, 99)] = rand.int(0, 255);
    } else if (mode === 'empty') b = Buffer.alloc(0);
    else b = Buffer.from('this is not a database\n');
    const command = rand.pick([
      ['runs'],
      ['runs', '--json'],
      ['status', 'fuzz-run'],
      ['resume', 'fuzz-run', '--sim', 'SCENARIO'],
      ['run', 'SCRIPT', '--sim', 'SCENARIO'],
      ['tasks', 'list'],
      ['tasks', 'add', 'x'],
      ['tasks', 'claim'],
      ['trace', 'show', 'fuzz-run'],
      ['doctor'],
      ['runs', 'prune', '--yes'],
    ]);
    out.push({ mode, bytes: b, command });
  }
  return out;
}

// ---------- the run ----------

export async function benchFuzz() {
  const seed = seedFrom(process.env.FUZZ_SEED);
  process.stderr.write(`fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces the inputs)\n`);
  const n = num('FUZZ_N', 40);
  const jobs = num('FUZZ_JOBS', 2);
  const timeoutMs = num('FUZZ_TIMEOUT_MS', 30_000);
  const kinds = (process.env.FUZZ_KINDS ?? 'scripts,scenarios,tasks,otlp,args,stores').split(',');
  const allowed = documentedExitCodes();
  const dir = tempDir('drover-fuzz-');
  const keep = join(dir, 'failures');
  mkdirSync(keep, { recursive: true });
  process.stderr.write(`fuzz inputs that fail are kept in ${keep}\n`);
  const started = Date.now();

  // Fixtures: a scenario that answers the tiny workflow, a store with one finished run and three tasks, a task folder.
  const fx = { dir, scratch: join(dir, 'scratch'), runId: 'fuzz-run' };
  mkdirSync(fx.scratch);
  fx.scenario = join(dir, 'scenario.yaml');
  cpSync(join(ROOT, 'bench', 'fixtures', 'crash-scenario.yaml'), fx.scenario);
  fx.tinyScript = join(dir, 'tiny.js');
  writeFileSync(fx.tinyScript, TINY_WORKFLOW);
  fx.store = join(dir, 'base.db');
  const prep = async (args) => {
    const r = await runCli([...args, '--store', fx.store], { cwd: dir, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`fuzz fixture \`drover ${args.join(' ')}\` failed (${r.code}): ${r.stderr}`);
  };
  await prep(['run', fx.tinyScript, '--sim', fx.scenario, '--run-id', fx.runId]);
  await prep(['tasks', 'add', 'Build api']);
  await prep(['tasks', 'add', 'Test api', '--blocked-by', '1']);
  await prep(['tasks', 'claim', '--owner', 'ci']);
  fx.taskDir = join(dir, 'taskdir');
  await prep(['tasks', 'export', fx.taskDir]);
  // Checkpointed, so the file copies below are whole stores.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(fx.store);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();

  const report = {
    name: `fuzzing: ${n} malformed inputs per kind through the real CLI`,
    seed,
    perKind: n,
    allowedExitCodes: [...allowed],
    kinds: {},
  };
  const rand = prng(seed);
  // One PRNG stream per kind, so picking kinds does not change another kind's inputs.
  const kindRand = Object.fromEntries(
    ['scripts', 'scenarios', 'tasks', 'otlp', 'args', 'stores'].map((k) => [k, prng(rand.int(0, 0xffffffff))]),
  );

  const newStats = () => ({
    inputs: 0,
    exitCodes: {},
    crashes: 0,
    stackTraces: 0,
    silentRefusals: 0,
    wrongRefusalCodes: 0,
    hangs: 0,
    failures: [],
  });
  const judge = (kind, stats, i, input, r, { refusalCodes, serves = false, save }) => {
    if (r.spawnError) {
      stats.notRun = (stats.notRun ?? 0) + 1;
      return;
    }
    stats.inputs++;
    const code = r.timedOut ? 'timeout' : r.signal ? r.signal : r.code;
    stats.exitCodes[code] = (stats.exitCodes[code] ?? 0) + 1;
    const problems = [];
    if (r.timedOut) {
      if (!serves) problems.push('hang');
    } else if (r.signal || !allowed.has(r.code)) problems.push('crash');
    if (STACK.some((re) => re.test(r.stdout) || re.test(r.stderr))) problems.push('stack trace');
    if (!r.timedOut && r.code !== 0 && `${r.stdout}${r.stderr}`.trim() === '') problems.push('refusal without a message');
    if (!r.timedOut && refusalCodes && r.code !== 0 && allowed.has(r.code) && !refusalCodes.includes(r.code))
      problems.push(`refused with exit ${r.code}`);
    for (const p of problems) {
      if (p === 'hang') stats.hangs++;
      else if (p === 'crash') stats.crashes++;
      else if (p === 'stack trace') stats.stackTraces++;
      else if (p === 'refusal without a message') stats.silentRefusals++;
      else stats.wrongRefusalCodes++;
    }
    if (problems.length) {
      const where = join(keep, `${kind}-${i}`);
      mkdirSync(where, { recursive: true });
      save?.(where);
      writeFileSync(
        join(where, 'output.txt'),
        `exit ${code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}\n`,
      );
      stats.failures.push({
        i,
        mode: input.mode,
        problems,
        exit: code,
        saved: where,
        message: `${r.stderr}${r.stdout}`.trim().split('\n').slice(-2).join(' | ').slice(0, 300),
      });
    }
  };

  if (kinds.includes('scripts')) {
    const stats = newStats();
    await pool(scriptInputs(kindRand.scripts, n), jobs, async (input, i) => {
      const work = join(dir, 'scripts', String(i));
      mkdirSync(work, { recursive: true });
      const file = join(work, 'wf.js');
      writeFileSync(file, input.text, 'latin1');
      const r = await runCli(['run', file, '--sim', fx.scenario, '--store', join(work, 'db'), '--json'], { cwd: work, timeoutMs });
      // A script's failure is the run's: exit 1 (failed) or 2 (refused before it ran); 4 waits for an answer.
      judge('scripts', stats, i, input, r, { refusalCodes: [1, 2, 4], save: (w) => writeFileSync(join(w, 'wf.js'), input.text, 'latin1') });
    });
    report.kinds.scripts = stats;
  }

  if (kinds.includes('scenarios')) {
    const stats = newStats();
    await pool(scenarioInputs(kindRand.scenarios, n), jobs, async (input, i) => {
      const work = join(dir, 'scenarios', String(i));
      mkdirSync(work, { recursive: true });
      const file = join(work, `scenario.${input.ext}`);
      writeFileSync(file, input.text, 'latin1');
      const r = await runCli(['run', fx.tinyScript, '--sim', file, '--store', join(work, 'db'), '--json'], { cwd: work, timeoutMs });
      // A bad scenario is bad input (2); a good one runs (0, or 1 when its answers fail the script).
      judge('scenarios', stats, i, input, r, {
        refusalCodes: [1, 2],
        save: (w) => writeFileSync(join(w, `scenario.${input.ext}`), input.text, 'latin1'),
      });
    });
    report.kinds.scenarios = stats;
  }

  if (kinds.includes('tasks')) {
    const stats = newStats();
    await pool(taskFolderInputs(kindRand.tasks, n), jobs, async (input, i) => {
      const work = join(dir, 'tasks', String(i));
      const folder = join(work, 'claude-tasks');
      mkdirSync(folder, { recursive: true });
      for (const f of input.files) writeFileSync(join(folder, f.name), f.text, 'latin1');
      const store = ['--store', join(work, 'db'), '--json'];
      const args = input.command === 'import' ? ['tasks', 'import', folder, ...store] : ['tasks', 'sync', '--claude-dir', folder, ...store];
      const r = await runCli(args, { cwd: work, timeoutMs });
      // 2 for a bad file; 6 (docs/cli.md: a task conflict) when the folder's tasks break a board
      // rule, e.g. a task in progress or completed whose blocker is open.
      judge('tasks', stats, i, { mode: `${input.command} ${input.mode}` }, r, {
        refusalCodes: [2, 6],
        save: (w) => cpSync(folder, join(w, 'claude-tasks'), { recursive: true }),
      });
    });
    report.kinds.tasks = stats;
  }

  if (kinds.includes('otlp')) {
    const stats = newStats();
    stats.http5xx = 0;
    stats.connectionErrors = 0;
    stats.unexplained4xx = 0;
    const inputs = otlpInputs(kindRand.otlp, n);
    const work = join(dir, 'otlp');
    mkdirSync(work, { recursive: true });
    for (const [i, input] of inputs.entries()) writeFileSync(join(work, `${i}.body`), input.body);
    writeFileSync(
      join(work, 'inputs.json'),
      JSON.stringify(inputs.map((x, i) => ({ i, mode: x.mode, type: x.type, encoding: x.encoding ?? null }))),
    );
    // One `trace collect` receives them all from a sender it runs (as any instrumented command).
    const results = join(work, 'results.json');
    const r = await runCli(
      [
        'trace',
        'collect',
        '--port',
        '0',
        '--grpc-port',
        'off',
        '--linger',
        '0s',
        '--store',
        join(work, 'db'),
        '--json',
        '--',
        process.execPath,
        join(ROOT, 'bench', 'fuzz-otlp-sender.mjs'),
        work,
        results,
      ],
      { cwd: work, timeoutMs: timeoutMs * 4 },
    );
    let answers = [];
    try {
      answers = JSON.parse(readFileSync(results, 'utf8'));
    } catch {
      answers = [];
    }
    judge('otlp', stats, 'collect', { mode: 'trace collect' }, r, {});
    stats.inputs = 0;
    for (const a of answers) {
      stats.inputs++;
      const key = a.status ?? a.error;
      stats.exitCodes[key] = (stats.exitCodes[key] ?? 0) + 1;
      const problems = [];
      if (a.error) problems.push(`connection: ${a.error}`);
      else if (a.status >= 500) problems.push(`HTTP ${a.status}`);
      else if (a.status >= 400 && !/\S/.test(a.body ?? '')) problems.push(`HTTP ${a.status} without a message`);
      if (STACK.some((re) => re.test(a.body ?? ''))) problems.push('stack trace');
      for (const p of problems) {
        if (p.startsWith('connection')) stats.connectionErrors++;
        else if (p.startsWith('HTTP 5')) stats.http5xx++;
        else if (p === 'stack trace') stats.stackTraces++;
        else stats.unexplained4xx++;
      }
      if (problems.length)
        stats.failures.push({
          i: a.i,
          mode: inputs[a.i]?.mode,
          problems,
          saved: join(work, `${a.i}.body`),
          message: String(a.body ?? a.error).slice(0, 300),
        });
    }
    if (answers.length !== inputs.length)
      stats.failures.push({ i: 'sender', problems: [`${answers.length} of ${inputs.length} bodies answered`] });
    // The same JSON bodies as files for `drover trace import`: a refusal is exit 2.
    const jsonInputs = inputs.map((x, i) => [x, i]).filter(([x]) => x.type === 'application/json' && !x.encoding);
    await pool(jsonInputs, jobs, async ([input, i]) => {
      const file = join(work, `${i}.json`);
      writeFileSync(file, input.body);
      const ri = await runCli(['trace', 'import', file, '--store', join(work, `import-${i}.db`), '--json'], { cwd: work, timeoutMs });
      judge('otlp', stats, `import-${i}`, { mode: `trace import ${input.mode}` }, ri, { refusalCodes: [2] });
    });
    report.kinds.otlp = stats;
  }

  if (kinds.includes('args')) {
    const stats = newStats();
    await pool(argInputs(kindRand.args, n, fx), jobs, async (input, i) => {
      const work = join(dir, 'args', String(i));
      mkdirSync(work, { recursive: true });
      const store = join(work, 'drover.db');
      cpSync(fx.store, store);
      const args = input.args.map((a) => (a === '--store' ? '--store' : a));
      const r = await runCli([...args, '--store', store], { cwd: work, timeoutMs: input.serves ? Math.min(timeoutMs, 8000) : timeoutMs });
      judge('args', stats, i, input, r, {
        serves: input.serves,
        save: (w) =>
          writeFileSync(
            join(w, 'args.json'),
            JSON.stringify(input.args.map((a) => (a.length > 200 ? `${a.slice(0, 20)}…(${a.length} chars)` : a))),
          ),
      });
      if (stats.failures.at(-1)?.i === i)
        stats.failures.at(-1).args = input.args.map((a) => (a.length > 80 ? `${a.slice(0, 20)}…(${a.length} chars)` : a));
    });
    report.kinds.args = stats;
  }

  if (kinds.includes('stores')) {
    const stats = newStats();
    await pool(storeInputs(kindRand.stores, n, fx.store), jobs, async (input, i) => {
      const work = join(dir, 'stores', String(i));
      mkdirSync(work, { recursive: true });
      const file = join(work, 'drover.db');
      writeFileSync(file, input.bytes);
      const args = input.command.map((a) => (a === 'SCENARIO' ? fx.scenario : a === 'SCRIPT' ? fx.tinyScript : a));
      const r = await runCli([...args, '--store', file], { cwd: work, timeoutMs });
      judge('stores', stats, i, { mode: `${input.mode}: ${input.command.join(' ')}` }, r, {
        save: (w) => writeFileSync(join(w, 'drover.db.input'), input.bytes),
      });
    });
    report.kinds.stores = stats;
  }

  const totals = {
    inputs: 0,
    crashes: 0,
    stackTraces: 0,
    silentRefusals: 0,
    wrongRefusalCodes: 0,
    hangs: 0,
    otlp5xx: 0,
    otlpConnectionErrors: 0,
  };
  for (const s of Object.values(report.kinds)) {
    for (const k of ['inputs', 'crashes', 'stackTraces', 'silentRefusals', 'wrongRefusalCodes', 'hangs']) totals[k] += s[k];
    totals.otlp5xx += s.http5xx ?? 0;
    totals.otlpConnectionErrors += s.connectionErrors ?? 0;
  }
  report.totals = totals;
  report.ms = Date.now() - started;
  report.target = '0 crashes, 0 stack traces, every refusal with a message and its documented code';
  report.pass = Object.entries(totals).every(([k, v]) => k === 'inputs' || v === 0);
  if (report.pass) rmSync(dir, { recursive: true, force: true });
  else report.kept = keep;
  return report;
}
