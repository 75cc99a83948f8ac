import { randomFillSync } from 'node:crypto';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { redactDeep, redactSecrets } from '../redact/index.js';
import type { SpanEvent, StoredSpan } from '../store/index.js';
import { DROVER, GENAI } from './genai.js';
import { EXECUTION, type RunTraceHistory } from './run-history.js';
import { callSpanIdForRun, executionSpanIdForRun, phaseSpanIdForRun, rootSpanIdForRun } from './run-span-ids.js';

/** When a span ran (ms since the epoch) and what else it carries; the span id when it is derived. */
interface SpanTiming {
  startMs: number;
  endMs: number;
  kind?: SpanKind;
  error?: { code: string; message: string } | null;
  spanId?: string;
  /** Span events (policy audit records...). */
  events?: SpanEvent[];
}

import { traceIdForRun } from './traceparent.js';

export { rootSpanIdForRun };

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
  /** What earlier executions left in the trace (`emptyHistory()` for a fresh run). */
  history: RunTraceHistory;
  /**
   * Receives every span drover writes (drover hands them to the journal). `replace`: the span id
   * may already be stored (root, phase, execution, a closed or moved attempt) and this record replaces it.
   */
  sink: (span: StoredSpan, replace: boolean) => void;
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
    events: s.events.map((e) => ({ name: e.name, time: hrTime(e.timeUs), attributes: e.attributes as Attributes })),
    ended: true,
    resource,
    instrumentationScope: { name: 'drover' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * One trace per run, one tree across every execution: `invoke_workflow {name}` (a fixed root) →
 * `phase {title}` (one per phase) → calls, and `execution <n>` beside the phases. Ids of the root,
 * phases, executions and call attempts derive from the run (src/telemetry/run-span-ids.ts), so a
 * resume closes what a crashed execution left open (see run-history.ts). The root, phases and the
 * execution are written when the execution starts (or a phase is first used) and written again,
 * replacing the earlier record, when it ends. Spans are built here, not by a tracer provider, so
 * drover never touches a host application's global tracer provider.
 */
export class RunTracer {
  readonly traceId: string;
  readonly rootContext: Context;
  private readonly rootSpanId: string;
  private readonly phases = new Map<string, { spanId: string; context: Context; startMs: number; lastEnd: number }>();
  private readonly exportProcessor: BatchSpanProcessor | undefined;
  private readonly resource: Resource;
  private readonly resourceAttributes: StoredSpan['resource'];
  private readonly history: RunTraceHistory;
  private readonly executionStartMs = Date.now();

  constructor(private readonly options: RunTracerOptions) {
    ensureGlobalContext();
    this.history = options.history;
    this.traceId = traceIdForRun(options.runId);
    if (options.exportEndpoint) {
      const url = options.exportEndpoint.endsWith('/v1/traces')
        ? options.exportEndpoint
        : `${options.exportEndpoint.replace(/\/$/, '')}/v1/traces`;
      this.exportProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url }));
    }
    this.resourceAttributes = { 'service.name': 'drover', [DROVER.runId]: options.runId };
    this.resource = resourceFromAttributes(this.resourceAttributes as Attributes);
    this.rootSpanId = rootSpanIdForRun(options.runId);
    this.rootContext = trace.setSpanContext(ROOT_CONTEXT, { traceId: this.traceId, spanId: this.rootSpanId, traceFlags: 1 });
    // Close what earlier executions left open, then mark this one as running (both replaced later).
    for (const s of this.history.closing) options.sink(s, true);
    if (!this.history.root) this.writeRoot('running', null, this.executionStartMs, false);
    this.writeExecution('running', this.executionStartMs, false);
  }

  /** This execution's number (1 for `drover run`, then one more per `drover resume`). */
  get execution(): number {
    return this.history.execution;
  }

  private writeRoot(status: string, error: { code: string; message: string } | null, endMs: number, exported: boolean): void {
    const startMs = this.options.createdAt;
    const earlier = this.history.root;
    this.record(
      `invoke_workflow ${this.options.workflowName}`,
      ROOT_CONTEXT,
      {
        [GENAI.operation]: 'invoke_workflow',
        [DROVER.workflow]: this.options.workflowName,
        'drover.run.status': status,
        [EXECUTION.count]: this.history.execution,
      },
      {
        startMs,
        endMs: Math.max(endMs, earlier ? earlier.endUs / 1000 : 0),
        spanId: this.rootSpanId,
        error,
        replace: true,
        exported,
      },
    );
  }

  private writeExecution(state: string, endMs: number, exported: boolean): void {
    const n = this.history.execution;
    this.record(
      `execution ${n}`,
      this.rootContext,
      { [EXECUTION.state]: state },
      { startMs: this.executionStartMs, endMs, spanId: executionSpanIdForRun(this.options.runId, n), replace: true, exported },
    );
  }

  /** The context calls of a phase hang under (the root when there is no phase). */
  phaseContext(title: string | null): Context {
    if (title === null) return this.rootContext;
    let p = this.phases.get(title);
    if (!p) {
      const spanId = phaseSpanIdForRun(this.options.runId, title);
      const now = Date.now();
      const earlier = this.history.phases.get(title);
      p = {
        spanId,
        context: trace.setSpanContext(this.rootContext, { traceId: this.traceId, spanId, traceFlags: 1 }),
        startMs: earlier ? Math.min(earlier.startUs / 1000, now) : now,
        lastEnd: earlier ? Math.max(earlier.endUs / 1000, now) : now,
      };
      this.phases.set(title, p);
      // Written now too: calls that end before the phase does (or a crash) never hang under nothing.
      if (!earlier) this.writePhase(title, p, false);
    }
    return p.context;
  }

  private writePhase(title: string, p: { spanId: string; startMs: number; lastEnd: number }, exported: boolean): void {
    this.record(
      `phase ${title}`,
      this.rootContext,
      { [DROVER.phase]: title },
      { startMs: p.startMs, endMs: p.lastEnd, spanId: p.spanId, replace: true, exported },
    );
  }

  /** Marks a phase as active until now (its span ends at its last activity). */
  touchPhase(title: string | null, at = Date.now()): void {
    const p = title === null ? undefined : this.phases.get(title);
    if (p) p.lastEnd = Math.max(p.lastEnd, at);
  }

  /** The span id of a call attempt: from its journal key and start time (see run-span-ids.ts). */
  callSpanId(key: string, startedAtMs: number): string {
    return callSpanIdForRun(this.options.runId, key, startedAtMs);
  }

  /** The call already has a span in the trace (an earlier execution ran it): a reuse adds none. */
  hasCallSpan(key: string): boolean {
    return this.history.callKeysWithSpan.has(key);
  }

  /** Earlier attempts (interrupted, stopped or failed) of a call that runs again in this execution. */
  earlierAttempts(key: string): readonly StoredSpan[] {
    return this.history.earlierAttempts.get(key) ?? [];
  }

  /**
   * Moves a call's earlier attempts (and so everything below them) under the span of the attempt
   * that ran again: renamed `earlier attempt (interrupted|failed)`, marked `drover.attempt.superseded`,
   * without the `gen_ai.*` names, so the call appears once to selectors and golden files.
   */
  supersede(key: string, newSpanId: string): void {
    const earlier = this.history.earlierAttempts.get(key);
    if (!earlier) return;
    this.history.earlierAttempts.delete(key);
    for (const e of earlier) {
      const state = e.attributes[EXECUTION.interrupted] === true ? 'interrupted' : e.statusCode === 2 ? 'failed' : 'ended';
      const { [GENAI.operation]: _o, [GENAI.agentName]: _n, [GENAI.agentId]: _i, ...attributes } = e.attributes;
      this.options.sink(
        { ...e, name: `earlier attempt (${state})`, parentSpanId: newSpanId, attributes: { ...attributes, [EXECUTION.superseded]: true } },
        true,
      );
    }
  }

  /**
   * A finished span known only after the fact (a model request, a tool call an agent
   * reported), written straight to the sink — and the exporter — without a live SDK
   * span: a 1,000-agent run makes thousands of these.
   */
  recordFinished(name: string, parent: Context, attributes: Record<string, string | number | boolean>, timing: SpanTiming): void {
    this.record(name, parent, attributes, { ...timing, exported: true, replace: false });
  }

  private record(
    name: string,
    parent: Context,
    attributes: Record<string, string | number | boolean>,
    timing: SpanTiming & { replace: boolean; exported: boolean },
  ): void {
    const parentCtx = trace.getSpanContext(parent);
    const spanId = timing.spanId ?? randomSpanId();
    // Redacted before either sink: the store redacts again, but the live OTLP export reads this copy.
    const attrs = redactDeep({
      [DROVER.runId]: this.options.runId,
      ...attributes,
      [DROVER.execution]: this.history.execution,
      ...(timing.error ? { [GENAI.errorType]: timing.error.code } : {}),
    });
    const kind = timing.kind ?? SpanKind.INTERNAL;
    const stored: StoredSpan = {
      traceId: this.traceId,
      spanId,
      parentSpanId: parentCtx?.spanId ?? null,
      name: redactSecrets(name),
      kind: kind + 1,
      startUs: Math.round(timing.startMs * 1000),
      endUs: Math.round(Math.max(timing.startMs, timing.endMs) * 1000),
      statusCode: timing.error ? 2 : 0,
      statusMessage: timing.error ? redactSecrets(timing.error.message.slice(0, 500)) : null,
      service: 'drover',
      scope: 'drover',
      attributes: attrs,
      resource: this.resourceAttributes,
      events: timing.events ?? [],
      runId: this.options.runId,
    };
    this.options.sink(stored, timing.replace || this.history.stored.has(spanId));
    if (timing.exported) this.exportProcessor?.onEnd(readableOf(stored, kind, this.resource, parentCtx));
  }

  /**
   * A span id and context for a call that is written when it ends (`recordFinished` with
   * this `spanId`): children and child processes can nest under it meanwhile.
   */
  reserve(parent: Context, spanId: string = randomSpanId()): { spanId: string; context: Context } {
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

  /**
   * Ends the execution: writes the phases it touched, its `execution <n>` span (state = the run's
   * status) and the root (with the run's outcome), each replacing its earlier record; flushes exporters.
   */
  async finish(outcome: { status: string; error?: { code: string; message: string } | null }): Promise<void> {
    const now = Date.now();
    for (const [title, p] of this.phases) this.writePhase(title, { ...p, lastEnd: Math.min(now, Math.max(p.lastEnd, 0)) }, true);
    this.writeExecution(outcome.status, now, true);
    this.writeRoot(outcome.status, outcome.error ?? null, now, true);
    if (this.exportProcessor) {
      await this.exportProcessor.forceFlush();
      await this.exportProcessor.shutdown();
    }
  }
}
