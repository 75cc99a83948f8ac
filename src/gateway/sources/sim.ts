/**
 * @module The sim AnswerSource: answers from a scenario (src/gateway/scenario.ts) through the
 * SimEngine, in each wire's exact shapes, with the sim's own log (rule, turn, counted tokens,
 * cacheable prefix), gates and faults. `drover gateway --mode sim` and `startSimGateway` use it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { AdminAnswer, AnswerSource, GatewayRequest, SourceResponse } from '../pipeline/types.js';
import { PrefixTracker } from '../prefix-cache.js';
import type { Scenario } from '../scenario.js';
import { SimEngine, type SimPlan } from '../sim-engine.js';
import type { SimRequest, WireName } from '../sim-request.js';
import { encodeTokens, loadTokenCounter } from '../tokens.js';
import { anthropicWire } from '../wires/anthropic.js';
import { chatWire } from '../wires/chat.js';
import { responsesWire } from '../wires/responses.js';
import type { WireAdapter } from '../wires/wire.js';
import { aborted, Gates } from './gates.js';

const LOG_LIMIT = 2000;
const WIRES = { anthropic: anthropicWire, responses: responsesWire, chat: chatWire } as unknown as Record<WireName, WireAdapter<never>>;

export interface SimRequestLog {
  /** When the request arrived and when its answer ended (ms). */
  startedAt: number;
  at: number;
  path: string;
  wire: WireName | null;
  rule: string;
  turn: number;
  status: number;
  model: string;
  stream: boolean;
  /** `x-drover-agent` or the client guessed from its user agent. */
  agent: string;
  /** `x-drover-call`: the drover call the request belongs to. */
  tag: string | null;
  /** Message / response id of the answer (null when refused or failed). */
  requestId: string | null;
  prompt: string;
  /** Everything after the last assistant turn (tool results included), first 4000 characters. */
  last: string;
  /** Tokens of the request as counted (tools, system, messages). */
  inputTokens: number;
  /** Tokens shared with the previous request of the same conversation: what a prefix cache could serve. */
  cacheableTokens: number;
  usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number } | null;
  /** The flattened request, kept only when the gateway was started with `keepRequests`. */
  rendered?: string;
}

export interface SimStats {
  requests: number;
  /** Most requests being answered at the same moment. */
  maxInFlight: number;
  byStatus: Record<string, number>;
  byRule: Record<string, number>;
  log: SimRequestLog[];
}

export type { SimGates } from './gates.js';

/** A stream the scenario cuts (`cut_after_events`): the gateway drops the client's connection too. */
class SimCut extends Error {
  constructor() {
    super('sim gateway: stream cut by the scenario');
  }
}

export class SimSource implements AnswerSource {
  readonly mode = 'sim' as const;
  readonly gates = new Gates();
  private readonly engine: SimEngine;
  private readonly prefixes = new PrefixTracker();
  private readonly byTag = new Map<string, SimRequestLog[]>();
  private stats: SimStats = { requests: 0, maxInFlight: 0, byStatus: {}, byRule: {}, log: [] };
  private inFlight = 0;

  constructor(
    scenario: Scenario,
    private readonly options: { keepRequests?: boolean } = {},
  ) {
    this.engine = new SimEngine(scenario);
  }

  getStats(): SimStats {
    return this.stats;
  }

  usageFor(tag: string): SimRequestLog[] {
    return this.byTag.get(tag) ?? [];
  }

  reset(): void {
    this.stats = { requests: 0, maxInFlight: 0, byStatus: {}, byRule: {}, log: [] };
    this.byTag.clear();
    this.prefixes.clear();
    this.engine.resetCounters();
  }

  adminRoute(method: string, path: string, query: URLSearchParams): AdminAnswer | null {
    if (method === 'GET' && path === '/_drover/stats') {
      const { log, ...rest } = this.stats;
      return { status: 200, body: { ...rest, ...(query.get('log') === '1' ? { log } : {}) } };
    }
    const gate = method === 'POST' ? /^\/_drover\/gates\/([^/]+)\/open$/.exec(path) : null;
    if (gate?.[1]) {
      this.gates.open(decodeURIComponent(gate[1]));
      return { status: 200, body: { ok: true } };
    }
    const arrivals = method === 'GET' ? /^\/_drover\/gates\/([^/]+)$/.exec(path) : null;
    if (arrivals?.[1]) return { status: 200, body: { arrived: this.gates.count(decodeURIComponent(arrivals[1])) } };
    if (method === 'POST' && path === '/_drover/reset') {
      this.reset();
      return { status: 200, body: { ok: true } };
    }
    if (method === 'GET' && path === '/_drover/usage') {
      const tag = query.get('tag');
      if (!tag)
        return { status: 400, body: { error: { type: 'invalid_request_error', message: 'usage: the tag query parameter is required' } } };
      return { status: 200, body: { tag, requests: this.usageFor(tag) } };
    }
    return null;
  }

  async answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse> {
    const wire = WIRES[request.wire];
    const parsed = wire.schema.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message = `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`;
      this.record(refused(request.path, wire.name, 400, request.headers['x-drover-call']));
      return json(400, wire.error('invalid_request_error', message, 400));
    }
    const simReq = wire.normalize(parsed.data, request.headers);
    await loadTokenCounter();
    const tokens = encodeTokens(simReq.rendered);
    if (request.path.endsWith('/count_tokens')) return json(200, { input_tokens: tokens.length });
    const startedAt = Date.now();
    const cacheableTokens = this.prefixes.observe(conversationKey(simReq), tokens);
    const plan = this.engine.plan(simReq, tokens.length);
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    let ended = false;
    const end = (status: number) => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.record({
        startedAt,
        at: Date.now(),
        path: request.path,
        wire: wire.name,
        rule: plan.rule,
        turn: plan.kind === 'message' ? plan.turn : -1,
        status,
        model: simReq.model,
        stream: simReq.stream,
        agent: simReq.agent,
        tag: simReq.tag,
        requestId: plan.kind === 'message' ? wire.responseId(plan.message) : null,
        prompt: simReq.prompt.slice(0, 200),
        last: simReq.last.slice(0, 4000),
        inputTokens: tokens.length,
        cacheableTokens,
        usage: status === 200 && plan.kind === 'message' ? plan.message.usage : null,
        ...(this.options.keepRequests ? { rendered: simReq.rendered } : {}),
      });
    };
    try {
      // A client that hangs up (an aborted agent) or a gateway that closes ends the wait for
      // latency or a gate: nothing keeps a process alive for an answer nobody will read.
      const holdFirst = plan.hold && !(plan.kind === 'message' && plan.holdAfterEvents && simReq.stream);
      if (plan.hold && holdFirst) await Promise.race([this.gates.pass(plan.hold), aborted(signal)]);
      if (plan.latencyMs > 0) await delay(plan.latencyMs, undefined, { signal });
    } catch (err) {
      end(499);
      throw err;
    }
    return this.respond(wire, simReq, plan, signal, end);
  }

  private respond(wire: WireAdapter<never>, simReq: SimRequest, plan: SimPlan, signal: AbortSignal, end: (status: number) => void) {
    if (plan.kind === 'error') {
      const headers: Record<string, string> = {};
      if (plan.retryAfterS !== undefined) headers['retry-after'] = String(plan.retryAfterS);
      return json(plan.status, wire.error(plan.errorType, plan.message, plan.status), headers, () => end(plan.status));
    }
    if (!simReq.stream) {
      return json(200, wire.json(plan.message, simReq), wire.requestIdHeader(plan.message), () => end(200));
    }
    const events = wire.events(plan.message, simReq);
    const { cutAfterEvents, hold, holdAfterEvents, eventIntervalMs } = plan;
    const limit = cutAfterEvents ?? events.length;
    const gates = this.gates;
    async function* body(): AsyncGenerator<Uint8Array> {
      let status = 499;
      try {
        for (const [i, event] of events.slice(0, limit).entries()) {
          if (hold && holdAfterEvents === i) await Promise.race([gates.pass(hold), aborted(signal)]);
          if (eventIntervalMs && i > 0) await delay(eventIntervalMs, undefined, { signal });
          yield Buffer.from(event);
        }
        if (cutAfterEvents !== undefined) {
          status = 0;
          throw new SimCut();
        }
        status = 200;
      } finally {
        end(status);
      }
    }
    return {
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...wire.requestIdHeader(plan.message) },
      body: body(),
    };
  }

  private record(entry: SimRequestLog): void {
    const stats = this.stats;
    stats.requests++;
    stats.byStatus[entry.status] = (stats.byStatus[entry.status] ?? 0) + 1;
    stats.byRule[entry.rule] = (stats.byRule[entry.rule] ?? 0) + 1;
    stats.log.push(entry);
    if (stats.log.length > LOG_LIMIT) stats.log.splice(0, stats.log.length - LOG_LIMIT);
    if (entry.tag && entry.usage) {
      const list = this.byTag.get(entry.tag) ?? [];
      list.push(entry);
      this.byTag.set(entry.tag, list);
    }
  }
}

/** A whole JSON answer as a one-chunk body; `done` runs once the client got it (or hung up). */
function json(status: number, value: unknown, headers: Record<string, string> = {}, done?: () => void): SourceResponse {
  const text = Buffer.from(JSON.stringify(value));
  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      yield text;
    } finally {
      done?.();
    }
  }
  return { status, headers: { 'content-type': 'application/json', 'content-length': String(text.length), ...headers }, body: body() };
}

/** Requests of one conversation share a tag (or, untagged, an agent and a task). */
function conversationKey(r: SimRequest): string {
  return `${r.tag ?? ''}\u0000${r.agent}\u0000${r.prompt}`;
}

function refused(path: string, wire: WireName, status: number, tag: string | string[] | undefined): SimRequestLog {
  return {
    startedAt: Date.now(),
    at: Date.now(),
    path,
    wire,
    rule: '(refused)',
    turn: -1,
    status,
    model: '',
    stream: false,
    agent: '',
    tag: typeof tag === 'string' ? tag : null,
    requestId: null,
    prompt: '',
    last: '',
    inputTokens: 0,
    cacheableTokens: 0,
    usage: null,
  };
}
