import { InputError, parseDuration, readInputFile } from '../core/index.js';
import type { Store, StoredSpan } from '../store/index.js';
import { OtlpFormatError, spansFromOtlp } from './otlp/decode.js';

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

export function readOtlpFile(file: string): StoredSpan[] {
  const text = readInputFile(file, 'OTLP file', (m) => new InputError(m));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  try {
    return spansFromOtlp(body);
  } catch (err) {
    if (err instanceof OtlpFormatError) throw new InputError(`${file}: ${err.message}`);
    throw err;
  }
}

export function parseSince(since: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(since.trim())) return (now - parseDuration(since, '--since')) * 1000;
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new InputError(`--since: "${since}" is neither a duration (10m, 2h) nor a time (2026-11-22T08:00:00Z)`);
  return t * 1000;
}

/** The spans one of --run, --trace, --file or --since names. */
export async function loadSpans(store: Store | undefined, source: SpanSource): Promise<StoredSpan[]> {
  const given = [source.run, source.trace?.length ? source.trace : undefined, source.file, source.since].filter((x) => x !== undefined);
  if (given.length !== 1)
    throw new InputError('say which spans: exactly one of --run <id>, --trace <id>, --file <otlp.json>, --since <10m|time>');
  if (source.file) return readOtlpFile(source.file);
  if (!store) throw new InputError('no store to read spans from');
  if (source.run) return store.spans.querySpans({ runId: source.run });
  if (source.trace?.length) return (await Promise.all(source.trace.map((t) => store.spans.querySpans({ traceId: t })))).flat();
  return store.spans.querySpans({ sinceUs: parseSince(source.since as string) });
}
