import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { BodyError, closeServer, originGuard, readJsonBody } from '../net/index.js';
import { PrefixTracker } from './prefix-cache.js';
import { loadScenario, type Scenario } from './scenario.js';
import { SimEngine, type SimPlan } from './sim-engine.js';
import type { SimRequest, WireName } from './sim-request.js';
import { encodeTokens, loadTokenCounter } from './tokens.js';
import { anthropicWire } from './wires/anthropic.js';
import { chatWire } from './wires/chat.js';
import { responsesWire } from './wires/responses.js';
import type { WireAdapter } from './wires/wire.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const LOG_LIMIT = 2000;
const WIRES: WireAdapter<never>[] = [anthropicWire, responsesWire, chatWire] as unknown as WireAdapter<never>[];

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

export interface SimGatewayOptions {
  scenario: Scenario | string;
  port?: number;
  host?: string;
  /** Keep each request's flattened text in the log (benchmarks of prompt weight). */
  keepRequests?: boolean;
}

/** Gates of `hold` rules: requests wait at a named gate until it is opened. */
export interface SimGates {
  /** Opens the gate: requests held there are answered, and later ones pass at once. */
  open(name: string): void;
  /** Resolves once `count` requests have arrived at the gate (held or passed). */
  arrived(name: string, count?: number): Promise<void>;
}

export interface RunningGateway {
  url: string;
  port: number;
  gates: SimGates;
  stats(): SimStats;
  /** Usage of every answered request tagged with this `x-drover-call`, in order. */
  usageFor(tag: string): SimRequestLog[];
  reset(): void;
  close(): Promise<void>;
}

/** `drover gateway --mode sim`: Anthropic Messages, OpenAI Responses and Chat Completions served from a scenario. */
export async function startSimGateway(options: SimGatewayOptions): Promise<RunningGateway> {
  const scenario = typeof options.scenario === 'string' ? loadScenario(options.scenario) : options.scenario;
  await loadTokenCounter();
  const engine = new SimEngine(scenario);
  const prefixes = new PrefixTracker();
  const byTag = new Map<string, SimRequestLog[]>();
  const stats: SimStats = { requests: 0, maxInFlight: 0, byStatus: {}, byRule: {}, log: [] };
  let inFlight = 0;
  const gates = new Gates();
  const waits = new Set<AbortController>();
  const reset = () => {
    stats.requests = 0;
    stats.maxInFlight = 0;
    stats.byStatus = {};
    stats.byRule = {};
    stats.log = [];
    byTag.clear();
    prefixes.clear();
    engine.resetCounters();
  };
  const record = (entry: SimRequestLog) => {
    stats.requests++;
    stats.byStatus[entry.status] = (stats.byStatus[entry.status] ?? 0) + 1;
    stats.byRule[entry.rule] = (stats.byRule[entry.rule] ?? 0) + 1;
    stats.log.push(entry);
    if (stats.log.length > LOG_LIMIT) stats.log.splice(0, stats.log.length - LOG_LIMIT);
    if (entry.tag && entry.usage) {
      const list = byTag.get(entry.tag) ?? [];
      list.push(entry);
      byTag.set(entry.tag, list);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent)
        sendJson(res, 500, { type: 'error', error: { type: 'api_error', message: `sim gateway failure: ${(err as Error).message}` } });
      else res.destroy();
    });
  });

  let guard: (req: IncomingMessage) => string | null = () => 'the server is starting';
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = guard(req);
    if (refusal) {
      sendJson(res, 403, { type: 'error', error: { type: 'permission_error', message: `sim gateway: ${refusal}` } });
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'HEAD' || (req.method === 'GET' && path === '/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ ok: true, gateway: 'drover', mode: 'sim' }));
      return;
    }
    if (req.method === 'GET' && path === '/_drover/stats') {
      const includeLog = (req.url ?? '').includes('log=1');
      sendJson(res, 200, {
        requests: stats.requests,
        maxInFlight: stats.maxInFlight,
        byStatus: stats.byStatus,
        byRule: stats.byRule,
        ...(includeLog ? { log: stats.log } : {}),
      });
      return;
    }
    const gate = req.method === 'POST' ? /^\/_drover\/gates\/([^/]+)\/open$/.exec(path) : null;
    if (gate?.[1]) {
      gates.open(decodeURIComponent(gate[1]));
      sendJson(res, 200, { ok: true });
      return;
    }
    const arrivals = req.method === 'GET' ? /^\/_drover\/gates\/([^/]+)$/.exec(path) : null;
    if (arrivals?.[1]) {
      sendJson(res, 200, { arrived: gates.count(decodeURIComponent(arrivals[1])) });
      return;
    }
    if (req.method === 'POST' && path === '/_drover/reset') {
      reset();
      sendJson(res, 200, { ok: true });
      return;
    }
    if (req.method === 'GET' && path === '/_drover/usage') {
      const tag = new URL(req.url ?? '/', 'http://x').searchParams.get('tag');
      if (!tag) {
        sendJson(res, 400, { error: { type: 'invalid_request_error', message: 'usage: the tag query parameter is required' } });
        return;
      }
      sendJson(res, 200, { tag, requests: byTag.get(tag) ?? [] });
      return;
    }
    const wire = WIRES.find((w) => w.paths.includes(path) || (w.name === 'anthropic' && path === '/v1/messages/count_tokens'));
    if (req.method === 'POST' && wire) {
      let simReq: SimRequest;
      try {
        const parsed = wire.schema.safeParse(await readJsonBody(req, MAX_BODY_BYTES));
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new BodyError(400, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
        }
        simReq = wire.normalize(parsed.data, req.headers);
      } catch (err) {
        const status = err instanceof BodyError ? err.status : 400;
        sendJson(res, status, wire.error(status === 413 ? 'request_too_large' : 'invalid_request_error', (err as Error).message, status));
        record(refused(path, wire.name, status, req.headers['x-drover-call']));
        return;
      }
      const tokens = encodeTokens(simReq.rendered);
      if (path.endsWith('/count_tokens')) {
        sendJson(res, 200, { input_tokens: tokens.length });
        return;
      }
      const startedAt = Date.now();
      const cacheableTokens = prefixes.observe(conversationKey(simReq), tokens);
      const plan = engine.plan(simReq, tokens.length);
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      // A client that hangs up (an aborted agent) or a gateway that closes ends the wait for
      // latency or a gate: nothing keeps a process alive for an answer nobody will read.
      const gone = new AbortController();
      waits.add(gone);
      res.once('close', () => gone.abort());
      try {
        await respond(res, wire, simReq, plan, gone.signal);
      } catch (err) {
        if (!gone.signal.aborted) throw err;
      } finally {
        waits.delete(gone);
        inFlight--;
      }
      const hungUp = !res.writableFinished && !(plan.kind === 'message' && plan.cutAfterEvents);
      const answered = plan.kind === 'message' && !plan.cutAfterEvents && !hungUp;
      record({
        startedAt,
        at: Date.now(),
        path,
        wire: wire.name,
        rule: plan.rule,
        turn: plan.kind === 'message' ? plan.turn : -1,
        // 499: the client closed the connection before the answer (nginx's code for it).
        status: hungUp ? 499 : plan.kind === 'message' ? (plan.cutAfterEvents ? 0 : 200) : plan.status,
        model: simReq.model,
        stream: simReq.stream,
        agent: simReq.agent,
        tag: simReq.tag,
        requestId: plan.kind === 'message' ? wire.responseId(plan.message) : null,
        prompt: simReq.prompt.slice(0, 200),
        last: simReq.last.slice(0, 4000),
        inputTokens: tokens.length,
        cacheableTokens,
        usage: answered && plan.kind === 'message' ? plan.message.usage : null,
        ...(options.keepRequests ? { rendered: simReq.rendered } : {}),
      });
      return;
    }
    sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: `sim gateway: no route ${req.method} ${path}` } });
  }

  async function respond(
    res: ServerResponse,
    wire: WireAdapter<never>,
    simReq: SimRequest,
    plan: SimPlan,
    signal: AbortSignal,
  ): Promise<void> {
    if (plan.hold) await Promise.race([gates.pass(plan.hold), aborted(signal)]);
    if (plan.latencyMs > 0) await delay(plan.latencyMs, undefined, { signal });
    if (signal.aborted) return;
    if (plan.kind === 'error') {
      const headers: Record<string, string> = {};
      if (plan.retryAfterS !== undefined) headers['retry-after'] = String(plan.retryAfterS);
      sendJson(res, plan.status, wire.error(plan.errorType, plan.message, plan.status), headers);
      return;
    }
    if (!simReq.stream) {
      sendJson(res, 200, wire.json(plan.message, simReq), wire.requestIdHeader(plan.message));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...wire.requestIdHeader(plan.message) });
    const events = wire.events(plan.message, simReq);
    const limit = plan.cutAfterEvents ?? events.length;
    for (const event of events.slice(0, limit)) res.write(event);
    if (plan.cutAfterEvents !== undefined) {
      // A stream cut mid-way: the connection drops before the stream's end.
      await new Promise((r) => res.write('', r));
      res.destroy();
      return;
    }
    res.end();
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  server.keepAliveTimeout = 30_000;
  const port = (server.address() as AddressInfo).port;
  guard = originGuard(host, port);
  return {
    url: `http://${host}:${port}`,
    port,
    gates,
    stats: () => stats,
    usageFor: (tag) => byTag.get(tag) ?? [],
    reset,
    close: () => {
      for (const w of waits) w.abort();
      return closeServer(server);
    },
  };
}

/** Rejects when `signal` aborts (never resolves otherwise). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

class Gates implements SimGates {
  private readonly opened = new Set<string>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly arrivals = new Map<string, number>();
  private readonly watchers: { name: string; count: number; resolve: () => void }[] = [];

  pass(name: string): Promise<void> {
    this.arrivals.set(name, this.count(name) + 1);
    for (const w of this.watchers.filter((w) => w.name === name && this.count(name) >= w.count)) {
      this.watchers.splice(this.watchers.indexOf(w), 1);
      w.resolve();
    }
    if (this.opened.has(name)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiting.get(name) ?? [];
      list.push(resolve);
      this.waiting.set(name, list);
    });
  }

  count(name: string): number {
    return this.arrivals.get(name) ?? 0;
  }

  open(name: string): void {
    this.opened.add(name);
    for (const resolve of this.waiting.get(name) ?? []) resolve();
    this.waiting.delete(name);
  }

  arrived(name: string, count = 1): Promise<void> {
    if (this.count(name) >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ name, count, resolve }));
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
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
