/**
 * @module `startGateway`: drover's model gateway, one HTTP server on 127.0.0.1 for every mode.
 * Each model request passes one pipeline:
 *   attribution → policy hook → cap reservation → answer source → metering → settlement.
 * The source is what differs between modes (proxy: the provider; sim: a scenario; record and
 * replay: cassettes). Everything else — the ledger row, the caps, the attribution — is shared.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { GatewayMode, LedgerEntry, LedgerSink, RefusalKind } from '../budget/ledger-types.js';
import type { PriceOverrides } from '../budget/prices.js';
import { errorMessage } from '../core/errors.js';
import { BodyError, closeServer, HOP_BY_HOP_HEADERS, originGuard, readBody, whenClosed } from '../net/index.js';
import { attributionOf } from './attribution.js';
import { BUDGET_EXCEEDED_STATUS, POLICY_REFUSED_STATUS, UPSTREAM_UNREACHABLE_STATUS, wireError } from './errors.js';
import { GATEWAY_HEADER, storeIdentity } from './identity.js';
import { ledgerEntry } from './ledger-entry.js';
import type { AnswerSource, GatewayRequest, HeldBudget, PolicyStage, ReservationStage, SourceResponse } from './pipeline/types.js';
import { RequestLog, type RequestLogLimits } from './request-log.js';
import { type ModelRoute, maxTokensOf, routeOf, splitAttributionPrefix } from './routes.js';
import { loadTokenCounter } from './tokens.js';
import { meterFor, type WireMeter } from './usage/index.js';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface GatewayOptions {
  mode: GatewayMode;
  /** Where answers come from (src/gateway/sources/). */
  source: AnswerSource;
  /**
   * The mode written on ledger rows, when it is not `mode`: a run's gateway proxying to its own sim
   * (`drover run --sim`, with or without `--record`) writes `sim` — no provider billed those answers.
   */
  ledgerMode?: GatewayMode;
  /** Where ledger rows go (the store's `ledger`); without one they are only kept in memory. */
  ledger?: LedgerSink;
  /**
   * The identity named in the `x-drover-gateway` header (see identity.ts `storeIdentity`):
   * the same for every gateway writing the same store. Default: a random one (shares with no one).
   */
  storeId?: string;
  /** How many rows are kept in memory (request-log.ts); the store keeps every row. */
  logLimits?: RequestLogLimits;
  /** Cap reservation; without it, nothing is reserved. */
  reservations?: ReservationStage;
  /** Price overrides (drover.config.json `prices`) for ledger rows, as the reservation stage uses them. */
  prices?: PriceOverrides;
  /** Policy hook; without it, every request is allowed. */
  policy?: PolicyStage;
  /** The run an in-process gateway serves: requests that name no run are attributed to it. */
  runId?: string;
  /** The workflow of rows whose request names none (the run's `meta.name` for an in-process gateway). */
  workflow?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Called when a ledger row could not be written (default: a line on stderr). Never with a secret. */
  onError?: (message: string) => void;
}

export interface GatewayStats {
  requests: number;
  /** Most model requests being answered at the same moment. */
  maxInFlight: number;
  byStatus: Record<string, number>;
}

export interface Gateway {
  url: string;
  port: number;
  mode: GatewayMode;
  storeId: string;
  /** Rows of finished requests, oldest first (the latest 2000). Delegated ones are kept here too, never recorded. */
  entries(): LedgerEntry[];
  /**
   * Rows of one agent call (its attribution's callKey), in order; null when they were dropped from
   * memory (see RequestLogLimits) — the store keeps them.
   */
  entriesFor(callKey: string): LedgerEntry[] | null;
  stats(): GatewayStats;
  /** Resolves once no request is in flight (every row written). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the gateway. Listens on `host:port` (127.0.0.1, a free port by default) and refuses
 * requests whose Host or Origin is not this server (403).
 *
 * Routes: `POST /v1/messages` (+ `/count_tokens`, not metered), `POST /v1/responses`,
 * `POST /v1/chat/completions` (also without `/v1`), each also under `/r/<run>[/c/<call>]`;
 * `HEAD /`, `GET /`; `GET /_drover/stats[?log=1]`; `GET /_drover/usage?tag=<call>` (410 once the call's rows were dropped from memory); and the
 * source's own `/_drover/...` routes (the sim's gates and reset).
 *
 * Refusals are answered in the wire's own error shape: a cap (BudgetExceededError from the
 * reservation stage) → 402 `budget_exceeded`; the policy hook → 403 `permission_error`; an
 * unreachable upstream → 502 `api_error` (message: `could not reach <provider> at <url> (<reason>)`). Each leaves a ledger row with its status and 0 tokens.
 * @throws Error when the port cannot be bound
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { mode, source } = options;
  const rowMode = options.ledgerMode ?? mode;
  const storeId = options.storeId ?? storeIdentity(null);
  const label = mode === 'sim' ? 'sim gateway' : 'drover gateway';
  const onError = options.onError ?? ((m: string) => process.stderr.write(`${label}: ${m}\n`));
  const stats: GatewayStats = { requests: 0, maxInFlight: 0, byStatus: {} };
  const requests = new Set<AbortController>();
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  /** Requests in flight per agent call, so `/_drover/usage?tag=` answers only once the call's rows are in. */
  const callsInFlight = new Map<string, { count: number; waiters: (() => void)[] }>();
  const callSettled = (callKey: string) =>
    new Promise<void>((resolve) => {
      const c = callsInFlight.get(callKey);
      if (!c) resolve();
      else c.waiters.push(resolve);
    });
  const log = new RequestLog((callKey) => callsInFlight.has(callKey), options.logLimits);

  const remember = (entry: LedgerEntry) => {
    stats.requests++;
    stats.byStatus[entry.status] = (stats.byStatus[entry.status] ?? 0) + 1;
    log.add(entry);
  };

  /**
   * Writes the row (unless another gateway on this store wrote it), then settles the hold: in that
   * order, so no moment exists where the hold is gone and the money not yet in the ledger. A hold
   * settled with the row's id only releases; without one (no ledger here) the stage records the row.
   */
  const settle = async (entry: LedgerEntry, hold: HeldBudget | undefined, delegated: boolean) => {
    remember(entry);
    if (!delegated && options.ledger) {
      try {
        // The id is set on the row itself (the log's copy shows it too), not on a spread copy: see
        // fullUsage in usage/meter.ts for why the gateway builds no object per request by spreading.
        entry.id = await options.ledger.record(entry);
      } catch (err) {
        onError(`could not record a ledger row: ${errorMessage(err)}`);
      }
    }
    try {
      await hold?.settle(entry);
    } catch (err) {
      onError(`could not settle a reservation: ${errorMessage(err)}`);
    }
  };

  let guard: (req: IncomingMessage) => string | null = () => 'the server is starting';
  const defaults = {
    ...(options.runId !== undefined ? { runId: options.runId } : {}),
    ...(options.workflow !== undefined ? { workflow: options.workflow } : {}),
  };

  /** Every answer names this gateway's store (`x-drover-gateway`); see identity.ts. */
  const own = { [GATEWAY_HEADER]: storeId };
  const sendJson = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) =>
    sendJsonAnswer(res, status, value, headers ? { ...own, ...headers } : own);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = guard(req);
    if (refusal) {
      sendJson(res, 403, wireError(null, 'permission_error', `${label}: ${refusal}`, 403));
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const query = rawQuery ? `?${rawQuery}` : '';
    const prefix = splitAttributionPrefix(rawPath);
    const path = prefix.path;
    const method = req.method ?? 'GET';
    if (method === 'HEAD' || (method === 'GET' && path === '/')) {
      res.writeHead(200, { 'content-type': 'application/json', ...own });
      res.end(method === 'HEAD' ? undefined : JSON.stringify({ ok: true, gateway: 'drover', mode }));
      return;
    }
    const params = new URLSearchParams(rawQuery);
    const admin = path.startsWith('/_drover/') ? source.adminRoute?.(method, path, params) : null;
    if (admin) {
      sendJson(res, admin.status, admin.body);
      return;
    }
    if (method === 'GET' && path === '/_drover/stats') {
      sendJson(res, 200, { ...stats, ...(params.get('log') === '1' ? { log: log.latest() } : {}) });
      return;
    }
    if (method === 'GET' && path === '/_drover/usage') {
      const tag = params.get('tag');
      if (!tag) {
        sendJson(res, 400, wireError('chat', 'invalid_request_error', 'usage: the tag query parameter is required', 400));
        return;
      }
      await callSettled(tag);
      const rows = log.forCall(tag);
      if (!rows) {
        // 410, not an empty list: an empty list says the call made no requests, and a CLI agent would record zero.
        sendJson(
          res,
          410,
          wireError(null, 'not_found_error', `usage: the rows of call ${tag} are no longer kept in memory (the store has them)`, 410),
        );
        return;
      }
      sendJson(res, 200, { tag, requests: rows.map(usageRecord) });
      return;
    }
    const route = routeOf(path);
    if (method !== 'POST' || !route) {
      sendJson(res, 404, wireError(null, 'not_found_error', `${label}: no route ${method} ${path}`, 404));
      return;
    }
    let request: GatewayRequest;
    try {
      request = await readRequest(req, route, path, query, prefix, defaults);
    } catch (err) {
      const status = err instanceof BodyError ? err.status : 400;
      sendJson(
        res,
        status,
        wireError(route.wire, status === 413 ? 'request_too_large' : 'invalid_request_error', errorMessage(err), status),
        // A body over the limit is not read further: the connection closes once the answer is out.
        status === 413 ? { connection: 'close' } : undefined,
      );
      return;
    }
    const gone = new AbortController();
    requests.add(gone);
    // `on`, not `once` (a bound wrapper and a state object per request): 'close' comes once.
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('the client hung up'));
    });
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    const callKey = request.attribution.callKey;
    if (callKey) {
      const c = callsInFlight.get(callKey) ?? { count: 0, waiters: [] };
      c.count++;
      callsInFlight.set(callKey, c);
    }
    try {
      if (route.countOnly) await passThrough(request, res, gone.signal);
      else await exchange(request, res, gone.signal);
    } finally {
      requests.delete(gone);
      inFlight--;
      const c = callKey ? callsInFlight.get(callKey) : undefined;
      if (callKey && c && --c.count === 0) {
        callsInFlight.delete(callKey);
        for (const w of c.waiters) w();
      }
      if (inFlight === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** count_tokens: the source answers, nothing is metered or reserved. */
  async function passThrough(request: GatewayRequest, res: ServerResponse, signal: AbortSignal): Promise<void> {
    let answer: SourceResponse;
    try {
      answer = await source.answer(request, signal);
    } catch (err) {
      if (signal.aborted) return;
      sendJson(res, UPSTREAM_UNREACHABLE_STATUS, wireError(request.wire, 'api_error', `${label}: ${errorMessage(err)}`, 502));
      return;
    }
    await pipe(answer, res, null, signal);
  }

  async function exchange(request: GatewayRequest, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const refuse = async (refusedBy: RefusalKind, status: number, type: string, message: string) => {
      sendJson(res, status, wireError(request.wire, type, message, status));
      await settle(
        ledgerEntry(
          request,
          rowMode,
          { status, sourceStatus: null, endedAt: Date.now(), ttfbMs: null, meter: null, refusedBy },
          options.prices,
        ),
        undefined,
        false,
      );
    };
    const why = await options.policy?.check(request);
    if (why) return refuse('policy', POLICY_REFUSED_STATUS, 'permission_error', why);
    const shared = (await source.sharesLedger?.(request, storeId)) ?? false;
    let hold: HeldBudget | undefined;
    if (!shared && options.reservations) {
      try {
        hold = await options.reservations.reserve(request, signal);
      } catch (err) {
        if (isBudgetExceeded(err)) return refuse('budget', BUDGET_EXCEEDED_STATUS, 'budget_exceeded', errorMessage(err));
        if (signal.aborted) return settleEnd(request, hold, false, 499, null, null, null);
        throw err;
      }
    }
    let answer: SourceResponse;
    try {
      answer = await source.answer(request, signal);
    } catch (err) {
      if (signal.aborted) return settleEnd(request, hold, false, 499, null, null, null);
      const message = `${label}: ${errorMessage(err)}`;
      sendJson(res, UPSTREAM_UNREACHABLE_STATUS, wireError(request.wire, 'api_error', message, UPSTREAM_UNREACHABLE_STATUS));
      return settleEnd(request, hold, false, UPSTREAM_UNREACHABLE_STATUS, null, null, null);
    }
    const delegated = answer.headers[GATEWAY_HEADER] === storeId;
    const meter = meterFor(request.wire, answer.headers['content-type'] ?? '');
    const { status, ttfbMs } = await pipe(answer, res, meter, signal);
    return settleEnd(request, hold, delegated, status, answer.status, ttfbMs, meter);
  }

  async function settleEnd(
    request: GatewayRequest,
    hold: HeldBudget | undefined,
    delegated: boolean,
    status: number,
    sourceStatus: number | null,
    ttfbMs: number | null,
    meter: WireMeter | null,
  ): Promise<void> {
    // The tokenizer (~100 ms to load) is needed only to estimate an answer that never reported usage.
    if (meter && sourceStatus !== null && sourceStatus >= 200 && sourceStatus < 300 && !meter.finish()) await loadTokenCounter();
    return settle(
      ledgerEntry(request, rowMode, { status, sourceStatus, endedAt: Date.now(), ttfbMs, meter }, options.prices),
      hold,
      delegated,
    );
  }

  /**
   * Sends the answer to the client chunk by chunk as it arrives, each chunk metered first.
   * Returns the status the client got: the source's, 0 when the body broke off (the client's
   * connection is cut too), 499 when the client hung up.
   *
   * Event-driven rather than `for await`: at 200 concurrent streams the proxy handles thousands of
   * chunks a second, and each promise layer per chunk shows up as added time to first byte.
   */
  function pipe(
    answer: SourceResponse,
    res: ServerResponse,
    meter: WireMeter | null,
    signal: AbortSignal,
  ): Promise<{ status: number; ttfbMs: number | null }> {
    const started = Date.now();
    let ttfbMs: number | null = null;
    // A flat [name, value, …] list, and no setHeader before: Node then writes the headers as they
    // are instead of keeping a [name, value] array per header for the whole answer (see proxy.ts send).
    const headers: string[] = [GATEWAY_HEADER, storeId];
    for (const k in answer.headers) {
      const name = k.toLowerCase();
      if (HOP_BY_HOP_HEADERS.has(name) || name === GATEWAY_HEADER) continue;
      if (name === 'content-length' && answer.clientFilter) continue;
      headers.push(name, answer.headers[k] as string);
    }
    if (!res.destroyed) res.writeHead(answer.status, headers);
    const filter = answer.clientFilter;
    const body = answer.body instanceof Readable ? answer.body : Readable.from(answer.body, { objectMode: false });
    return new Promise((resolve) => {
      let ended = false;
      /** `whole`: the answer ended normally (an empty one's first byte is its end). */
      const finish = (status: number, whole = false) => {
        if (ended) return;
        ended = true;
        body.off('data', onData);
        res.off('drain', onDrain);
        signal.removeEventListener('abort', onAbort);
        resolve({ status, ttfbMs: whole ? (ttfbMs ?? Date.now() - started) : ttfbMs });
      };
      const onData = (chunk: Uint8Array) => {
        if (ttfbMs === null) ttfbMs = Date.now() - started;
        meter?.observe(chunk);
        const out = filter ? filter.push(chunk) : chunk;
        if (out.length > 0 && !res.destroyed && !res.write(out)) body.pause();
      };
      const onDrain = () => body.resume();
      const onAbort = () => {
        finish(499);
        body.destroy();
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      res.on('drain', onDrain);
      body.on('data', onData);
      whenClosed(body, (err) => {
        if (ended) return;
        if (signal.aborted || res.destroyed) return finish(499);
        if (err) {
          // The upstream broke off mid-answer: the client sees the same cut, after what came before it.
          res.write('', () => {
            res.destroy();
            finish(0);
          });
          return;
        }
        const rest = filter?.end();
        if (rest && rest.length > 0) res.write(rest);
        res.end(() => finish(answer.status, true));
      });
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, wireError(null, 'api_error', `${label} failure: ${errorMessage(err)}`, 500));
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = (server.address() as AddressInfo).port;
  guard = originGuard(host, port);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    mode,
    storeId,
    entries: () => log.latest(),
    entriesFor: (callKey) => log.forCall(callKey),
    stats: () => ({ ...stats, byStatus: { ...stats.byStatus } }),
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    close: async () => {
      for (const r of requests) r.abort(new Error('the gateway closed'));
      await source.close?.();
      await closeServer(server);
      // Aborted requests still write their rows (499) before the caller closes the store.
      if (inFlight > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

async function readRequest(
  req: IncomingMessage,
  route: ModelRoute,
  path: string,
  query: string,
  prefix: { runId: string | null; callKey: string | null },
  defaults: { runId?: string; workflow?: string },
): Promise<GatewayRequest> {
  const receivedAt = Date.now();
  const rawBody = await readBody(req, MAX_BODY_BYTES);
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch (err) {
    throw new BodyError(400, `request body is not valid JSON: ${errorMessage(err)}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BodyError(400, 'body: expected a JSON object');
  const b = body as Record<string, unknown>;
  return {
    receivedAt,
    method: req.method ?? 'POST',
    path,
    query,
    headers: req.headers,
    rawBody,
    body: b,
    wire: route.wire,
    provider: route.provider,
    model: typeof b.model === 'string' ? b.model : '',
    stream: b.stream === true,
    maxTokens: maxTokensOf(b),
    attribution: attributionOf(req.headers, prefix, defaults),
  };
}

/** BudgetExceededError by its code (it may come from another copy of drover's modules). */
function isBudgetExceeded(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { code?: unknown }).code === 'BUDGET_EXCEEDED';
}

function sendJsonAnswer(res: ServerResponse, status: number, value: unknown, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A row as `GET /_drover/usage` shows it: Anthropic-style usage (what older readers expect) plus the row. */
function usageRecord(e: LedgerEntry) {
  const counted = e.priceFlag === 'estimated' || e.status === 200 || e.status === 0;
  return {
    startedAt: e.startedAt,
    at: e.endedAt,
    requestId: e.requestId,
    model: e.model,
    status: e.status,
    tag: e.callKey,
    usage: counted
      ? {
          input_tokens: e.inputTokens,
          output_tokens: e.outputTokens,
          cache_read_input_tokens: e.cacheReadTokens,
          cache_creation_input_tokens: e.cacheWrite5mTokens + e.cacheWrite1hTokens,
        }
      : null,
    ledger: e,
  };
}
