import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { errorJson, messageEvents, messageJson } from './anthropic-wire.js';
import { BodyError, readJsonBody } from './http-body.js';
import { loadScenario, type Scenario } from './scenario.js';
import { type AnthropicRequestBody, countRequestTokens, firstUserText, lastUserText, SimEngine, type SimPlan } from './sim-engine.js';
import { loadTokenCounter } from './tokens.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const LOG_LIMIT = 2000;

const MessagesBody = z
  .object({
    model: z.string().min(1),
    // Claude Code also sends `role: "system"` entries inside messages; any role string is accepted.
    messages: z.array(z.object({ role: z.string().min(1), content: z.unknown() }).passthrough()).min(1),
    max_tokens: z.number().int().positive().optional(),
    stream: z.boolean().optional(),
  })
  .passthrough();

export interface SimRequestLog {
  at: number;
  path: string;
  rule: string;
  turn: number;
  status: number;
  model: string;
  stream: boolean;
  prompt: string;
  /** The last user message (tool results included), first 4000 characters. */
  last: string;
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
}

export interface RunningGateway {
  url: string;
  port: number;
  stats(): SimStats;
  reset(): void;
  close(): Promise<void>;
}

/** `drover gateway --mode sim`: Anthropic Messages served from a scenario. */
export async function startSimGateway(options: SimGatewayOptions): Promise<RunningGateway> {
  const scenario = typeof options.scenario === 'string' ? loadScenario(options.scenario) : options.scenario;
  await loadTokenCounter();
  const engine = new SimEngine(scenario);
  const stats: SimStats = { requests: 0, maxInFlight: 0, byStatus: {}, byRule: {}, log: [] };
  let inFlight = 0;
  const reset = () => {
    stats.requests = 0;
    stats.maxInFlight = 0;
    stats.byStatus = {};
    stats.byRule = {};
    stats.log = [];
    engine.resetCounters();
  };
  const record = (entry: SimRequestLog) => {
    stats.requests++;
    stats.byStatus[entry.status] = (stats.byStatus[entry.status] ?? 0) + 1;
    stats.byRule[entry.rule] = (stats.byRule[entry.rule] ?? 0) + 1;
    stats.log.push(entry);
    if (stats.log.length > LOG_LIMIT) stats.log.splice(0, stats.log.length - LOG_LIMIT);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, errorJson('api_error', `sim gateway failure: ${(err as Error).message}`));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
        byStatus: stats.byStatus,
        byRule: stats.byRule,
        ...(includeLog ? { log: stats.log } : {}),
      });
      return;
    }
    if (req.method === 'POST' && path === '/_drover/reset') {
      reset();
      sendJson(res, 200, { ok: true });
      return;
    }
    if (req.method === 'POST' && (path === '/v1/messages' || path === '/v1/messages/count_tokens')) {
      let body: AnthropicRequestBody;
      try {
        const parsed = MessagesBody.safeParse(await readJsonBody(req, MAX_BODY_BYTES));
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new BodyError(400, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
        }
        body = parsed.data as AnthropicRequestBody;
      } catch (err) {
        const status = err instanceof BodyError ? err.status : 400;
        sendJson(res, status, errorJson(status === 413 ? 'request_too_large' : 'invalid_request_error', (err as Error).message));
        record({ at: Date.now(), path, rule: '(refused)', turn: -1, status, model: '', stream: false, prompt: '', last: '' });
        return;
      }
      if (path.endsWith('/count_tokens')) {
        sendJson(res, 200, { input_tokens: countRequestTokens(body) });
        return;
      }
      const plan = engine.plan(body);
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      try {
        await respond(res, body, plan);
      } finally {
        inFlight--;
      }
      record({
        at: Date.now(),
        path,
        rule: plan.rule,
        turn: plan.kind === 'message' ? plan.turn : -1,
        status: plan.kind === 'message' ? (plan.cutAfterEvents ? 0 : 200) : plan.status,
        model: body.model,
        stream: body.stream === true,
        prompt: firstUserText(body).slice(0, 200),
        last: lastUserText(body).slice(0, 4000),
      });
      return;
    }
    sendJson(res, 404, errorJson('not_found_error', `sim gateway: no route ${req.method} ${path}`));
  }

  async function respond(res: ServerResponse, body: AnthropicRequestBody, plan: SimPlan): Promise<void> {
    if (plan.latencyMs > 0) await delay(plan.latencyMs);
    if (plan.kind === 'error') {
      const headers: Record<string, string> = {};
      if (plan.retryAfterS !== undefined) headers['retry-after'] = String(plan.retryAfterS);
      sendJson(res, plan.status, errorJson(plan.errorType, plan.message), headers);
      return;
    }
    if (!body.stream) {
      sendJson(res, 200, messageJson(plan.message), { 'request-id': `req_${plan.message.id}` });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${plan.message.id}` });
    const events = messageEvents(plan.message);
    const limit = plan.cutAfterEvents ?? events.length;
    for (const event of events.slice(0, limit)) res.write(event);
    if (plan.cutAfterEvents !== undefined) {
      // A stream cut mid-way: the connection drops without message_stop.
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
  return {
    url: `http://${host}:${port}`,
    port,
    stats: () => stats,
    reset,
    close: () => closeServer(server),
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
