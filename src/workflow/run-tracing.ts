import type { PriceOverrides } from '../budget/prices.js';
/** @module A run's tracing for one execution: its tracer, what earlier executions left, and the OTLP receiver for its children. */
import type { RunRecord, RunSettings, Store } from '../store/index.js';
import { emptyHistory, type OtlpReceiver, RunTracer, readRunHistory, startOtlpReceiver, traceIdForRun } from '../telemetry/index.js';
import type { Journal } from './journal.js';
import { CallTracing } from './tracing.js';
import { contentCaptureOn } from './transcripts.js';

/** What `startTracing` reads of the drive options. */
export interface TracingOptions {
  tracing?: boolean;
  traceContent?: boolean;
  otlpEndpoint?: string;
  /** Price overrides (drover.config.json `prices`) for the cost on spans. */
  prices?: PriceOverrides;
}

/**
 * The OTLP protocol children of the run will export with: `grpc` when drover's environment says so
 * (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`), else HTTP.
 * Source: OpenTelemetry "OTLP Exporter Configuration" (values `grpc`, `http/protobuf`, `http/json`).
 */
export function childOtlpProtocol(env: NodeJS.ProcessEnv): 'grpc' | 'http' {
  const p = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim().toLowerCase();
  return p === 'grpc' ? 'grpc' : 'http';
}

/**
 * The endpoint variables a child gets for the run's receiver: the gRPC endpoint as is (a gRPC
 * exporter takes no path) when the children speak gRPC, else the OTLP/HTTP base URL and its traces URL.
 */
export function childOtlpEnv(receiver: { url: string; grpcUrl?: string }, protocol: 'grpc' | 'http'): Record<string, string> {
  if (protocol === 'grpc' && receiver.grpcUrl) {
    return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcUrl, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.grpcUrl };
  }
  return { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` };
}

/**
 * The run's trace for this execution: a tracer whose spans go to the journal (and to an OTLP
 * endpoint when one is configured), and an OTLP receiver on 127.0.0.1 — OTLP/HTTP, plus OTLP/gRPC
 * when the children export with gRPC — so processes the run starts can send their own spans into
 * the same trace, unless the user pointed them elsewhere. A resumed execution first reads what the
 * earlier ones left (journal and spans) and closes the spans a crash left open (run-history.ts);
 * those writes are durable before anything runs.
 */
export async function startTracing(
  store: Store,
  run: RunRecord,
  name: string,
  state: 'started' | 'resumed',
  journal: Journal,
  settings: RunSettings,
  options: TracingOptions,
): Promise<{ tracer?: RunTracer; receiver?: OtlpReceiver; calls: CallTracing }> {
  const env = process.env;
  const on = options.tracing ?? !['0', 'false', 'off'].includes((env.DROVER_TRACING ?? '').toLowerCase());
  const captureContent = contentCaptureOn(options.traceContent, env);
  if (!on) return { calls: new CallTracing(undefined, { childOtlpEnv: {}, captureContent: false }) };
  const userEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined;
  const exportEndpoint = options.otlpEndpoint ?? userEndpoint;
  const protocol = childOtlpProtocol(env);
  // Children keep an endpoint the user gave them; otherwise they send to the run's own receiver.
  const receiver = userEndpoint
    ? undefined
    : await startOtlpReceiver({ spans: store.spans, decodeThreads: 0, ...(protocol === 'grpc' ? { grpcPort: 0 } : {}) });
  const history =
    state === 'resumed'
      ? readRunHistory({
          runId: run.id,
          workflowName: name,
          createdAt: run.createdAt,
          calls: await store.listCalls(run.id),
          spans: await store.spans.querySpans({ traceId: traceIdForRun(run.id) }),
        })
      : emptyHistory();
  const tracer = new RunTracer({
    runId: run.id,
    workflowName: name,
    createdAt: run.createdAt,
    history,
    sink: (span, replace) => journal.addSpan(span, replace),
    ...(exportEndpoint ? { exportEndpoint } : {}),
  });
  try {
    await journal.flush();
  } catch (err) {
    await receiver?.close();
    throw err;
  }
  const calls = new CallTracing(tracer, {
    childOtlpEnv: receiver ? childOtlpEnv(receiver, protocol) : {},
    captureContent,
    ...(settings.provider ? { provider: settings.provider } : {}),
    ...(options.prices ? { prices: options.prices } : {}),
  });
  return { tracer, calls, ...(receiver ? { receiver } : {}) };
}
