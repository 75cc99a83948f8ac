import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { SpanStore } from '../store/index.js';
import { startOtlpReceiver } from './otlp/receiver.js';

export interface CollectOptions {
  spans: SpanStore;
  /** OTLP/HTTP port (default 4318; 0 picks one). */
  port?: number;
  /** OTLP/gRPC port (default 4317, or 0 when `port` is 0; 0 picks one; null: no gRPC). */
  grpcPort?: number | null;
  host?: string;
  /** Pass an inherited TRACEPARENT/TRACESTATE to the command (default: removed, so its traces start fresh). */
  inheritTraceparent?: boolean;
  /** Command and arguments to run with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver. */
  command?: string[];
  /** How long to keep listening for late spans after the command exits. */
  lingerMs?: number;
  /** Called once listening, with the OTLP/HTTP base URL and every endpoint listening. */
  onListening?: (url: string, endpoints: string[]) => void;
  signal?: AbortSignal;
}

export interface CollectResult {
  url: string;
  /** The endpoints that were listening, e.g. `http://127.0.0.1:4318/v1/traces (OTLP/HTTP)`. */
  endpoints: string[];
  exitCode: number | null;
  spans: number;
  refused: number;
  traceIds: string[];
}

/** The command's environment: the receiver's endpoint for the protocol its exporter uses, and no inherited trace context. */
export function commandEnv(base: NodeJS.ProcessEnv, rx: { url: string; grpcUrl?: string }, inheritTraceparent: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (!inheritTraceparent) for (const k of Object.keys(env)) if (/^(traceparent|tracestate)$/i.test(k)) delete env[k];
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim().toLowerCase();
  if (protocol === 'grpc' && rx.grpcUrl) {
    // A gRPC exporter takes the endpoint as is (no /v1/traces).
    env.OTEL_EXPORTER_OTLP_ENDPOINT = rx.grpcUrl;
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = rx.grpcUrl;
  } else {
    env.OTEL_EXPORTER_OTLP_ENDPOINT = rx.url;
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${rx.url}/v1/traces`;
  }
  return env;
}

/**
 * `drover trace collect`: OTLP/HTTP (4318) and OTLP/gRPC (4317) receivers on 127.0.0.1; with a
 * command, it runs the command with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver for its
 * protocol (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` → gRPC, else HTTP) and without an inherited
 * TRACEPARENT, waits `lingerMs` for late spans, drains uploads under way, and stops.
 * Without a command it serves until the signal aborts.
 */
export async function collectTraces(o: CollectOptions): Promise<CollectResult> {
  // An HTTP port of 0 (tests, parallel collectors) picks a free gRPC port too.
  const grpcPort = o.grpcPort === undefined ? (o.port === 0 ? 0 : 4317) : o.grpcPort;
  const rx = await startOtlpReceiver({
    spans: o.spans,
    port: o.port ?? 4318,
    ...(grpcPort === null ? {} : { grpcPort }),
    ...(o.host ? { host: o.host } : {}),
  });
  const endpoints = [`${rx.url}/v1/traces (OTLP/HTTP)`, ...(rx.grpcUrl ? [`${rx.grpcUrl} (OTLP/gRPC)`] : [])];
  o.onListening?.(rx.url, endpoints);
  let exitCode: number | null = null;
  try {
    if (o.command?.length) {
      const [cmd, ...args] = o.command as [string, ...string[]];
      exitCode = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(cmd, args, {
          stdio: 'inherit',
          env: commandEnv(process.env, rx, o.inheritTraceparent === true),
        });
        const onAbort = () => child.kill('SIGTERM');
        o.signal?.addEventListener('abort', onAbort, { once: true });
        child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
        child.on('close', (code, sig) => {
          o.signal?.removeEventListener('abort', onAbort);
          resolve(code ?? (sig ? 128 : null));
        });
      });
      await delay(o.lingerMs ?? 1000);
    } else if (o.signal) {
      await new Promise<void>((resolve) => {
        if (o.signal?.aborted) resolve();
        o.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  } finally {
    // Drains: an upload under way when the linger ends is read and stored, not cut.
    await rx.close();
  }
  const stats = rx.stats();
  return { url: rx.url, endpoints, exitCode, spans: stats.spans, refused: stats.refused, traceIds: stats.traceIds };
}
