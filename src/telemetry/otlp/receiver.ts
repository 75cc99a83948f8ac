import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { BodyError, listen, originGuard, readBody } from '../../net/index.js';
import type { SpanStore } from '../../store/index.js';
import { OtlpFormatError } from './errors.js';
import type { GrpcTraceServer } from './grpc.js';
import { type DecodedBatch, decodeOtlpBody } from './ingest.js';
import { DecodePool } from './ingest-pool.js';

export const DEFAULT_MAX_OTLP_BYTES = 16 * 1024 * 1024;

export interface OtlpReceiverOptions {
  spans: SpanStore;
  port?: number;
  /** Address both receivers bind (default 127.0.0.1: loopback only). */
  host?: string;
  maxBodyBytes?: number;
  /** Decode bodies on this many threads (0: inline). Default: one per core, at most 2. */
  decodeThreads?: number;
  /** Called after each accepted batch (after it is stored). */
  onBatch?: (batch: { count: number; traceIds: string[] }) => void;
  /** Called when a request (HTTP or gRPC) starts, before its body is read. */
  onRequest?: () => void;
  /** Also serve OTLP/gRPC (TraceService/Export) on this port (0 picks one; 4317 by convention). */
  grpcPort?: number;
  /** How long `close()` waits for requests under way before cutting them (default 10 s). */
  drainMs?: number;
}

export interface OtlpReceiver {
  /** The OTLP/HTTP base URL (`http://127.0.0.1:4318`); traces go to `${url}/v1/traces`. */
  url: string;
  port: number;
  /** The OTLP/gRPC endpoint (`http://127.0.0.1:4317`) when gRPC is served. */
  grpcUrl?: string;
  grpcPort?: number;
  stats(): { requests: number; spans: number; refused: number; traceIds: string[]; inFlight: number };
  /** Stops taking requests, waits for those under way to be read and stored (drain), then closes. */
  close(): Promise<void>;
}

/**
 * OTLP/HTTP trace receiver: `POST /v1/traces` with `application/json` or
 * `application/x-protobuf` (gzip allowed), written straight into the span store; with
 * `grpcPort`, OTLP/gRPC beside it, on the same address (127.0.0.1 unless `host` says otherwise).
 * A request whose Host is not this server, or that comes from a foreign Origin (a web page), gets
 * 403 and stores nothing (src/net/origin.ts). A malformed body gets 400 (gRPC INVALID_ARGUMENT)
 * naming what is wrong and where; a body over the limit 413. `close()` drains requests under way.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions): Promise<OtlpReceiver> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_OTLP_BYTES;
  const counts = { requests: 0, spans: 0, refused: 0, inFlight: 0 };
  let closing = false;
  let drained: (() => void) | null = null;
  const settle = () => {
    counts.inFlight--;
    if (closing && counts.inFlight === 0) drained?.();
  };
  const store = async (batch: DecodedBatch): Promise<number> => {
    const count = await options.spans.insertEncodedSpans(batch.rows);
    counts.spans += count;
    for (const t of batch.traceIds) traceIds.add(t);
    options.onBatch?.({ count, traceIds: batch.traceIds });
    return count;
  };
  const traceIds = new Set<string>();
  const threads = options.decodeThreads ?? Math.min(2, availableParallelism());
  const workerFile = threads > 0 ? DecodePool.workerFile() : null;
  const pool = workerFile ? new DecodePool(threads, workerFile) : null;
  const decode = async (raw: Uint8Array, protobuf: boolean): Promise<DecodedBatch> =>
    pool ? pool.decode(raw, protobuf) : decodeOtlpBody(raw, protobuf);

  const refuse = (res: ServerResponse, status: number, message: string) => {
    counts.refused++;
    const body = JSON.stringify({ code: status === 400 ? 3 : status, message });
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      // A body over the limit is not read further: the connection closes once the answer is out.
      ...(closing || status === 413 ? { connection: 'close' } : {}),
    });
    res.end(body);
  };

  // Like every local server of drover's: a web page open on the machine must not write spans into
  // the store (a "simple" text/plain POST needs no preflight), nor reach it through a rebound DNS name.
  let guard: (req: IncomingMessage) => string | null = () => 'the receiver is starting';
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = guard(req);
    if (refusal) return refuse(res, 403, `OTLP receiver: ${refusal}`);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/v1/traces') return refuse(res, 404, `no route ${req.method} ${path}; OTLP traces go to POST /v1/traces`);
    if (req.method !== 'POST') return refuse(res, 405, 'use POST');
    counts.requests++;
    options.onRequest?.();
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
    await store(batch);
    const close = closing ? { connection: 'close' } : {};
    if (protobuf) {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0, ...close });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2, ...close });
      res.end('{}');
    }
  }

  const server = createServer((req, res) => {
    counts.inFlight++;
    handle(req, res)
      .catch((err) => {
        if (!res.headersSent) refuse(res, 500, `receiver failure: ${(err as Error).message}`);
        else res.destroy();
      })
      .finally(settle);
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  guard = originGuard(host, port);
  let grpc: GrpcTraceServer | undefined;
  if (options.grpcPort !== undefined) {
    try {
      // Loaded only when gRPC is served: @grpc/grpc-js costs every other command its start-up time.
      const { startGrpcTraceServer } = await import('./grpc.js');
      grpc = await startGrpcTraceServer({
        port: options.grpcPort,
        host,
        maxBodyBytes: limit,
        ingest: async (raw) => {
          counts.requests++;
          counts.inFlight++;
          try {
            options.onRequest?.();
            await store(await decode(raw, true));
          } finally {
            settle();
          }
        },
        onRefused: () => {
          counts.refused++;
        },
      });
    } catch (err) {
      server.close();
      server.closeAllConnections();
      await pool?.close();
      throw new Error(`cannot serve OTLP/gRPC on ${host}:${options.grpcPort}: ${(err as Error).message}`);
    }
  }
  const drainMs = options.drainMs ?? 10_000;
  return {
    url: `http://${host}:${port}`,
    port,
    ...(grpc ? { grpcUrl: `http://${host}:${grpc.port}`, grpcPort: grpc.port } : {}),
    stats: () => ({ ...counts, traceIds: [...traceIds] }),
    close: async () => {
      closing = true;
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grpcClosed = grpc?.close(drainMs);
      if (counts.inFlight > 0) {
        const timer = setTimeout(() => drained?.(), drainMs);
        await new Promise<void>((resolve) => {
          drained = resolve;
        });
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await httpClosed;
      await grpcClosed;
      await pool?.close();
    },
  };
}
