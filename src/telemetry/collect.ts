import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { SpanStore } from '../store/index.js';
import { startOtlpReceiver } from './otlp/receiver.js';

export interface CollectOptions {
  spans: SpanStore;
  port?: number;
  host?: string;
  /** Command and arguments to run with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver. */
  command?: string[];
  /** How long to keep listening for late spans after the command exits. */
  lingerMs?: number;
  onListening?: (url: string) => void;
  signal?: AbortSignal;
}

export interface CollectResult {
  url: string;
  exitCode: number | null;
  spans: number;
  refused: number;
  traceIds: string[];
}

/**
 * `drover trace collect`: an OTLP receiver on 127.0.0.1; with a command, it runs the
 * command with OTEL_EXPORTER_OTLP_ENDPOINT set, waits for late spans, and stops.
 * Without one it serves until the signal aborts.
 */
export async function collectTraces(o: CollectOptions): Promise<CollectResult> {
  const rx = await startOtlpReceiver({ spans: o.spans, port: o.port ?? 4318, ...(o.host ? { host: o.host } : {}) });
  o.onListening?.(rx.url);
  let exitCode: number | null = null;
  try {
    if (o.command?.length) {
      const [cmd, ...args] = o.command as [string, ...string[]];
      exitCode = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(cmd, args, {
          stdio: 'inherit',
          env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/v1/traces` },
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
    await rx.close();
  }
  const stats = rx.stats();
  return { url: rx.url, exitCode, spans: stats.spans, refused: stats.refused, traceIds: stats.traceIds };
}
