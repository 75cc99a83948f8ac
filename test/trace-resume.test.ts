import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateSpec, parseSpec } from '../src/assert/index.js';
import { createStore, duplicateSpanIds, type StoredSpan } from '../src/store/index.js';
import { traceIdForRun } from '../src/telemetry/index.js';
import { ccScript, cli, gateway, lastJson, onCleanup, spawnCli, tempDir, waitFor, write } from './helpers.js';

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
