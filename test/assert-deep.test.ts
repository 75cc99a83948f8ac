// Deep and looping parent chains: no stack overflow anywhere (assert, golden, trace show),
// ancestor checks answered in one pass, and an internal error never exits 1.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffGolden, evaluateSpec, parseSpec, TraceIndex, toGolden } from '../src/assert/index.js';
import { INTERNAL_EXIT_CODE, InternalError, stringifyJson } from '../src/core/index.js';
import type { StoredSpan } from '../src/store/index.js';
import { buildTree, renderWaterfall, SpanForest, treeJson } from '../src/telemetry/index.js';
import { cli, ROOT, tempDir, tempStore, write } from './helpers.js';

const TRACE = 'c'.repeat(32);
const sid = (i: number) => i.toString(16).padStart(16, '0');

function span(i: number, parent: number | null, name: string, extra: Partial<StoredSpan> = {}): StoredSpan {
  return {
    traceId: TRACE,
    spanId: sid(i),
    parentSpanId: parent === null ? null : sid(parent),
    name,
    kind: 1,
    startUs: 1_000_000 + i,
    endUs: 1_000_000 + i + 5,
    statusCode: 0,
    statusMessage: null,
    service: 'svc',
    scope: null,
    attributes: {},
    resource: {},
    events: [],
    runId: null,
    ...extra,
  };
}

/** root ← s2 ← s3 … ← s<depth+1>: span i's parent is i-1; names cycle through step0..step6. */
function chain(depth: number, rename?: { at: number; name: string }): StoredSpan[] {
  const out = [span(1, null, 'root')];
  for (let i = 2; i <= depth + 1; i++) out.push(span(i, i - 1, rename?.at === i ? rename.name : `step${i % 7}`));
  return out;
}

/** Depth of the deepest node of a nested `children` tree, walked without recursion. */
function nestedDepth(tops: { children: unknown[] }[]): number {
  let max = 0;
  const stack = tops.map((t) => [t, 0] as [{ children: unknown[] }, number]);
  while (stack.length) {
    const [n, d] = stack.pop() as [{ children: unknown[] }, number];
    max = Math.max(max, d);
    for (const c of n.children) stack.push([c as { children: unknown[] }, d + 1]);
  }
  return max;
}

describe('deep parent chains (the issue: stack overflow at depth 2,000-6,000, exit 1)', () => {
  /** A store holding a 10,000-deep chain (trace cccc…) and the same chain with span 7,500 renamed (trace dddd…). */
  async function deepStore() {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    await store.spans.insertSpans(chain(10_000));
    await store.spans.insertSpans(chain(10_000, { at: 7_500, name: 'renamed' }).map((s) => ({ ...s, traceId: 'd'.repeat(32) })));
    await store.close();
    return { dir, path };
  }

  it('golden save and assert --golden handle a 10,000-deep chain from the CLI', async () => {
    const { dir, path } = await deepStore();
    const golden = join(dir, 'golden.json');

    const saved = await cli(['trace', 'golden', 'save', TRACE, golden, '--store', path]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(nestedDepth(JSON.parse(readFileSync(golden, 'utf8')).roots)).toBe(10_000);

    const same = await cli(['assert', '--golden', golden, '--trace', TRACE, '--store', path]);
    expect(same.code, same.stderr).toBe(0);
    const differs = await cli(['assert', '--golden', golden, '--trace', 'd'.repeat(32), '--store', path]);
    expect(differs.code, differs.stderr).toBe(1);
    expect(differs.stdout).toContain(
      "- missing under (trace) > 'root' [svc] > 'step2' [svc] > … 7,494 more … > 'step0' [svc] > 'step1' [svc] > 'step2' [svc]: 'step3' [svc] (with 2501 spans below)",
    );
    expect(differs.stdout).toContain("+ unexpected under (trace) > 'root' [svc] > 'step2' [svc] > … 7,494 more …");
  }, 180_000); // three CLI processes reading 20,002 spans: slow only on a busy machine

  it('trace show, show --json and a spec handle a 10,000-deep chain from the CLI', async () => {
    const { dir, path } = await deepStore();
    const shown = await cli(['trace', 'show', TRACE, '--store', path]);
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout.trim().split('\n');
    expect(lines).toHaveLength(10_002);
    expect(lines[10_001]).toMatch(/^ {30}·10000 step5 /);
    expect(lines[2]).toMatch(/^ {2}step2 /);

    const json = await cli(['trace', 'show', TRACE, '--json', '--store', path]);
    expect(json.code, json.stderr).toBe(0);
    const tree = JSON.parse(json.stdout) as { children: unknown[]; spanId: string }[];
    expect(tree).toHaveLength(1);
    expect(nestedDepth(tree)).toBe(10_000);

    const spec = write(
      dir,
      'spec.yaml',
      `assertions:
  - select: { name: step3 }
    expect: { ancestor: { name: root } }
  - expect: { oneRootPerTrace: true, noOrphans: true }
  - select: { name: step3, ancestor: { name: step5, ancestor: { name: root } } }
    expect: { count: '>= 1000' }
`,
    );
    const checked = await cli(['assert', spec, '--trace', TRACE, '--store', path, '--json']);
    expect(checked.code, checked.stderr).toBe(0);
    expect(JSON.parse(checked.stdout)).toMatchObject({ passed: true, spans: 10_001 });
    // A gate never passes on data it could not read: a run or trace with no spans is refused (exit 2),
    // even for a spec that would pass on nothing (`count: '= 0'`).
    const none = write(dir, 'none.yaml', `assertions:\n  - select: { status: error }\n    expect: { count: '= 0' }\n`);
    for (const source of [
      ['--run', 'no-such-run'],
      ['--trace', 'e'.repeat(32)],
    ]) {
      const r = await cli(['assert', none, ...source, '--store', path]);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stderr).toContain(`spans of ${source[1]} (no run or trace with that id in ${path})`);
    }
  }, 180_000); // three CLI processes reading 20,002 spans: slow only on a busy machine

  it('answers ancestor checks over a 50,000-deep chain and 100,000 wide spans, naming the chain shortly', () => {
    const deep = chain(50_000);
    const spec = parseSpec(`
assertions:
  - name: under the root
    select: { name: step3 }
    expect: { ancestor: { name: root } }
  - name: under a step4 that is under a step6
    select: { name: step3 }
    expect: { ancestor: { name: step4, ancestor: { name: step6 } } }
  - name: nowhere
    select: { name: step3 }
    expect: { ancestor: { name: step1, service: other } }
`);
    const r = evaluateSpec(spec, deep);
    expect(r.results.map((x) => x.passed)).toEqual([true, false, false]);
    // Span 3 (step3) sits right under step2 and the root: no step4 above it, although step4 spans exist.
    expect(r.results[1]?.failures[0]).toBe(
      "'step3' (service svc) has no ancestor among spans with name \"step4\", ancestor [spans with name \"step6\"]: chain 'step3' ← 'step2' ← 'root'; 'step4' (service svc) matches in the same trace, but is not above it",
    );
    expect(r.results[1]?.failures).toHaveLength(2); // span 3 and span 10 fail (span 10's nearest step4 is span 4: step6 is not above it)
    expect(r.results[2]?.failures).toEqual([
      `no span matches the ancestor selector (spans with name "step1", service other): no span has service other; so none of the ${deep.filter((s) => s.name === 'step3').length} selected spans can have it above (check the selector)`,
    ]);
    // A failure deep down shows the nearest six and the top, not 50,000 names.
    const orphanTop = [span(1, 999_999, 'top'), ...chain(50_000).slice(1)];
    const lost = evaluateSpec(parseSpec("assertions:\n  - select: { name: step0 }\n    expect: { ancestor: { name: 'GET /x' } }\n"), [
      ...orphanTop,
      span(999_998, null, 'GET /x', { traceId: 'e'.repeat(32) }),
    ]);
    expect(lost.results[0]?.failures[0]).toBe(
      `'step0' (service svc) has no ancestor among spans with name "GET /x": chain 'step0' ← 'step6' ← 'step5' ← 'step4' ← 'step3' ← 'step2' ← 'top'; its parent ${sid(999_999)} is missing`,
    );
    expect(lost.results[0]?.failures[1]).toBe(
      `'step0' (service svc) has no ancestor among spans with name "GET /x": chain 'step0' ← 'step6' ← 'step5' ← 'step4' ← 'step3' ← 'step2' ← … 7 more … ← 'top'; its parent ${sid(999_999)} is missing`,
    );
    expect(lost.results[0]?.failures[4]).toContain("← 'step2' ← … 28 more … ← 'top'; its parent");
    expect(lost.results[0]?.failures.at(-1)).toBe('… and 7138 more');

    const wide = [span(1, null, 'root'), ...Array.from({ length: 100_000 }, (_, i) => span(i + 2, 1, i % 2 ? 'odd' : 'even'))];
    const w = evaluateSpec(
      parseSpec(
        "assertions:\n  - select: { name: odd }\n    expect: { ancestor: { name: root }, count: '= 50000' }\n  - expect: { oneRootPerTrace: true, noOrphans: true }\n",
      ),
      wide,
    );
    expect(w.results.map((x) => [x.passed, x.selected])).toEqual([
      [true, 50_000],
      [true, 100_001],
    ]);
  });

  it('links spans in O(1) ancestor tests (DFS entry/exit numbers) and cuts loops of parent ids', () => {
    //   1 ─ 2 ─ 3        5 ⇄ 6 (a loop) ─ 7      8 (orphan: parent 99 is missing)
    //    └─ 4
    const spans = [
      span(1, null, 'a'),
      span(2, 1, 'b'),
      span(3, 2, 'c'),
      span(4, 1, 'd'),
      span(5, 6, 'loop1'),
      span(6, 5, 'loop2'),
      span(7, 6, 'under loop'),
      span(8, 99, 'orphan'),
    ];
    const f = new SpanForest(spans);
    const at = (i: number) => i - 1;
    expect(f.isAncestor(at(1), at(3))).toBe(true);
    expect(f.isAncestor(at(2), at(3))).toBe(true);
    expect(f.isAncestor(at(4), at(3))).toBe(false);
    expect(f.isAncestor(at(3), at(1))).toBe(false);
    expect(f.isAncestor(at(3), at(3))).toBe(false);
    expect([...f.depth]).toEqual([0, 1, 2, 1, 0, 1, 2, 0]);
    expect(f.tops.map((i) => spans[i]?.name)).toEqual(['a', 'orphan', 'loop1']);
    expect(f.inCycle(at(5))).toBe(true);
    expect(f.inCycle(at(6))).toBe(false);
    expect(f.isOrphan(at(8))).toBe(true);
    // Every span is shown once, the loop cut at the top.
    const tree = buildTree(spans);
    expect(tree.map((n) => [n.span.name, n.orphan, n.cycle ?? false])).toEqual([
      ['a', false, false],
      ['loop1', false, true],
      ['orphan', true, false],
    ]);
    expect(renderWaterfall(spans).split('\n')).toHaveLength(spans.length + 1);
    expect(renderWaterfall(spans)).toMatch(/loop1 .*\(parent ids loop\)/);
    expect(JSON.stringify(treeJson(spans))).toContain('"cycle":true');
    const golden = toGolden(spans);
    let count = 0;
    const stack = [...golden.roots];
    while (stack.length) {
      count++;
      stack.push(...(stack.pop()?.children ?? []));
    }
    expect(count).toBe(spans.length);
    expect(diffGolden(golden, toGolden([...spans].reverse()))).toEqual([]);

    const index = new TraceIndex(spans);
    expect(index.ancestors(spans[6] as StoredSpan).map((s) => s.name)).toEqual(['loop2', 'loop1']);
    const r = evaluateSpec(parseSpec('assertions:\n  - expect: { oneRootPerTrace: true }\n'), spans.slice(4));
    expect(r.results[0]?.failures).toEqual([
      `trace ${TRACE} has no root span: 'orphan' (service svc) names parent ${sid(99)}, which is not there; the parent ids of 'loop1' (service svc) lead back to itself`,
    ]);
  });

  it('writes JSON of any depth with the same text JSON.stringify gives where it can', () => {
    const shallow = { a: 1, b: [1, 'x', null, undefined], c: undefined, d: { e: true, f: new Date(0) }, g: '\u001b[31m' };
    for (const indent of [undefined, 2]) expect(stringifyJson(shallow, indent)).toBe(JSON.stringify(shallow, null, indent));
    let deep: { next?: unknown; i: number } = { i: 0 };
    for (let i = 1; i <= 100_000; i++) deep = { next: deep, i };
    const back = JSON.parse(stringifyJson(deep, 2));
    let n = 0;
    for (let x = back; x.next; x = x.next) n++;
    expect(n).toBe(100_000);
    expect(stringifyJson({ big: 2n ** 63n - 1n })).toBe('{"big":9223372036854775807}');
    const loop: { next?: unknown } = {};
    let cur = loop;
    for (let i = 0; i < 1000; i++) {
      cur.next = {};
      cur = cur.next as { next?: unknown };
    }
    cur.next = loop;
    expect(() => stringifyJson(loop)).toThrow(TypeError);
  });
});

describe('internal errors', () => {
  it('exit 70 with a message, never 1 (which means "an assertion failed")', () => {
    const script = `import { fail } from ${JSON.stringify(join(ROOT, 'dist', 'cli', 'output.js'))};
fail(new RangeError('Maximum call stack size exceeded'), process.argv.at(-1) === 'json');`;
    for (const mode of ['text', 'json']) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, mode], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      expect(r.status).toBe(INTERNAL_EXIT_CODE);
      expect(r.stderr).toContain('error: internal error (DROVER_DEBUG=1 prints the stack): Maximum call stack size exceeded');
      if (mode === 'json')
        expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'INTERNAL', message: expect.stringContaining('Maximum call stack') } });
    }
    expect(INTERNAL_EXIT_CODE).not.toBe(1);
    expect(new InternalError('x').exitCode).toBe(INTERNAL_EXIT_CODE);
  });

  it('drover assert turns an unexpected exception into an InternalError (exit 70), and keeps its own errors', async () => {
    const { assertCommand } = await import('../src/cli/handlers/assert.js');
    const dir = tempDir();
    const spec = write(dir, 'spec.yaml', 'assertions:\n  - expect: { noOrphans: true }\n');
    // A flag of the wrong shape (a library caller's mistake) throws a TypeError inside.
    await expect(assertCommand(spec, { trace: 'abc' as unknown as string[] })).rejects.toMatchObject({
      code: 'INTERNAL',
      exitCode: 70,
      message: expect.stringMatching(/^drover assert failed inside drover, not on an assertion: /),
    });
    await expect(assertCommand(join(dir, 'missing.yaml'), { since: '1m' })).rejects.toMatchObject({ code: 'INVALID_SPEC', exitCode: 2 });
  });
});
