import { DroverError } from '../../core/index.js';
import type { StoredSpan } from '../../store/span-types.js';
import { fromKeyValues, type KeyValueLike } from './any-value.js';

/** A malformed OTLP payload: the receiver answers 400 with this message. */
export class OtlpFormatError extends DroverError {
  constructor(message: string) {
    super('OTLP_FORMAT', message, { exitCode: 2 });
  }
}

type Id = string | Uint8Array | unknown[] | null | undefined;
type Time = string | number | { toNumber(): number } | null | undefined;

const HEX = /^[0-9a-f]+$/;

function idOf(value: Id, bytes: number, where: string, optional: boolean): string | null {
  // protobufjs leaves an absent bytes field as an empty array.
  if (
    value === undefined ||
    value === null ||
    value === '' ||
    ((value instanceof Uint8Array || Array.isArray(value)) && value.length === 0)
  ) {
    if (optional) return null;
    throw new OtlpFormatError(`${where}: missing`);
  }
  let hex: string;
  if (typeof value === 'string') {
    hex = value.toLowerCase();
    // OTLP/JSON says hex; some encoders send protobuf-JSON base64. Accept both.
    if (hex.length !== bytes * 2 || !HEX.test(hex)) {
      const decoded = Buffer.from(value, 'base64');
      if (decoded.length === bytes && /^[A-Za-z0-9+/]+=*$/.test(value)) hex = decoded.toString('hex');
      else throw new OtlpFormatError(`${where}: must be ${bytes * 2} hex characters, got ${JSON.stringify(value.slice(0, 40))}`);
    }
  } else if (value instanceof Uint8Array) {
    if (value.length !== bytes) throw new OtlpFormatError(`${where}: must be ${bytes} bytes, got ${value.length}`);
    hex = Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
  } else {
    throw new OtlpFormatError(`${where}: must be a hex string`);
  }
  if (/^0+$/.test(hex)) {
    if (optional) return null;
    throw new OtlpFormatError(`${where}: must not be all zeros`);
  }
  return hex;
}

/** Nanoseconds (decimal string, number, or a protobuf Long) to microseconds. */
function microsOf(value: Time, where: string): number {
  if (typeof value === 'string') {
    if (!/^\d+$/.test(value))
      throw new OtlpFormatError(`${where}: must be a decimal count of nanoseconds, got ${JSON.stringify(value.slice(0, 30))}`);
    return value.length > 3 ? Number(value.slice(0, -3)) : 0;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new OtlpFormatError(`${where}: must be a non-negative number of nanoseconds`);
    return Math.floor(value / 1000);
  }
  if (value && typeof value === 'object' && typeof value.toNumber === 'function') return Math.floor(value.toNumber() / 1000);
  throw new OtlpFormatError(`${where}: missing`);
}

function arrayAt(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new OtlpFormatError(`${where}: must be an array`);
  return value;
}

interface SpanLike {
  traceId?: Id;
  spanId?: Id;
  parentSpanId?: Id;
  name?: unknown;
  kind?: unknown;
  startTimeUnixNano?: Time;
  endTimeUnixNano?: Time;
  attributes?: KeyValueLike[];
  events?: { timeUnixNano?: Time; name?: string; attributes?: KeyValueLike[] }[];
  status?: { code?: unknown; message?: string | null } | null;
}

/**
 * Turns an ExportTraceServiceRequest (OTLP/JSON, or protobuf decoded to the same
 * camelCase shape) into stored spans, checking what a span cannot do without.
 * Unknown fields are ignored, as receivers must.
 */
export function spansFromOtlp(body: unknown): StoredSpan[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new OtlpFormatError('body: must be an object with resourceSpans');
  const out: StoredSpan[] = [];
  const resourceSpans = arrayAt((body as { resourceSpans?: unknown }).resourceSpans, 'resourceSpans');
  resourceSpans.forEach((rs, ri) => {
    const r = (rs ?? {}) as { resource?: { attributes?: KeyValueLike[] } | null; scopeSpans?: unknown };
    const resource = fromKeyValues(r.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : null;
    const resourceRun = typeof resource['drover.run.id'] === 'string' ? resource['drover.run.id'] : null;
    arrayAt(r.scopeSpans, `resourceSpans[${ri}].scopeSpans`).forEach((ss, si) => {
      const s = (ss ?? {}) as { scope?: { name?: string | null } | null; spans?: unknown };
      const scope = s.scope?.name || null;
      arrayAt(s.spans, `resourceSpans[${ri}].scopeSpans[${si}].spans`).forEach((sp, pi) => {
        const where = `resourceSpans[${ri}].scopeSpans[${si}].spans[${pi}]`;
        if (!sp || typeof sp !== 'object') throw new OtlpFormatError(`${where}: must be an object`);
        const span = sp as SpanLike;
        if (typeof span.name !== 'string') throw new OtlpFormatError(`${where}.name: must be a string`);
        const kind = span.kind === undefined || span.kind === null ? 0 : Number(span.kind);
        if (!Number.isInteger(kind) || kind < 0 || kind > 5)
          throw new OtlpFormatError(`${where}.kind: must be 0..5, got ${String(span.kind)}`);
        const attributes = fromKeyValues(span.attributes);
        const code = span.status?.code === undefined || span.status?.code === null ? 0 : Number(span.status.code);
        if (!Number.isInteger(code) || code < 0 || code > 2) throw new OtlpFormatError(`${where}.status.code: must be 0..2`);
        const startUs = microsOf(span.startTimeUnixNano, `${where}.startTimeUnixNano`);
        const endUs = microsOf(span.endTimeUnixNano, `${where}.endTimeUnixNano`);
        const runAttr = attributes['drover.run.id'];
        out.push({
          traceId: idOf(span.traceId, 16, `${where}.traceId`, false) as string,
          spanId: idOf(span.spanId, 8, `${where}.spanId`, false) as string,
          parentSpanId: idOf(span.parentSpanId, 8, `${where}.parentSpanId`, true),
          name: span.name,
          kind,
          startUs,
          endUs: Math.max(endUs, startUs),
          statusCode: code,
          statusMessage: span.status?.message || null,
          service,
          scope,
          attributes,
          resource,
          events: (span.events ?? []).map((e, ei) => ({
            timeUs: microsOf(e.timeUnixNano ?? '0', `${where}.events[${ei}].timeUnixNano`),
            name: e.name ?? '',
            attributes: fromKeyValues(e.attributes),
          })),
          runId: typeof runAttr === 'string' ? runAttr : resourceRun,
        });
      });
    });
  });
  return out;
}
