import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { BodyError, closeServer, listen, readBody } from '../../net/index.js';
import type { SpanStore } from '../../store/index.js';
import { OtlpFormatError } from './decode.js';
import { type DecodedBatch, decodeOtlpBody } from './ingest.js';
import { DecodePool } from './ingest-pool.js';

export const DEFAULT_MAX_OTLP_BYTES = 16 * 1024 * 1024;

export interface OtlpReceiverOptions {
  spans: SpanStore;
  port?: number;
  host?: string;
  maxBodyBytes?: number;
  /** Decode bodies on this many threads (0: inline). Default: one per core, at most 2. */
  decodeThreads?: number;
  /** Called after each accepted batch (after it is stored). */
  onBatch?: (batch: { count: number; traceIds: string[] }) => void;
}

export interface OtlpReceiver {
  url: string;
  port: number;
  stats(): { requests: number; spans: number; refused: number; traceIds: string[] };
  close(): Promise<void>;
}

/**
 * OTLP/HTTP trace receiver: `POST /v1/traces` with `application/json` or
 * `application/x-protobuf` (gzip allowed), written straight into the span store.
 * A malformed body gets 400 naming what is wrong; a body over the limit 413.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions): Promise<OtlpReceiver> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_OTLP_BYTES;
  const counts = { requests: 0, spans: 0, refused: 0 };
  const traceIds = new Set<string>();
  const threads = options.decodeThreads ?? Math.min(2, availableParallelism());
  const workerFile = threads > 0 ? DecodePool.workerFile() : null;
  const pool = workerFile ? new DecodePool(threads, workerFile) : null;
  const decode = async (raw: Uint8Array, protobuf: boolean): Promise<DecodedBatch> =>
    pool ? pool.decode(raw, protobuf) : decodeOtlpBody(raw, protobuf);

  const refuse = (res: ServerResponse, status: number, message: string) => {
    counts.refused++;
    const body = JSON.stringify({ code: status === 400 ? 3 : status, message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/v1/traces') return refuse(res, 404, `no route ${req.method} ${path}; OTLP traces go to POST /v1/traces`);
    if (req.method !== 'POST') return refuse(res, 405, 'use POST');
    counts.requests++;
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const protobuf = type === 'application/x-protobuf' || type === 'application/protobuf';
    if (!protobuf && type !== 'application/json') {
      return refuse(res, 415, `content-type ${type || '(none)'}: send application/json or application/x-protobuf`);
    }
    let batch: DecodedBatch;
    try {
      batch = await decode(await readBody(req, limit), protobuf);
    } catch (err) {
      if (err instanceof BodyError) return refuse(res, err.status, err.message);
      if (err instanceof OtlpFormatError) return refuse(res, 400, err.message);
      throw err;
    }
    const count = await options.spans.insertEncodedSpans(batch.rows);
    counts.spans += count;
    for (const t of batch.traceIds) traceIds.add(t);
    options.onBatch?.({ count, traceIds: batch.traceIds });
    if (protobuf) {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) refuse(res, 500, `receiver failure: ${(err as Error).message}`);
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  return {
    url: `http://${host}:${port}`,
    port,
    stats: () => ({ ...counts, traceIds: [...traceIds] }),
    close: async () => {
      await closeServer(server);
      await pool?.close();
    },
  };
}
