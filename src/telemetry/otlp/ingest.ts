import { type EncodedSpanRow, encodeSpanRows, type StoredSpan } from '../../store/index.js';
import { OtlpFormatError, parseOtlpJson, spansFromOtlp } from './decode.js';
import { spansFromOtlpProtobuf } from './protobuf.js';

export interface DecodedBatch {
  rows: EncodedSpanRow[];
  traceIds: string[];
}

/** Decodes one OTLP request body into store rows. Throws OtlpFormatError on a bad body. Pure CPU: runs on ingest threads. */
export function decodeOtlpBody(raw: Uint8Array, protobuf: boolean): DecodedBatch {
  let spans: StoredSpan[];
  try {
    spans = protobuf ? spansFromOtlpProtobuf(raw) : spansFromOtlp(parseJson(raw));
  } catch (err) {
    // The decoders name each malformed place; a shape they did not foresee is still the body's fault.
    if (err instanceof TypeError || err instanceof RangeError) throw new OtlpFormatError(`body is malformed: ${err.message}`);
    throw err;
  }
  return { rows: encodeSpanRows(spans), traceIds: [...new Set(spans.map((s) => s.traceId))] };
}

function parseJson(raw: Uint8Array): unknown {
  try {
    return parseOtlpJson(Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8'));
  } catch (err) {
    throw new OtlpFormatError(`body is not valid JSON: ${(err as Error).message}`);
  }
}
