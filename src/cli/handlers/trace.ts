import { writeFileSync } from 'node:fs';
import { toGolden } from '../../assert/golden.js';
import { parseDuration } from '../../core/duration.js';
import { InputError, NotFoundError } from '../../core/errors.js';
import { stringifyJson } from '../../core/json.js';
import { spansToOtlpJson } from '../../telemetry/otlp/encode.js';
import { loadSpans, readOtlpFile, sourceOf } from '../../telemetry/trace-source.js';
import { renderWaterfall, treeJson } from '../../telemetry/waterfall.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

type Flags = GlobalFlags & Record<string, unknown>;

async function spansOf(ref: string, flags: Flags) {
  const { store } = openStore(flags, { mustExist: true });
  try {
    const spans = await loadSpans(store, sourceOf(ref));
    if (spans.length === 0) throw new NotFoundError(`spans of ${ref} (no run or trace with that id in ${store.location})`);
    return spans;
  } finally {
    await store.close();
  }
}

export async function traceShow(ref: string, flags: Flags): Promise<number> {
  const spans = await spansOf(ref, flags);
  if (flags.json) printJson(treeJson(spans));
  else process.stdout.write(`${renderWaterfall(spans, { color: process.stdout.isTTY === true && !process.env.NO_COLOR })}\n`);
  return EXIT.ok;
}

export async function traceExport(ref: string, flags: Flags): Promise<number> {
  if ((flags.format ?? 'otlp-json') !== 'otlp-json')
    throw new InputError(`--format: "${String(flags.format)}" is not supported (otlp-json)`);
  const spans = await spansOf(ref, flags);
  process.stdout.write(`${JSON.stringify(spansToOtlpJson(spans), null, flags.pretty ? 2 : undefined)}\n`);
  return EXIT.ok;
}

export async function traceImport(file: string, flags: Flags): Promise<number> {
  const spans = readOtlpFile(file);
  const { store } = openStore(flags);
  try {
    await store.spans.insertSpans(spans);
  } finally {
    await store.close();
  }
  const traces = [...new Set(spans.map((s) => s.traceId))];
  if (flags.json) printJson({ spans: spans.length, traces });
  else
    process.stdout.write(
      `imported ${spans.length} spans in ${traces.length} trace${traces.length === 1 ? '' : 's'}: ${traces.join(', ')}\n`,
    );
  return EXIT.ok;
}

export async function traceGc(flags: Flags): Promise<number> {
  if (typeof flags.olderThan !== 'string') throw new InputError('--older-than <duration> is required (e.g. 30d)');
  const cutoffUs = (Date.now() - parseDuration(flags.olderThan, '--older-than')) * 1000;
  const { store } = openStore(flags, { mustExist: true });
  try {
    const deleted = await store.spans.deleteSpansBefore(cutoffUs);
    if (flags.json) printJson({ deleted });
    else process.stdout.write(`deleted ${deleted} spans that ended more than ${flags.olderThan} ago\n`);
  } finally {
    await store.close();
  }
  return EXIT.ok;
}

export async function traceGoldenSave(ref: string, file: string, flags: Flags): Promise<number> {
  const golden = toGolden(await spansOf(ref, flags));
  writeFileSync(file, `${stringifyJson(golden, 2)}\n`);
  if (flags.json) printJson({ file, roots: golden.roots.length });
  else process.stdout.write(`saved the structure of ${ref} to ${file}\n`);
  return EXIT.ok;
}

export async function traceCollect(command: string[], flags: Flags): Promise<number> {
  const port = flags.port === undefined ? 4318 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError(`--port: "${String(flags.port)}" is not a port`);
  const { store } = openStore(flags);
  const { collectTraces } = await import('../../telemetry/collect.js');
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await collectTraces({
      spans: store.spans,
      port,
      ...(typeof flags.host === 'string' ? { host: flags.host } : {}),
      command,
      lingerMs: flags.linger === undefined ? 1000 : parseDuration(String(flags.linger), '--linger'),
      signal: controller.signal,
      onListening: (url) => process.stderr.write(`${color.dim(`collecting OTLP traces on ${url}/v1/traces`)}\n`),
    });
    if (flags.json) printJson({ exitCode: result.exitCode, spans: result.spans, refused: result.refused, traceIds: result.traceIds });
    else {
      process.stdout.write(`${result.spans} spans in ${result.traceIds.length} trace${result.traceIds.length === 1 ? '' : 's'}\n`);
      for (const t of result.traceIds) process.stdout.write(`${t}\n`);
    }
    return command.length ? (result.exitCode ?? EXIT.failed) : EXIT.ok;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await store.close();
  }
}
