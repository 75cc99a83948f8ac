import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { diffGolden, evaluateSpec, parseSpec, SpecError, toGolden, toJUnit } from '../src/assert/index.js';
import { costOf } from '../src/budget/index.js';
import { redactSecrets } from '../src/core/index.js';
import type { StoredSpan } from '../src/store/index.js';
import { rootSpanIdForRun, spansToOtlpJson, startOtlpReceiver, traceIdForRun } from '../src/telemetry/index.js';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, FAST_BACKOFF, gateway, lastJson, ROOT, tempDir, tempStore, write } from './helpers.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'otel');
const ECHO = `
rules:
  - match: { prompt: 'read it in (?<dir>\\S+)' }
    turns:
      - tool_use: { name: Read, input: { file_path: '{{dir}}/notes.txt' } }
      - text: done reading
  - match: { prompt: '^p(\\d)' }
    turns: [{ text: 'r{{1}}' }]
`;

describe('one trace per run', () => {
  it('puts the workflow, phases, agents, model requests and sh under one root, committed with the journal', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store } = tempStore(dir);
    const script = ccScript(
      dir,
      `phase('Plan'); await agent('p1 plan', { label: 'planner' });
       phase('Build'); await sh('node ${join(FIXTURES, 'child-work.mjs')}');
       await parallel([() => agent('p2 a', { label: 'a' }), () => agent('p3 b', { label: 'b' })]);
       return 'ok';`,
    );
    const s = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF });
    expect(s.status).toBe('completed');
    const spans = await store.spans.querySpans({ runId: s.runId });
    const by = (name: string) => spans.filter((x) => x.name === name);
    const root = by('invoke_workflow test-workflow')[0] as StoredSpan;
    expect(root.traceId).toBe(traceIdForRun(s.runId));
    expect(root.spanId).toBe(rootSpanIdForRun(s.runId));
    expect(root.parentSpanId).toBeNull();
    expect(new Set(spans.map((x) => x.traceId))).toEqual(new Set([root.traceId]));
    const plan = by('phase Plan')[0] as StoredSpan;
    expect(plan.parentSpanId).toBe(root.spanId);
    const planner = by('invoke_agent planner')[0] as StoredSpan;
    expect(planner.parentSpanId).toBe(plan.spanId);
    expect(planner.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'planner',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-5',
      'drover.run.id': s.runId,
      'drover.call.reused': false,
    });
    expect(planner.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(planner.attributes['drover.cost.usd']).toBeGreaterThan(0);
    const chats = spans.filter((x) => x.name.startsWith('chat ') && x.parentSpanId === planner.spanId);
    expect(chats).toHaveLength(1);
    expect(chats[0]?.kind).toBe(3); // client
    // The sh step's own process continued the trace (TRACEPARENT + the run's OTLP receiver).
    const sh = spans.find((x) => x.name.startsWith('sh node')) as StoredSpan;
    const child = by('child work')[0] as StoredSpan;
    expect(child.parentSpanId).toBe(sh.spanId);
    expect(child.service).toBe('child-script');
    // Spans of finished calls are in the store the moment the run reports them, in the same transactions.
    const spec = parseSpec(`assertions:\n  - expect: { oneRootPerTrace: true, noOrphans: true }\n`);
    expect(evaluateSpec(spec, spans).passed).toBe(true);
  });

  it('a call served from its own journal on resume keeps its one span; served from a --from run, it appears marked reused at no cost', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store } = tempStore(dir);
    const script = ccScript(dir, "return await agent('p1 again', { label: 'once' })");
    const s = await runWorkflow({ store, script, gateway: gw.url, workdir: dir });
    await resumeRun({ store, runId: s.runId, gateway: gw.url });
    const agents = (await store.spans.querySpans({ runId: s.runId })).filter((x) => x.name === 'invoke_agent once');
    expect(agents.map((a) => [a.attributes['drover.call.reused'], a.attributes['drover.execution']])).toEqual([[false, 1]]);
    const copy = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, fromRunId: s.runId });
    const copied = (await store.spans.querySpans({ runId: copy.runId })).filter((x) => x.name === 'invoke_agent once');
    expect(copied).toHaveLength(1);
    expect(copied[0]?.attributes).toMatchObject({ 'drover.call.reused': true, 'drover.cost.usd': 0 });
    expect(gw.stats().requests).toBe(1);
  });

  it('also exports its spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store } = tempStore(dir);
    const elsewhere = tempStore(tempDir()).store;
    const rx = await startOtlpReceiver({ spans: elsewhere.spans, decodeThreads: 0 });
    const before = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = rx.url;
    try {
      const s = await runWorkflow({
        store,
        script: ccScript(dir, "return await agent('p1 x', { label: 'exported' })"),
        gateway: gw.url,
        workdir: dir,
      });
      const local = await store.spans.querySpans({ runId: s.runId });
      const remote = await elsewhere.spans.querySpans({ traceId: traceIdForRun(s.runId) });
      expect(remote.map((x) => x.name).sort()).toEqual(local.map((x) => x.name).sort());
      expect(remote.find((x) => x.name.startsWith('chat '))?.parentSpanId).toBe(
        local.find((x) => x.name === 'invoke_agent exported')?.spanId,
      );
    } finally {
      if (before === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = before;
      await rx.close();
    }
  });

  it('drover.config.json can turn tracing off; DROVER_TRACING in the environment wins over it', async () => {
    const dir = tempDir();
    write(dir, 'drover.config.json', JSON.stringify({ tracing: false }));
    const sim = write(dir, 'sim.yaml', ECHO);
    const script = ccScript(dir, "return await agent('p1 x')");
    const { createStore } = await import('../src/store/index.js');
    for (const [env, expected] of [
      [{}, 0],
      [{ DROVER_TRACING: '1' }, 4], // root, execution 1, the agent, its request
    ] as const) {
      const storePath = join(tempDir(), 's.db');
      const r = await cli(['run', script, '--sim', sim, '--json'], { cwd: dir, env: { DROVER_STORE: storePath, ...env } });
      expect(r.code, r.stderr).toBe(0);
      const store = createStore(storePath);
      expect(await store.spans.querySpans({ runId: (lastJson(r.stdout) as { runId: string }).runId })).toHaveLength(expected);
      await store.close();
    }
  });

  it('runs with tracing off when asked, and stores no spans', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      script: ccScript(dir, "return await agent('p1 x')"),
      gateway: gw.url,
      workdir: dir,
      tracing: false,
    });
    expect(s.status).toBe('completed');
    expect(await store.spans.querySpans({ runId: s.runId })).toEqual([]);
  });

  it("a real claude run: its requests and tool calls, and Claude Code's own spans, sit under its invoke_agent span", async () => {
    const dir = tempDir();
    write(dir, 'notes.txt', 'hello');
    const gw = await gateway(ECHO);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(dir, `return await agent('read it in ${dir}', { label: 'reader', tools: ['Read'] })`),
      gateway: gw.url,
      workdir: dir,
      backend: 'claude-code',
      cliRetries: 0,
    });
    expect(s.result).toBe('done reading');
    const spans = await store.spans.querySpans({ runId: s.runId });
    const agent = spans.find((x) => x.name === 'invoke_agent reader') as StoredSpan;
    const under = (id: string) => spans.filter((x) => x.parentSpanId === id);
    expect(under(agent.spanId).filter((x) => x.name.startsWith('chat '))).toHaveLength(2);
    expect(under(agent.spanId).filter((x) => x.name === 'execute_tool Read')).toHaveLength(1);
    const interaction = spans.find((x) => x.name === 'claude_code.interaction') as StoredSpan;
    expect(interaction.parentSpanId).toBe(agent.spanId);
    expect(interaction.service).toBe('claude-code');
    expect(under(interaction.spanId).some((x) => x.name === 'claude_code.llm_request')).toBe(true);
  });
});

describe('drover trace collect and assert: the OTelBench check as a tool', () => {
  it('passes when context propagates between two services, and names the broken link when it does not', async () => {
    const spec = join(FIXTURES, 'spec.yaml');
    for (const broken of [false, true]) {
      const env = { DROVER_STORE: join(tempDir(), 's.db'), ...(broken ? { BREAK_INVENTORY: '1' } : {}) };
      const collected = await cli(['trace', 'collect', '--port', '0', '--json', '--', 'node', join(FIXTURES, 'app.mjs')], { env });
      expect(collected.code, collected.stderr).toBe(0);
      const { traceIds, spans } = lastJson(collected.stdout) as { traceIds: string[]; spans: number };
      expect(spans).toBe(4);
      expect(traceIds).toHaveLength(broken ? 2 : 1);
      const junit = join(tempDir(), 'junit.xml');
      const args = ['assert', spec, ...traceIds.flatMap((t) => ['--trace', t]), '--junit', junit];
      const r = await cli(args, { env });
      if (!broken) {
        expect(r.code, r.stdout).toBe(0);
        expect(r.stdout).toContain('all assertions passed');
      } else {
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(
          /broken link: 'GET \/inventory' \(service inventory\) started new trace [0-9a-f]{32} instead of joining trace [0-9a-f]{32} \(root 'GET \/checkout' \(service checkout\)\): trace context did not propagate into service inventory/,
        );
        expect(r.stdout).toMatch(/'db.query' \(service inventory\) has no ancestor/);
        const { readFileSync } = await import('node:fs');
        expect(readFileSync(junit, 'utf8')).toMatch(/<testsuite name="checkout propagates to inventory" tests="4" failures="2"/);
      }
    }
  });

  it('refuses a spec with an error at its position, exit 2', async () => {
    const dir = tempDir();
    const bad = write(dir, 'bad.yaml', 'assertions:\n  - select: { name: x }\n    expect: { count: ">= lots" }\n');
    const r = await cli(['assert', bad, '--since', '1m'], { env: { DROVER_STORE: join(dir, 's.db') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: assertions\.0\.expect\.count: ">= lots": >= compares numbers/);
    const cases: [string, RegExp][] = [
      ['assertions:\n  - expect: { cuont: 1 }\n', /<spec>:2:\d+: .*unknown key "cuont"/],
      [
        'assertions:\n  - select: { name: "/(/" }\n    expect: { count: 1 }\n',
        /<spec>:2:\d+: assertions\.0\.select\.name: .*regular expression/,
      ],
      ['assertions:\n  - expect: { duration: "soon" }\n', /<spec>:2:\d+: .*duration/],
      ['assertions: []\n', /<spec>:1:\d+: assertions: /],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try {
        parseSpec(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SpecError);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('OTLP receiver', () => {
  it('stores JSON and gzip bodies, and refuses malformed ones with 400 and the reason', async () => {
    const { store } = tempStore();
    const rx = await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, maxBodyBytes: 64 * 1024 });
    try {
      const span = (over: Record<string, unknown> = {}) => ({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: 'b7ad6b7169203331',
                    name: 'op',
                    kind: 2,
                    startTimeUnixNano: '1795331806483000000',
                    endTimeUnixNano: 1795331806484000000,
                    attributes: [{ key: 'n', value: { intValue: 3 } }],
                    ...over,
                  },
                ],
              },
            ],
          },
        ],
      });
      const post = (body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
        fetch(`${rx.url}/v1/traces`, { method: 'POST', headers, body });
      expect((await post(JSON.stringify(span()))).status).toBe(200);
      expect(
        (
          await post(gzipSync(JSON.stringify(span({ spanId: 'b7ad6b7169203332' }))), {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
          })
        ).status,
      ).toBe(200);
      const bad: [string | Buffer, RegExp, number?, Record<string, string>?][] = [
        ['{not json', /not valid JSON/],
        [JSON.stringify(span({ traceId: 'xyz' })), /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: must be 32 hex characters/],
        [JSON.stringify(span({ name: 7 })), /spans\[0\]\.name: must be a string/],
        [JSON.stringify(span({ startTimeUnixNano: 'yesterday' })), /startTimeUnixNano: must be a decimal count/],
        [JSON.stringify({ resourceSpans: 'nope' }), /resourceSpans: must be an array/],
        [Buffer.from([0x0a, 0xff, 0xff, 0x01]), /protobuf body is truncated/, 400, { 'content-type': 'application/x-protobuf' }],
        ['x'.repeat(70 * 1024), /larger than/, 413],
        ['{}', /content-type text\/plain/, 415, { 'content-type': 'text/plain' }],
      ];
      for (const [body, re, status = 400, headers] of bad) {
        const res = await post(body, headers);
        expect(res.status).toBe(status);
        expect(((await res.json()) as { message: string }).message).toMatch(re);
      }
      const stored = await store.spans.querySpans({ traceId: '0af7651916cd43dd8448eb211c80319c' });
      expect(stored.map((s) => s.spanId).sort()).toEqual(['b7ad6b7169203331', 'b7ad6b7169203332']);
      expect(stored[0]).toMatchObject({
        service: 'svc',
        kind: 2,
        startUs: 1795331806483000,
        endUs: 1795331806484000,
        attributes: { n: 3 },
      });
    } finally {
      await rx.close();
    }
  });

  it('exports a trace as OTLP/JSON that imports back to the same spans; gc removes old ones', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store, path } = tempStore(dir);
    const s = await runWorkflow({ store, script: ccScript(dir, "return await agent('p1 x')"), gateway: gw.url, workdir: dir });
    await store.close();
    const exported = await cli(['trace', 'export', s.runId, '--store', path]);
    expect(exported.code).toBe(0);
    const file = join(dir, 'trace.json');
    writeFileSync(file, exported.stdout);
    const other = join(dir, 'other.db');
    const imported = await cli(['trace', 'import', file, '--store', other, '--json']);
    expect(lastJson(imported.stdout)).toMatchObject({ spans: 4, traces: [traceIdForRun(s.runId)] });
    const shown = await cli(['trace', 'show', traceIdForRun(s.runId), '--store', other, '--json']);
    const tree = JSON.parse(shown.stdout.trim().split('\n').pop() as string) as { name: string }[];
    expect(tree[0]?.name).toBe('invoke_workflow test-workflow');
    const gc = await cli(['trace', 'gc', '--older-than', '0ms', '--store', other, '--json']);
    expect(lastJson(gc.stdout)).toMatchObject({ deleted: 4 });
    const gone = await cli(['trace', 'show', s.runId, '--store', other]);
    expect(gone.code).toBe(2);
  });
});

describe('assertions and golden traces', () => {
  const mk = (
    name: string,
    id: string,
    parent: string | null,
    attrs: Record<string, string | number> = {},
    trace = 'a'.repeat(32),
  ): StoredSpan => ({
    traceId: trace,
    spanId: id.padStart(16, '0'),
    parentSpanId: parent ? parent.padStart(16, '0') : null,
    name,
    kind: 1,
    startUs: 1000,
    endUs: 2000,
    statusCode: 0,
    statusMessage: null,
    service: 'svc',
    scope: null,
    attributes: attrs,
    resource: {},
    events: [],
    runId: null,
  });

  it('evaluates counts, comparisons, sums, orphans and optional selections', () => {
    const spans = [
      mk('root', '1', null),
      mk('chat m', '2', '1', { 'drover.cost.usd': 0.4, 'gen_ai.usage.output_tokens': 10 }),
      mk('chat m', '3', '1', { 'drover.cost.usd': 0.3, 'gen_ai.usage.output_tokens': 20 }),
      mk('lost', '4', '9'),
    ];
    const spec = parseSpec(`
assertions:
  - name: cost cap
    select: { name: '/^chat/' }
    expect: { sum: { drover.cost.usd: '<= 0.5' }, count: 2 }
  - name: orphans
    expect: { noOrphans: true }
  - name: absent but optional
    select: { name: nothing }
    optional: true
    expect: { status: ok }
  - name: absent
    select: { name: nothing }
    expect: { status: ok }
  - name: tokens
    select: { name: '/^chat/', attributes: { gen_ai.usage.output_tokens: '> 15' } }
    expect: { count: '= 1', ancestor: { name: root } }
`);
    const r = evaluateSpec(spec, spans);
    expect(r.results.map((x) => x.passed)).toEqual([false, false, true, false, true]);
    expect(r.results[0]?.failures).toEqual(['sum of drover.cost.usd over 2 spans is 0.7, expected <= 0.5']);
    expect(r.results[1]?.failures[0]).toMatch(/'lost' \(service svc\) in trace a{32} names parent 0{15}9, which is not there/);
    expect(r.results[3]?.failures[0]).toMatch(/selected no spans/);
    expect(toJUnit(r)).toContain('failures="3"');
  });

  it('golden: the same structure passes; a missing span or changed attribute is a readable diff', () => {
    const base = [mk('root', '1', null), mk('invoke_agent a', '2', '1', { 'gen_ai.request.model': 'm1' }), mk('chat m1', '3', '2')];
    const golden = toGolden(base);
    expect(diffGolden(golden, toGolden(base))).toEqual([]);
    const changed = [mk('root', '1', null), mk('invoke_agent a', '2', '1', { 'gen_ai.request.model': 'm2' }), mk('sh ls', '4', '1')];
    expect(diffGolden(golden, toGolden(changed))).toEqual([
      `~ (trace) > 'root' [svc] > 'invoke_agent a' [svc]: gen_ai.request.model "m1" → "m2"`,
      `- missing under (trace) > 'root' [svc] > 'invoke_agent a' [svc]: 'chat m1' [svc]`,
      `+ unexpected under (trace) > 'root' [svc]: 'sh ls' [svc]`,
    ]);
  });

  it('golden save and assert --golden from the CLI', async () => {
    const dir = tempDir();
    const gw = await gateway(ECHO);
    const { store, path } = tempStore(dir);
    const one = await runWorkflow({ store, script: ccScript(dir, "await agent('p1 x'); return 1"), gateway: gw.url, workdir: dir });
    const two = await runWorkflow({
      store,
      script: ccScript(dir, "await agent('p1 x'); await agent('p2 y'); return 2", 'two.js'),
      gateway: gw.url,
      workdir: dir,
    });
    await store.close();
    const golden = join(dir, 'golden.json');
    expect((await cli(['trace', 'golden', 'save', one.runId, golden, '--store', path])).code).toBe(0);
    expect((await cli(['assert', '--golden', golden, '--run', one.runId, '--store', path])).code).toBe(0);
    const diff = await cli(['assert', '--golden', golden, '--run', two.runId, '--store', path]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(
      /\+ unexpected under \(trace\) > 'invoke_workflow test-workflow' \[drover\]: 'invoke_agent p2 y' \[drover\] \(with 1 spans below\)/,
    );
  });
});

describe('money and secrets on spans', () => {
  it('prices requests from the table (Claude Code reports 1234 in + 7 out on claude-opus-4-8 as 0.006345 USD)', () => {
    const u = { inputTokens: 1234, outputTokens: 7, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0 };
    expect(costOf({ model: 'claude-opus-4-8', ...u })).toBeCloseTo(0.006345, 9);
    expect(costOf({ model: 'some-local-model', ...u })).toBeNull();
  });

  it('redacts keys and secret env values before content reaches a span', () => {
    const text = 'use sk-ant-api03-abcdefghijklmnop and Bearer abcdefghijklmnopqrstuvwx and hunter2hunter2';
    expect(redactSecrets(text, { MY_PASSWORD: 'hunter2hunter2' })).toBe('use [REDACTED] and Bearer [REDACTED] and [REDACTED]');
  });
});

describe('OTLP/JSON round trip', () => {
  it('encodes spans to standard OTLP/JSON', () => {
    const json = spansToOtlpJson([
      {
        traceId: 'a'.repeat(32),
        spanId: 'b'.repeat(16),
        parentSpanId: null,
        name: 'x',
        kind: 1,
        startUs: 5,
        endUs: 7,
        statusCode: 2,
        statusMessage: 'bad',
        service: 's',
        scope: 'sc',
        attributes: { k: 1.5, l: [1, 'a'] },
        resource: { 'service.name': 's' },
        events: [],
        runId: null,
      },
    ]);
    const span = json.resourceSpans[0]?.scopeSpans[0]?.spans[0];
    expect(span).toMatchObject({ startTimeUnixNano: '5000', endTimeUnixNano: '7000', status: { code: 2, message: 'bad' } });
    expect(span?.attributes).toEqual([
      { key: 'k', value: { doubleValue: 1.5 } },
      { key: 'l', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'a' }] } } },
    ]);
  });
});
