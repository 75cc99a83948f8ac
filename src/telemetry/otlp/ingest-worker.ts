import { parentPort } from 'node:worker_threads';
import { OtlpFormatError } from './decode.js';
import { decodeOtlpBody } from './ingest.js';

/** One decode thread: turns OTLP bodies into store rows; the main thread only inserts them. */
parentPort?.on('message', (m: { id: number; raw: Uint8Array; protobuf: boolean }) => {
  try {
    parentPort?.postMessage({ id: m.id, ...decodeOtlpBody(m.raw, m.protobuf) });
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: (err as Error).message, format: err instanceof OtlpFormatError });
  }
});
