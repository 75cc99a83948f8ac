import { type EncodedSpanRow, encodeSpanRow } from '../../store/index.js';
import { OtlpFormatError, spansFromOtlp } from './decode.js';
import { spansFromOtlpProtobuf } from './protobuf.js';

export interface DecodedBatch {
  rows: EncodedSpanRow[];
  traceIds: string[];
}

/** Decodes one OTLP request body into store rows. Throws OtlpFormatError on a bad body. Pure CPU: runs on ingest threads. */
export function decodeOtlpBody(raw: Uint8Array, protobuf: boolean): DecodedBatch {
  const spans = protobuf ? spansFromOtlpProtobuf(raw) : spansFromOtlp(parseJson(raw));
  const traceIds = new Set<string>();
  let lastResource: unknown = null;
  let resourceJson = '{}';
  const rows = spans.map((s) => {
    traceIds.add(s.traceId);
    if (s.resource !== lastResource) {
      lastResource = s.resource;
      resourceJson = JSON.stringify(s.resource);
    }
    return encodeSpanRow(s, resourceJson);
  });
  return { rows, traceIds: [...traceIds] };
}

function parseJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8'));
  } catch (err) {
    throw new OtlpFormatError(`body is not valid JSON: ${(err as Error).message}`);
  }
}
