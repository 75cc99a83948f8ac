import { createHash, randomFillSync } from 'node:crypto';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { StoredSpan } from '../store/index.js';
import { DROVER, GENAI } from './genai.js';
import { StoreSpanProcessor } from './store-processor.js';
import { traceIdForRun } from './traceparent.js';

/** The run's root span id: fixed, so every execution of a run hangs under one root. */
export function rootSpanIdForRun(runId: string): string {
  return createHash('sha256').update(`drover-root:${runId}`).digest('hex').slice(0, 16);
}

/** Trace id of the run for root spans; the next span id can be pinned (the run's root). */
class RunIdGenerator implements IdGenerator {
  pinnedSpanId: string | undefined;
  constructor(private readonly traceId: string) {}
  generateTraceId(): string {
    return this.traceId;
  }
  generateSpanId(): string {
    const pinned = this.pinnedSpanId;
    this.pinnedSpanId = undefined;
    return pinned ?? randomSpanId();
  }
}

/** Random span ids from a pooled buffer: one randomFill per 512 ids instead of work per span. */
const idPool = Buffer.alloc(4096);
let idOffset = idPool.length;
function randomSpanId(): string {
  if (idOffset >= idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString('hex', idOffset, idOffset + 8);
  idOffset += 8;
  return id === '0000000000000000' ? randomSpanId() : id;
}

let contextReady = false;
/** An AsyncLocalStorage context manager and the W3C propagator, unless the host app installed its own. */
function ensureGlobalContext(): void {
  if (contextReady) return;
  contextReady = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

export interface RunTracerOptions {
  runId: string;
  workflowName: string;
  /** When the run was created (ms): the root span starts there in every execution. */
  createdAt: number;
  execution: 'started' | 'resumed';
  /** Receives every ended span (drover hands them to the journal). */
  sink: (span: StoredSpan) => void;
  /** Also export over OTLP/HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT` or config). */
  exportEndpoint?: string;
}

const W3C = new W3CTraceContextPropagator();

const hrTime = (us: number): [number, number] => [Math.floor(us / 1_000_000), (us % 1_000_000) * 1000];

/** A recorded span in the SDK's ReadableSpan shape, for the OTLP exporter. */
function readableOf(s: StoredSpan, kind: SpanKind, resource: Resource, parent: ReturnType<typeof trace.getSpanContext>): ReadableSpan {
  return {
    name: s.name,
    kind,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
    ...(parent ? { parentSpanContext: parent } : {}),
    startTime: hrTime(s.startUs),
    endTime: hrTime(s.endUs),
    duration: hrTime(s.endUs - s.startUs),
    status: { code: s.statusCode, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
    attributes: s.attributes as Attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: 'drover' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * One trace per run: `invoke_workflow {name}` (a fixed root, re-emitted at the end of
 * each execution) → `phase {title}` → calls. The provider is the run's own, so drover
 * never touches a host application's global tracer provider.
 */
export class RunTracer {
  readonly traceId: string;
  readonly tracer: Tracer;
  private readonly provider: BasicTracerProvider;
  private readonly ids: RunIdGenerator;
  private readonly root: Span;
  readonly rootContext: Context;
  private readonly phases = new Map<string, { span: Span; context: Context; lastEnd: number }>();
  private readonly exportProcessor: BatchSpanProcessor | undefined;
  private readonly resource: Resource;
  private readonly resourceAttributes: StoredSpan['resource'];

  constructor(private readonly options: RunTracerOptions) {
    ensureGlobalContext();
    this.traceId = traceIdForRun(options.runId);
    this.ids = new RunIdGenerator(this.traceId);
    const processors: SpanProcessor[] = [new StoreSpanProcessor(options.sink)];
    if (options.exportEndpoint) {
      const url = options.exportEndpoint.endsWith('/v1/traces')
        ? options.exportEndpoint
        : `${options.exportEndpoint.replace(/\/$/, '')}/v1/traces`;
      this.exportProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url }));
      processors.push(this.exportProcessor);
    }
    this.resourceAttributes = { 'service.name': 'drover', [DROVER.runId]: options.runId };
    this.resource = resourceFromAttributes(this.resourceAttributes as Attributes);
    this.provider = new BasicTracerProvider({
      idGenerator: this.ids,
      resource: this.resource,
      spanProcessors: processors,
    });
    this.tracer = this.provider.getTracer('drover');
    this.ids.pinnedSpanId = rootSpanIdForRun(options.runId);
    this.root = this.tracer.startSpan(
      `invoke_workflow ${options.workflowName}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: options.createdAt,
        attributes: {
          [GENAI.operation]: 'invoke_workflow',
          [DROVER.workflow]: options.workflowName,
          [DROVER.runId]: options.runId,
          [DROVER.execution]: options.execution,
        },
      },
      ROOT_CONTEXT,
    );
    this.rootContext = trace.setSpan(ROOT_CONTEXT, this.root);
  }

  /** The context calls of a phase hang under (the root when there is no phase). */
  phaseContext(title: string | null): Context {
    if (title === null) return this.rootContext;
    let p = this.phases.get(title);
    if (!p) {
      const span = this.tracer.startSpan(
        `phase ${title}`,
        { attributes: { [DROVER.phase]: title, [DROVER.runId]: this.options.runId } },
        this.rootContext,
      );
      p = { span, context: trace.setSpan(this.rootContext, span), lastEnd: Date.now() };
      this.phases.set(title, p);
    }
    return p.context;
  }

  /** Marks a phase as active until now (its span ends at its last activity). */
  touchPhase(title: string | null, at = Date.now()): void {
    const p = title === null ? undefined : this.phases.get(title);
    if (p) p.lastEnd = Math.max(p.lastEnd, at);
  }

  /**
   * A finished span known only after the fact (a model request, a tool call an agent
   * reported), written straight to the sink — and the exporter — without a live SDK
   * span: a 1,000-agent run makes thousands of these.
   */
  recordFinished(
    name: string,
    parent: Context,
    attributes: Record<string, string | number | boolean>,
    timing: { startMs: number; endMs: number; kind?: SpanKind; error?: { code: string; message: string } | null; spanId?: string },
  ): void {
    const parentCtx = trace.getSpanContext(parent);
    const spanId = timing.spanId ?? this.ids.generateSpanId();
    const attrs = { [DROVER.runId]: this.options.runId, ...attributes, ...(timing.error ? { [GENAI.errorType]: timing.error.code } : {}) };
    const kind = timing.kind ?? SpanKind.INTERNAL;
    const stored: StoredSpan = {
      traceId: this.traceId,
      spanId,
      parentSpanId: parentCtx?.spanId ?? null,
      name,
      kind: kind + 1,
      startUs: Math.round(timing.startMs * 1000),
      endUs: Math.round(Math.max(timing.startMs, timing.endMs) * 1000),
      statusCode: timing.error ? 2 : 0,
      statusMessage: timing.error ? timing.error.message.slice(0, 500) : null,
      service: 'drover',
      scope: 'drover',
      attributes: attrs,
      resource: this.resourceAttributes,
      events: [],
      runId: this.options.runId,
    };
    this.options.sink(stored);
    this.exportProcessor?.onEnd(readableOf(stored, kind, this.resource, parentCtx));
  }

  /**
   * A span id and context for a call that is written when it ends (`recordFinished` with
   * this `spanId`): children and child processes can nest under it meanwhile.
   */
  reserve(parent: Context): { spanId: string; context: Context } {
    const spanId = this.ids.generateSpanId();
    return { spanId, context: trace.setSpanContext(parent, { traceId: this.traceId, spanId, traceFlags: 1 }) };
  }

  /** Ends a span, marking it failed when an error is given. */
  static end(span: Span, error?: { code: string; message: string } | null, endTime?: number): void {
    if (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message.slice(0, 500) });
      span.setAttribute(GENAI.errorType, error.code);
    }
    span.end(endTime);
  }

  /** TRACEPARENT / TRACESTATE for a child process whose spans should nest under `ctx` (env-carrier spec). */
  static childEnv(ctx: Context): Record<string, string> {
    const carrier: Record<string, string> = {};
    W3C.inject(ctx, carrier, {
      set: (c, k, v) => {
        c[k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')] = v;
      },
    });
    return carrier;
  }

  /** Ends the phases and the root (with the run's outcome) and flushes exporters. */
  async finish(outcome: { status: string; error?: { code: string; message: string } | null }): Promise<void> {
    const now = Date.now();
    for (const p of this.phases.values()) p.span.end(Math.min(now, Math.max(p.lastEnd, 0)));
    this.root.setAttribute('drover.run.status', outcome.status);
    RunTracer.end(this.root, outcome.error ?? null, now);
    await this.provider.forceFlush();
    await this.provider.shutdown();
  }
}
