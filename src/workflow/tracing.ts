import type { Context } from '@opentelemetry/api';
import { SpanKind } from '@opentelemetry/api';
import type { AgentOutcome } from '../agents/index.js';
import { type PriceOverrides, priceUsage } from '../budget/prices.js';
import { redactSecrets } from '../core/index.js';
import type { PolicyAuditEvent } from '../policy/index.js';
import type { CallRecord, UsageRecord } from '../store/index.js';
import { DROVER, EXECUTION, GENAI, RunTracer } from '../telemetry/index.js';

/** False on a request span (and its agent's) when a request's model has no price: its cost is unknown, not 0. */
const COST_PRICED = 'drover.cost.priced';

/** A call's span while the call runs: written (with its attributes) when the call ends. */
export interface CallSpan {
  name: string;
  spanId: string;
  parent: Context;
  context: Context;
  startMs: number;
  attributes: Record<string, string | number | boolean>;
  /** TRACEPARENT (and TRACESTATE, and the run's OTLP endpoint) for processes the call starts. */
  readonly env: Record<string, string>;
}

const providerOf = (backend: string, provider: string | undefined) =>
  backend === 'codex' ? 'openai' : backend === 'claude-code' ? 'anthropic' : (provider ?? 'anthropic').replace('-chat', '');

/**
 * The runtime's view of tracing: a span per call under its phase, with GenAI attributes,
 * child spans rebuilt from what the agent reported (requests, tool calls), and the env
 * that makes child processes join the trace. Every method is a no-op when tracing is off.
 */
export class CallTracing {
  constructor(
    private readonly tracer: RunTracer | undefined,
    private readonly options: {
      /** OTEL_EXPORTER_OTLP_ENDPOINT for children (the run's receiver), unless the user set one. */
      childOtlpEnv: Record<string, string>;
      captureContent: boolean;
      provider?: string;
      /** drover.config.json `prices`, over the built-in sheet. */
      prices?: PriceOverrides;
    },
  ) {}

  start(kind: string, name: string, call: CallRecord, attributes: Record<string, string | number | boolean> = {}): CallSpan | null {
    if (!this.tracer) return null;
    const parent = this.tracer.phaseContext(call.phase);
    // The id follows from the journal entry (key, start time): a resume can close it after a crash.
    const { spanId, context } = this.tracer.reserve(parent, this.tracer.callSpanId(call.key, call.startedAt));
    const rerun = this.tracer.earlierAttempts(call.key).length > 0;
    const childOtlpEnv = this.options.childOtlpEnv;
    let env: Record<string, string> | undefined;
    return {
      name,
      spanId,
      parent,
      context,
      startMs: Date.now(),
      attributes: {
        [DROVER.callKey]: call.key,
        ...(call.phase ? { [DROVER.phase]: call.phase } : {}),
        'drover.call.kind': kind,
        ...(rerun ? { [EXECUTION.rerun]: true } : {}),
        ...attributes,
      },
      // Built on first use: most calls (builtin agents) start no process.
      get env() {
        env ??= { ...RunTracer.childEnv(context), ...childOtlpEnv };
        return env;
      },
    };
  }

  startAgent(call: CallRecord, info: { backend: string; model: string; prompt: string }): CallSpan | null {
    return this.start('agent', `invoke_agent ${call.label ?? 'agent'}`, call, {
      [GENAI.operation]: 'invoke_agent',
      [GENAI.agentName]: call.label ?? 'agent',
      [GENAI.agentId]: call.key,
      [GENAI.provider]: providerOf(info.backend, this.options.provider),
      [GENAI.requestModel]: info.model,
      [DROVER.backend]: info.backend,
      [DROVER.reused]: false,
      ...(this.options.captureContent
        ? { [GENAI.inputMessages]: JSON.stringify([{ role: 'user', content: redactSecrets(info.prompt) }]) }
        : {}),
    });
  }

  /** Ends an agent's span after adding a span per model request and per tool call it made. */
  endAgent(cs: CallSpan | null, call: CallRecord, outcome: AgentOutcome, usage: UsageRecord[], backend: string): void {
    if (!cs || !this.tracer) return;
    const provider = providerOf(backend, this.options.provider);
    let cost = 0;
    let unpriced = 0;
    outcome.usage.forEach((u, i) => {
      // A request with no price has no cost attribute, and says so: never a cost of 0.
      const c = priceUsage(u.model, { ...u, reasoningTokens: 0, serverToolUses: {} }, this.options.prices).costUsd;
      if (c === null) unpriced++;
      cost += c ?? 0;
      const start = u.startedAt ?? call.startedAt;
      this.tracer?.recordFinished(
        `chat ${u.model}`,
        cs.context,
        {
          [GENAI.operation]: 'chat',
          [GENAI.provider]: provider,
          [GENAI.requestModel]: u.model,
          [GENAI.responseModel]: u.model,
          ...(u.requestId ? { [GENAI.responseId]: u.requestId } : {}),
          [GENAI.inputTokens]: u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens,
          [GENAI.outputTokens]: u.outputTokens,
          [GENAI.cacheReadTokens]: u.cacheReadTokens,
          [GENAI.cacheCreationTokens]: u.cacheWrite5mTokens + u.cacheWrite1hTokens,
          ...(c === null ? { [COST_PRICED]: false } : { [DROVER.costUsd]: c }),
          'drover.request.index': i,
        },
        { kind: SpanKind.CLIENT, startMs: start, endMs: u.endedAt ?? start },
      );
    });
    for (const step of outcome.detail?.steps ?? []) {
      this.tracer.recordFinished(
        `execute_tool ${step.tool}`,
        cs.context,
        { [GENAI.operation]: 'execute_tool', [GENAI.toolName]: step.tool, ...(step.callId ? { [GENAI.toolCallId]: step.callId } : {}) },
        { startMs: step.startedAt, endMs: step.endedAt, error: step.ok ? null : { code: 'tool_error', message: `${step.tool} failed` } },
      );
    }
    const tokens = usage.reduce(
      (t, u) => ({
        input: t.input + u.inputTokens + u.cacheReadTokens + u.cacheWrite5mTokens + u.cacheWrite1hTokens,
        output: t.output + u.outputTokens,
        read: t.read + u.cacheReadTokens,
        write: t.write + u.cacheWrite5mTokens + u.cacheWrite1hTokens,
      }),
      { input: 0, output: 0, read: 0, write: 0 },
    );
    const last = outcome.usage[outcome.usage.length - 1];
    Object.assign(cs.attributes, {
      [GENAI.inputTokens]: tokens.input,
      [GENAI.outputTokens]: tokens.output,
      [GENAI.cacheReadTokens]: tokens.read,
      [GENAI.cacheCreationTokens]: tokens.write,
      // USD of the priced requests; `drover.cost.priced: false` when any request had no price.
      ...(unpriced > 0 && unpriced === outcome.usage.length ? {} : { [DROVER.costUsd]: cost }),
      ...(unpriced > 0 ? { [COST_PRICED]: false } : {}),
      ...(last ? { [GENAI.responseModel]: last.model } : {}),
      ...(outcome.detail?.sessionId ? { [GENAI.conversationId]: outcome.detail.sessionId } : {}),
      'drover.agent.turns': outcome.detail?.turns ?? 0,
      // A pooled job that finished while the driver was down: its span and cost are written now, once.
      ...(outcome.earlier ? { 'drover.agent.earlier_job': outcome.earlier.jobId } : {}),
      'drover.agent.tool_calls': outcome.detail?.toolCalls ?? 0,
      ...(this.options.captureContent && outcome.ok
        ? { [GENAI.outputMessages]: JSON.stringify([{ role: 'assistant', content: redactSecrets(outcome.text) }]) }
        : {}),
    });
    this.end(cs, call, outcome.ok ? null : outcome.error);
  }

  end(
    cs: CallSpan | null,
    call: CallRecord,
    error: { code: string; message: string } | null,
    attributes: Record<string, string | number | boolean> = {},
  ): void {
    if (!cs || !this.tracer) return;
    const endMs = Date.now();
    this.tracer.recordFinished(cs.name, cs.parent, Object.assign(cs.attributes, attributes), {
      startMs: cs.startMs,
      endMs,
      spanId: cs.spanId,
      ...(error ? { error } : {}),
    });
    // An earlier attempt (interrupted by a crash, or failed) moves under this one: the call appears once.
    this.tracer.supersede(call.key, cs.spanId);
    this.tracer.touchPhase(call.phase, endMs);
  }

  /**
   * A policy audit record (src/policy `PolicyAuditEvent`) in the trace: a zero-length span
   * `policy <kind>` under the current phase, carrying it as the span event `drover.policy.<kind>`
   * with the rule ids, what was attempted and the call.
   */
  policyEvent(phase: string | null, e: PolicyAuditEvent): void {
    if (!this.tracer) return;
    const now = Date.now();
    const attributes: Record<string, string> = {
      'drover.policy.kind': e.kind,
      'drover.policy.rule_ids': e.ruleIds.join(','),
      'drover.policy.attempted': redactSecrets(e.attempted).slice(0, 1000),
      'drover.policy.at': e.at,
      ...(e.callKey ? { [DROVER.callKey]: e.callKey } : {}),
      ...(e.questionId ? { 'drover.policy.question_id': e.questionId } : {}),
    };
    this.tracer.recordFinished(`policy ${e.kind}`, this.tracer.phaseContext(phase), attributes, {
      startMs: now,
      endMs: now,
      events: [{ timeUs: now * 1000, name: `drover.policy.${e.kind}`, attributes }],
    });
  }

  /**
   * A call the journal served. When an earlier execution of this run ran it, its span is already in
   * the trace and nothing is added (the call appears once). Otherwise (served from the `--from` run,
   * or moved in an edited script) it appears, marked `drover.call.reused`, with no new cost.
   */
  reused(kind: string, name: string, call: CallRecord): void {
    if (!this.tracer || this.tracer.hasCallSpan(call.key)) return;
    const cs = this.start(kind, name, call, {
      [DROVER.reused]: true,
      [DROVER.costUsd]: 0,
      ...(kind === 'agent'
        ? { [GENAI.operation]: 'invoke_agent', [GENAI.agentName]: call.label ?? 'agent', [GENAI.agentId]: call.key }
        : {}),
    });
    this.end(cs, call, null);
  }
}
