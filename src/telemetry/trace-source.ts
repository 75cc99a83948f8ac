import { InputError, NotFoundError, parseDuration, readInputFile } from '../core/index.js';
import { collapseRetries, encodeSpanRow, type Store, type StoredSpan } from '../store/index.js';
import { OtlpFormatError, parseOtlpJson, spansFromOtlp } from './otlp/decode.js';

export interface SpanSource {
  run?: string;
  trace?: string[];
  file?: string;
  /** `10m` (ago) or an ISO time. */
  since?: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;

/** `<runId|traceId>` as users type it. */
export function sourceOf(ref: string): SpanSource {
  return TRACE_ID.test(ref.toLowerCase()) ? { trace: [ref.toLowerCase()] } : { run: ref };
}

/**
 * Spans of an OTLP/JSON file: one ExportTraceServiceRequest (`trace export`'s output), or JSON
 * Lines — one request per line, as the Collector's file exporter and OTelBench write. Field
 * names in camelCase or snake_case, and the old `instrumentationLibrarySpans`, are read. Exact
 * copies of a span (a retry the file recorded) are read once, as the store does.
 * @throws InputError (exit 2) naming the file, line and place: unreadable, not JSON, not OTLP,
 *   or no span at all (a gate must never pass on a file it could not read).
 */
export function readOtlpFile(file: string): StoredSpan[] {
  const text = readInputFile(file, 'OTLP file', (m) => new InputError(m));
  let bodies: { body: unknown; where: string }[];
  try {
    bodies = [{ body: parseOtlpJson(text), where: file }];
  } catch (err) {
    const lines = text.split('\n');
    if (lines.filter((l) => l.trim()).length < 2) throw new InputError(`${file}: not valid JSON (${(err as Error).message})`);
    bodies = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        bodies.push({ body: parseOtlpJson(line), where: `${file}:${i + 1}` });
      } catch (lineErr) {
        throw new InputError(
          `${file}:${i + 1}: not valid JSON (${(lineErr as Error).message}); a file is one OTLP/JSON request, or JSON Lines with one request per line`,
        );
      }
    });
  }
  const spans: StoredSpan[] = [];
  for (const { body, where } of bodies) {
    try {
      for (const s of spansFromOtlp(body)) spans.push(s);
    } catch (err) {
      if (err instanceof OtlpFormatError) throw new InputError(`${where}: ${err.message}`);
      // As the receivers do (decodeOtlpBody): a shape the decoder did not foresee — a value nested so
      // deep it overflows the stack, say — is still the file's fault.
      if (err instanceof TypeError || err instanceof RangeError) throw new InputError(`${where}: body is malformed: ${err.message}`);
      throw err;
    }
  }
  if (spans.length === 0) throw new InputError(`${file}: no spans in it (an OTLP/JSON ExportTraceServiceRequest, or JSON Lines of them)`);
  return collapseRetries(
    spans,
    (s) => `${s.traceId}/${s.spanId}`,
    (s) => JSON.stringify(encodeSpanRow(s).slice(3)),
  );
}

export function parseSince(since: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(since.trim())) return (now - parseDuration(since, '--since')) * 1000;
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new InputError(`--since: "${since}" is neither a duration (10m, 2h) nor a time (2026-11-22T08:00:00Z)`);
  return t * 1000;
}

/**
 * The spans one of --run, --trace, --file or --since names.
 * @throws NotFoundError (exit 2) when a named run or trace has no spans; InputError for bad sources
 */
export async function loadSpans(store: Store | undefined, source: SpanSource): Promise<StoredSpan[]> {
  const given = [source.run, source.trace?.length ? source.trace : undefined, source.file, source.since].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new InputError('say which spans: exactly one of --run <id>, --trace <id>, --file <otlp.json>, --since <10m|time>');
  if (source.file) return readOtlpFile(source.file);
  if (!store) throw new InputError('no store to read spans from');
  // A run or trace that has no spans is a name nothing answers to: refused, never judged on no data.
  const named = async (ref: string, query: Promise<StoredSpan[]>) => {
    const spans = await query;
    if (spans.length === 0) throw new NotFoundError(`spans of ${ref} (no run or trace with that id in ${store.location})`);
    return spans;
  };
  if (source.run) return named(source.run, store.spans.querySpans({ runId: source.run }));
  if (source.trace?.length) return (await Promise.all(source.trace.map((t) => named(t, store.spans.querySpans({ traceId: t }))))).flat();
  return store.spans.querySpans({ sinceUs: parseSince(source.since as string) });
}
