import { writeFileSync } from 'node:fs';
import { diffGolden, evaluateSpec, loadGolden, loadSpec, type SpecResult, toGolden, toJUnit } from '../../assert/index.js';
import { DroverError, InputError, InternalError } from '../../core/errors.js';
import { loadSpans, type SpanSource } from '../../telemetry/trace-source.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

type Flags = GlobalFlags & { run?: string; trace?: string[]; file?: string; since?: string; junit?: string; golden?: string };

/**
 * `drover assert [spec.yaml] [--golden g.json] --run|--trace|--file|--since`: exit 1 on a failed
 * assertion, 2 on a spec error, 70 (`InternalError`) on a bug in drover — never 1, which a CI gate
 * would read as "an assertion failed".
 */
export async function assertCommand(specFile: string | undefined, flags: Flags): Promise<number> {
  try {
    return await assertChecked(specFile, flags);
  } catch (err) {
    if (err instanceof DroverError) throw err;
    throw new InternalError(
      `drover assert failed inside drover, not on an assertion: ${err instanceof Error ? err.message : String(err)}`,
      err,
    );
  }
}

async function assertChecked(specFile: string | undefined, flags: Flags): Promise<number> {
  if (!specFile && !flags.golden) throw new InputError('give a spec file, --golden <file>, or both');
  const spec = specFile ? loadSpec(specFile) : undefined;
  const golden = flags.golden ? loadGolden(flags.golden) : undefined;
  const source: SpanSource = {
    ...(flags.run ? { run: flags.run } : {}),
    ...(flags.trace?.length ? { trace: flags.trace.map((t) => t.toLowerCase()) } : {}),
    ...(flags.file ? { file: flags.file } : {}),
    ...(flags.since ? { since: flags.since } : {}),
  };
  const { store } = flags.file ? { store: undefined } : openStore(flags, { readOnly: true });
  let spans: Awaited<ReturnType<typeof loadSpans>>;
  try {
    spans = await loadSpans(store, source);
  } finally {
    await store?.close();
  }
  const result: SpecResult = spec
    ? evaluateSpec(spec, spans)
    : { spec: 'golden', passed: true, spans: spans.length, traces: new Set(spans.map((s) => s.traceId)).size, results: [], durationMs: 0 };
  const goldenDiff = golden ? diffGolden(golden, toGolden(spans)) : [];
  const extra = golden ? [{ name: `golden ${flags.golden}`, failures: goldenDiff }] : [];
  const passed = result.passed && goldenDiff.length === 0;
  if (flags.junit) writeFileSync(flags.junit, toJUnit(result, extra));
  if (flags.json) printJson({ ...result, passed, ...(golden ? { golden: { file: flags.golden, diff: goldenDiff } } : {}) });
  else {
    const out: string[] = [color.dim(`${result.spans} spans in ${result.traces} trace${result.traces === 1 ? '' : 's'}`)];
    for (const r of result.results) {
      out.push(`${r.passed ? color.green('✓') : color.red('✗')} ${r.name} ${color.dim(`(${r.selected} selected)`)}`);
      for (const f of r.failures) out.push(`    ${color.red(f)}  ${color.dim(r.where)}`);
    }
    if (golden) {
      out.push(`${goldenDiff.length === 0 ? color.green('✓') : color.red('✗')} matches golden ${flags.golden}`);
      for (const d of goldenDiff) out.push(`    ${d.startsWith('-') ? color.red(d) : d.startsWith('+') ? color.yellow(d) : d}`);
    }
    const failed = result.results.filter((r) => !r.passed).length + (goldenDiff.length ? 1 : 0);
    out.push(passed ? color.green('all assertions passed') : color.red(`${failed} failed`));
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return passed ? EXIT.ok : EXIT.failed;
}
