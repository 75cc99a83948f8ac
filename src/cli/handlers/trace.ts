import { writeFileSync } from 'node:fs';
import { toGolden } from '../../assert/golden.js';
import { parseDuration } from '../../core/duration.js';
import { InputError } from '../../core/errors.js';
import { stringifyJson } from '../../core/json.js';
import { mightNeedRedaction, redactDeep } from '../../redact/index.js';
import type { StoredSpan } from '../../store/span-types.js';
import { duplicateSpanIds } from '../../store/sqlite/span-store.js';
import { spansToOtlpJson } from '../../telemetry/otlp/encode.js';
import { loadSpans, readOtlpFile, sourceOf } from '../../telemetry/trace-source.js';
import { renderWaterfall, treeJson } from '../../telemetry/waterfall.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

type Flags = GlobalFlags & Record<string, unknown>;

async function spansOf(ref: string, flags: Flags) {
  const { store } = openStore(flags, { readOnly: true });
  try {
    return await loadSpans(store, sourceOf(ref));
  } finally {
    await store.close();
  }
}

const ANOMALY_TEXT: Record<string, string> = {
  start_time_missing: 'without a start time (stored as 0)',
  end_time_missing: 'without an end time',
  end_before_start: 'with an end before the start (kept as sent)',
};

/**
 * Warns on stderr about what was stored as it came but is odd: different spans sharing one span id
 * (exact retries are already read once), and spans flagged with anomalies.
 */
function warnDuplicates(spans: StoredSpan[]): void {
  const flagged = new Map<string, number>();
  for (const s of spans) for (const a of s.anomalies ?? []) flagged.set(a, (flagged.get(a) ?? 0) + 1);
  for (const [a, n] of flagged)
    process.stderr.write(`${color.yellow(`warning: ${n} span${n === 1 ? '' : 's'} ${ANOMALY_TEXT[a] ?? a}`)}\n`);
  const dups = duplicateSpanIds(spans);
  if (dups.length === 0) return;
  const shown = dups.slice(0, 5).map((d) => `${d.spanId} (${d.copies} spans, trace ${d.traceId})`);
  process.stderr.write(
    `${color.yellow(`warning: ${dups.length} span id${dups.length === 1 ? ' is' : 's are'} used by more than one span: ${shown.join(', ')}${dups.length > 5 ? ', …' : ''}`)}\n`,
  );
}

export async function traceShow(ref: string, flags: Flags): Promise<number> {
  const spans = await spansOf(ref, flags);
  warnDuplicates(spans);
  if (flags.json) printJson(treeJson(spans));
  else process.stdout.write(`${renderWaterfall(spans, { color: process.stdout.isTTY === true && !process.env.NO_COLOR })}\n`);
  return EXIT.ok;
}

export async function traceExport(ref: string, flags: Flags): Promise<number> {
  if ((flags.format ?? 'otlp-json') !== 'otlp-json')
    throw new InputError(`--format: "${String(flags.format)}" is not supported (otlp-json)`);
  const spans = await spansOf(ref, flags);
  // Stored spans are redacted when written; a store written by an older drover may hold unredacted
  // ones: the export is checked as one text and walked only when it might hold a secret.
  const doc = spansToOtlpJson(spans);
  const safe = mightNeedRedaction(JSON.stringify(doc)) ? redactDeep(doc) : doc;
  process.stdout.write(`${JSON.stringify(safe, null, flags.pretty ? 2 : undefined)}\n`);
  return EXIT.ok;
}

export async function traceImport(file: string, flags: Flags): Promise<number> {
  const spans = readOtlpFile(file);
  warnDuplicates(spans);
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
  const grpcOff = flags.grpcPort === 'off' || flags.grpc === false;
  // `--port 0` (tests, parallel collectors) picks a free gRPC port too.
  const grpcPort = grpcOff ? null : flags.grpcPort === undefined ? (port === 0 ? 0 : 4317) : Number(flags.grpcPort);
  if (grpcPort !== null && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535))
    throw new InputError(`--grpc-port: "${String(flags.grpcPort)}" is not a port (or "off")`);
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
      grpcPort,
      ...(typeof flags.host === 'string' ? { host: flags.host } : {}),
      inheritTraceparent: flags.inheritTraceparent === true,
      command,
      lingerMs: flags.linger === undefined ? 1000 : parseDuration(String(flags.linger), '--linger'),
      signal: controller.signal,
      onListening: (_url, endpoints) => process.stderr.write(`${color.dim(`collecting OTLP traces on ${endpoints.join(' and ')}`)}\n`),
    });
    if (result.spans === 0)
      process.stderr.write(
        `${color.yellow(`no spans received${result.refused ? ` (${result.refused} request${result.refused === 1 ? '' : 's'} refused)` : ''}`)}; listening were ${result.endpoints.join(' and ')}. The command's exporter finds them through OTEL_EXPORTER_OTLP_ENDPOINT (the HTTP one; with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, the gRPC one).\n`,
      );
    if (flags.json)
      printJson({
        exitCode: result.exitCode,
        spans: result.spans,
        refused: result.refused,
        traceIds: result.traceIds,
        endpoints: result.endpoints,
      });
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
