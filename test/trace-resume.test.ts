import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateSpec, parseSpec } from '../src/assert/index.js';
import type { CallRecord } from '../src/store/index.js';
import { createStore, duplicateSpanIds, type StoredSpan } from '../src/store/index.js';
import { emptyHistory, RunTracer, readRunHistory, traceIdForRun } from '../src/telemetry/index.js';
import { resumeRun, runWorkflow } from '../src/workflow/index.js';
import { CallTracing } from '../src/workflow/tracing.js';
import {
  bareRun,
  ccScript,
  cli,
  FAST_BACKOFF,
  gateway,
  lastJson,
  onCleanup,
  spawnCli,
  tempDir,
  tempStore,
  waitFor,
  write,
} from './helpers.js';

/** `two` waits at a gate the test opens; the others answer at once. */
const SCENARIO = `
rules:
  - match: { prompt: '^held (\\w+)' }
    hold: held
    turns: [{ text: 'held {{1}}' }]
  - match: { prompt: '^quick (\\w+)' }
    turns: [{ text: 'quick {{1}}' }]
`;

/**
 * A child `sh` runs: it sends one span over OTLP/HTTP JSON under its TRACEPARENT, then — the first
 * time only — writes its pid to a marker file and stays up, so the run is killed while the `sh` call
 * is open and the child's span already names it as parent.
 */
const CHILD = `
import { existsSync, writeFileSync } from 'node:fs';
const [, traceId, parent] = (process.env.TRACEPARENT ?? '').split('-');
const now = BigInt(Date.now()) * 1000000n;
const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'child-script' } }] },
  scopeSpans: [{ scope: { name: 'child' }, spans: [{ traceId, spanId: [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join(''),
    parentSpanId: parent, name: 'child work', kind: 1, startTimeUnixNano: String(now), endTimeUnixNano: String(now + 1000n) }] }] }] };
const res = await fetch(process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
if (!res.ok) throw new Error('export failed: ' + res.status);
const marker = process.argv[2];
if (!existsSync(marker)) {
  writeFileSync(marker, String(process.pid));
  setInterval(() => {}, 1 << 30);
}
`;

const BODY = (child: string, marker: string) => `
phase('Plan');
await agent('quick plan', { label: 'planner' });
phase('Work');
const out = await parallel([
  () => agent('quick one', { label: 'one' }),
  () => agent('held two', { label: 'two' }),
  () => sh('node ${child} ${marker}'),
]);
phase('Check');
await agent('quick check', { label: 'checker' });
return out.length;
`;

const STRUCTURE = `
assertions:
  - name: one tree
    expect: { oneRootPerTrace: true, noOrphans: true, noDuplicateSpanIds: true }
  - name: planner once
    select: { name: invoke_agent planner }
    expect: { count: 1 }
  - name: one once
    select: { name: invoke_agent one }
    expect: { count: 1 }
  - name: two once
    select: { name: invoke_agent two }
    expect: { count: 1, status: unset }
  - name: checker once
    select: { name: invoke_agent checker }
    expect: { count: 1 }
  - name: agents by attribute, once each
    select: { attributes: { gen_ai.operation.name: invoke_agent } }
    expect: { count: 4 }
  - name: every agent under its phase and the root
    select: { name: /^invoke_agent / }
    expect: { ancestor: { name: /^phase / , ancestor: { name: invoke_workflow test-workflow } } }
  - name: the child's span under the sh call, under the Work phase
    select: { name: child work }
    expect: { ancestor: { name: /^sh node /, ancestor: { name: phase Work } } }
  - name: one phase span per phase
    select: { name: /^phase / }
    expect: { count: 3 }
`;

function openStore(path: string) {
  const store = createStore(path);
  onCleanup(() => store.close());
  return store;
}

async function setup() {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const child = write(dir, 'child.mjs', CHILD);
  const marker = join(dir, 'child.pid');
  const script = ccScript(dir, BODY(child, marker));
  onCleanup(() => {
    // The first child outlives the killed run: stop it by its pid.
    const pid = existsSync(marker) ? Number(readFileSync(marker, 'utf8')) : 0;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  return { dir, gw, script, marker };
}

describe('a resumed run is one coherent trace', () => {
  it('after kill -9 and resume: no orphans, each agent and phase once, ancestors hold, and it equals an uninterrupted run under --golden', async () => {
    const { dir, gw, script, marker } = await setup();
    const storePath = join(dir, 'crash.db');
    const env = { DROVER_STORE: storePath };
    const child = spawnCli(['run', script, '--gateway', gw.url, '--run-id', 'killed', '--json'], { env });
    const store = openStore(storePath);
    // Killed with: planner and one finished, two held at the gate, the sh child up with its span sent.
    await gw.gates.arrived('held');
    await waitFor(() => existsSync(marker) || undefined, 60_000, 'the child process');
    await waitFor(
      async () => {
        const calls = await store.listCalls('killed').catch(() => []);
        return calls.filter((c) => c.status === 'finished' && c.kind === 'agent').length >= 2 || undefined;
      },
      60_000,
      'planner and one finished',
    );
    child.kill('SIGKILL');
    expect((await child.done).signal).toBe('SIGKILL');

    // What the crash left: spans under a call span that was never written.
    const before = await store.spans.querySpans({ traceId: traceIdForRun('killed') });
    const broken = evaluateSpec(parseSpec('assertions:\n  - expect: { noOrphans: true }\n'), before);
    expect(broken.passed).toBe(false);
    expect(broken.results[0]?.failures.join('\n')).toMatch(/'child work' \(service child-script\) in trace \w+ names parent/);
    // The root, the current execution and each phase were written when they started: a run never resumed still has them.
    expect(before.map((s) => s.name).sort()).toEqual(
      expect.arrayContaining(['invoke_workflow test-workflow', 'execution 1', 'phase Plan', 'phase Work', 'invoke_agent planner']),
    );
    expect(before.find((s) => s.name === 'execution 1')?.attributes['drover.execution.state']).toBe('running');

    gw.gates.open('held');
    const resumed = await cli(['resume', 'killed', '--json'], { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout)).toMatchObject({ status: 'completed', result: 3 });

    const spans = await store.spans.querySpans({ traceId: traceIdForRun('killed') });
    const result = evaluateSpec(parseSpec(STRUCTURE), spans);
    expect(result.results.filter((r) => !r.passed)).toEqual([]);
    // Each execution is visible: the first interrupted, the second completed.
    const executions = spans.filter((s) => /^execution \d$/.test(s.name)).map((s) => [s.name, s.attributes['drover.execution.state']]);
    expect(executions.sort()).toEqual([
      ['execution 1', 'interrupted'],
      ['execution 2', 'completed'],
    ]);
    // The interrupted attempts of two and of the sh call sit under the attempts that re-ran them.
    const by = (name: string) => spans.filter((s) => s.name === name);
    const two = by('invoke_agent two')[0] as StoredSpan;
    expect(two.attributes).toMatchObject({ 'drover.call.rerun': true, 'drover.execution': 2, 'drover.call.reused': false });
    const earlier = spans.filter((s) => s.name === 'earlier attempt (interrupted)');
    expect(earlier.map((e) => spans.find((p) => p.spanId === e.parentSpanId)?.name).sort()).toEqual([
      'invoke_agent two',
      expect.stringMatching(/^sh node /),
    ]);
    const root = spans.find((s) => s.parentSpanId === null) as StoredSpan;
    expect(root.attributes).toMatchObject({ 'drover.run.status': 'completed', 'drover.executions': 2 });
    // The planner ran in execution 1 and was served from the journal in 2: one span, from 1.
    expect(by('invoke_agent planner').map((s) => s.attributes['drover.execution'])).toEqual([1]);
    await store.close();

    // The same workflow uninterrupted, in another store: its golden file passes on the resumed run.
    const refEnv = { DROVER_STORE: join(dir, 'ref.db') };
    const reference = await cli(['run', script, '--gateway', gw.url, '--run-id', 'reference', '--json'], { env: refEnv });
    expect(reference.code, reference.stderr).toBe(0);
    const golden = join(dir, 'golden.json');
    const saved = await cli(['trace', 'golden', 'save', 'reference', golden], { env: refEnv });
    expect(saved.code, saved.stderr).toBe(0);
    const compared = await cli(['assert', '--golden', golden, '--run', 'killed'], { env });
    expect(compared.stdout + compared.stderr).not.toMatch(/missing|unexpected/);
    expect(compared.code, compared.stdout).toBe(0);
    // The uninterrupted run passes the same structure spec (the counts are what a user expects of it).
    const refStore = openStore(join(dir, 'ref.db'));
    const refSpans = await refStore.spans.querySpans({ traceId: traceIdForRun('reference') });
    expect(evaluateSpec(parseSpec(STRUCTURE), refSpans).results.filter((r) => !r.passed)).toEqual([]);
  });

  it('a no-op resume of a finished run leaves its trace equal under --golden, with no second span for any call', async () => {
    const { dir, gw, script, marker } = await setup();
    gw.gates.open('held');
    write(dir, 'child.pid', 'no child waits in this test');
    expect(existsSync(marker)).toBe(true);
    const env = { DROVER_STORE: join(dir, 'drover.db') };
    const first = await cli(['run', script, '--gateway', gw.url, '--run-id', 'done', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const golden = join(dir, 'golden.json');
    expect((await cli(['trace', 'golden', 'save', 'done', golden], { env })).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      const again = await cli(['resume', 'done', '--json'], { env });
      expect(again.code, again.stderr).toBe(0);
      const compared = await cli(['assert', '--golden', golden, '--run', 'done'], { env });
      expect(compared.code, compared.stdout).toBe(0);
    }
    const store = openStore(join(dir, 'drover.db'));
    const spans = await store.spans.querySpans({ traceId: traceIdForRun('done') });
    expect(duplicateSpanIds(spans)).toEqual([]);
    expect(evaluateSpec(parseSpec(STRUCTURE), spans).results.filter((r) => !r.passed)).toEqual([]);
    expect(
      spans
        .filter((s) => s.name.startsWith('execution '))
        .map((s) => s.name)
        .sort(),
    ).toEqual(['execution 1', 'execution 2', 'execution 3']);
    expect(spans.filter((s) => s.parentSpanId === null).map((s) => s.attributes['drover.executions'])).toEqual([3]);
  });
});

describe('any number of executions', () => {
  it('a call interrupted in two executions in a row runs once more: one span, both earlier attempts below it, three executions', async () => {
    const dir = tempDir();
    const { store } = tempStore(dir);
    const run = await bareRun(store, 'twice', dir);
    let t = Date.now();
    const tick = () => {
      t = Math.max(t + 1, Date.now());
      return t;
    };
    const pending: Promise<void>[] = [];
    /** One execution: a tracer on what the earlier ones left, writing into the real store (replacing like the journal). */
    const execution = async (first: boolean) => {
      const history = first
        ? emptyHistory()
        : readRunHistory({
            runId: run.id,
            workflowName: 'wf',
            createdAt: run.createdAt,
            calls: await store.listCalls(run.id),
            spans: await store.spans.querySpans({ traceId: traceIdForRun(run.id) }),
          });
      const tracer = new RunTracer({
        runId: run.id,
        workflowName: 'wf',
        createdAt: run.createdAt,
        history,
        sink: (span, replace) => {
          pending.push(replace ? store.recordCalls([], [], [], [], undefined, [span]) : store.recordCalls([], [], [span]));
        },
      });
      return { tracer, tracing: new CallTracing(tracer, { childOtlpEnv: {}, captureContent: false }) };
    };
    const call = (key: string, status: CallRecord['status']): CallRecord => ({
      runId: run.id,
      key,
      kind: 'agent',
      label: key,
      phase: 'Build',
      status,
      inputs: {},
      result: null,
      error: null,
      attempts: 1,
      startedAt: tick(),
      finishedAt: status === 'started' ? null : tick(),
      reusedFrom: null,
    });
    const settle = async () => {
      await Promise.all(pending.splice(0));
    };

    // Execution 1: a finishes; b starts, its process sends a span, and the execution dies.
    const one = await execution(true);
    const a = call('a', 'started');
    one.tracing.end(one.tracing.start('agent', 'invoke_agent a', a), a, null);
    await store.recordCalls([{ ...a, status: 'finished', finishedAt: tick() }]);
    const b1 = call('b', 'started');
    await store.recordCalls([b1]);
    const span1 = one.tracing.start('agent', 'invoke_agent b', b1);
    await store.spans.insertSpans([
      {
        traceId: traceIdForRun(run.id),
        spanId: 'c0ffee0000000001',
        parentSpanId: span1?.spanId ?? null,
        name: 'claude_code.interaction',
        kind: 1,
        startUs: tick() * 1000,
        endUs: tick() * 1000,
        statusCode: 0,
        statusMessage: null,
        service: 'claude-code',
        scope: 'com.anthropic.claude_code',
        attributes: {},
        resource: { 'service.name': 'claude-code' },
        events: [],
        runId: null,
      },
    ]);
    await settle();

    // Execution 2: b runs again and the execution dies again.
    const two = await execution(false);
    expect(two.tracer.execution).toBe(2);
    const b2 = call('b', 'started');
    await store.recordCalls([b2]);
    two.tracing.start('agent', 'invoke_agent b', b2);
    await settle();

    // Execution 3: b runs to the end, a is served from the journal.
    const three = await execution(false);
    expect(three.tracer.execution).toBe(3);
    three.tracing.reused('agent', 'invoke_agent a', { ...a, status: 'finished' });
    const b3 = call('b', 'started');
    await store.recordCalls([b3]);
    three.tracing.end(three.tracing.start('agent', 'invoke_agent b', b3), b3, null);
    await store.recordCalls([{ ...b3, status: 'finished', finishedAt: tick() }]);
    await three.tracer.finish({ status: 'completed' });
    await settle();

    const spans = await store.spans.querySpans({ traceId: traceIdForRun(run.id) });
    const spec = parseSpec(`
assertions:
  - expect: { oneRootPerTrace: true, noOrphans: true, noDuplicateSpanIds: true }
  - select: { name: invoke_agent b }
    expect: { count: 1, attributes: { drover.call.rerun: true, drover.execution: 3 } }
  - select: { name: invoke_agent a }
    expect: { count: 1, attributes: { drover.execution: 1 } }
  - select: { name: earlier attempt (interrupted) }
    expect: { count: 2, attributes: { drover.attempt.superseded: true }, ancestor: { name: invoke_agent b } }
  - select: { name: claude_code.interaction }
    expect: { ancestor: { name: invoke_agent b, ancestor: { name: phase Build } } }
  - select: { name: phase Build }
    expect: { count: 1 }
`);
    expect(evaluateSpec(spec, spans).results.filter((r) => !r.passed)).toEqual([]);
    const states = Object.fromEntries(
      spans.filter((s) => s.name.startsWith('execution ')).map((s) => [s.name, s.attributes['drover.execution.state']]),
    );
    expect(states).toEqual({ 'execution 1': 'interrupted', 'execution 2': 'interrupted', 'execution 3': 'completed' });
  });

  it('a call that failed runs again on resume: one span, the failed attempt below it', async () => {
    const dir = tempDir();
    const failing = await gateway(
      "rules:\n  - match: { prompt: 'x' }\n    faults: [{ status: 500, times: 100 }]\n    turns: [{ text: never }]\n",
    );
    const healthy = await gateway("rules:\n  - match: { prompt: '^(.*)$' }\n    turns: [{ text: 'ok {{1}}' }]\n");
    const { store } = tempStore(dir);
    const script = ccScript(dir, "phase('Fix'); return await agent('fix x', { label: 'fixer' })");
    const first = await runWorkflow({ store, script, gateway: failing.url, workdir: dir, backoff: FAST_BACKOFF });
    // A failed agent is null to the script (as in Claude Code); the resume runs it again.
    expect(first).toMatchObject({ status: 'completed', result: null, calls: { failed: 1 } });
    const again = await resumeRun({ store, runId: first.runId, gateway: healthy.url, backoff: FAST_BACKOFF });
    expect(again).toMatchObject({ status: 'completed', result: 'ok fix x', calls: { executed: 1 } });
    const spans = await store.spans.querySpans({ traceId: traceIdForRun(first.runId) });
    const spec = parseSpec(`
assertions:
  - expect: { oneRootPerTrace: true, noOrphans: true }
  - select: { name: invoke_agent fixer }
    expect: { count: 1, status: unset, attributes: { drover.call.rerun: true } }
  - select: { name: earlier attempt (failed) }
    expect: { count: 1, status: error, attributes: { drover.execution: 1 }, ancestor: { name: invoke_agent fixer } }
  - select: { name: phase Fix }
    expect: { count: 1 }
`);
    expect(evaluateSpec(spec, spans).results.filter((r) => !r.passed)).toEqual([]);
    expect(spans.filter((s) => s.parentSpanId === null).map((s) => s.attributes['drover.run.status'])).toEqual(['completed']);
  });
});
