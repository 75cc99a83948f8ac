/**
 * @module The proxy AnswerSource: forwards each request to the provider (or to another gateway)
 * and hands the answer back as it arrives, chunk by chunk (node:http/https; nothing is buffered).
 *
 * Keys: the client's own (`x-api-key` / `authorization`), or — when it sent none or a
 * placeholder — ANTHROPIC_API_KEY / OPENAI_API_KEY from drover's environment. Keys are only
 * ever put on the upstream request: never stored, logged or echoed.
 *
 * Attribution (`x-drover-*`) is stripped before a provider sees the request; it is forwarded
 * only to an upstream that is itself a drover gateway (it answers `HEAD /` with an
 * `x-drover-gateway` header), which then meters the request when it writes the same store.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import type { ProviderName } from '../../budget/ledger-types.js';
import { errorMessage, InputError } from '../../core/errors.js';
import { HOP_BY_HOP_HEADERS } from '../../net/index.js';
import { ATTRIBUTION_HEADERS, attributionHeaders } from '../attribution.js';
import { GATEWAY_HEADER } from '../identity.js';
import type { AnswerSource, ChunkFilter, GatewayRequest, SourceResponse } from '../pipeline/types.js';
import { routeOf } from '../routes.js';
import { isUsageChunk } from '../usage/chat.js';
import { eventJson, SseSplitter } from '../usage/sse.js';

export const DEFAULT_UPSTREAMS: Record<ProviderName, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com',
};

export interface ProxySourceOptions {
  /** Base URL of the Anthropic API (default https://api.anthropic.com; a trailing /v1 is ignored). */
  anthropic?: string;
  /** Base URL of the OpenAI API (default https://api.openai.com; a trailing /v1 is ignored). */
  openai?: string;
  /** Where fallback keys come from (default process.env): ANTHROPIC_API_KEY, OPENAI_API_KEY. */
  env?: Record<string, string | undefined>;
  /** How long `HEAD /` may take when asking whether an upstream is a drover gateway (ms, default 5000). */
  probeTimeoutMs?: number;
  /**
   * How long an idle upstream connection is kept for the next request (ms, default 60 000; never
   * past the upstream's own `Keep-Alive: timeout` hint, less a second — Node's Agent applies it).
   * Node's global agent drops them after 5 s, so a fleet that pauses between turns would pay a new
   * TCP and TLS handshake to the provider on its next request's time to first byte.
   * 0: no limit of drover's own.
   */
  idleConnectionMs?: number;
}

/** Key values that stand for "no key": what drover's own agents send to a gateway that adds the real one. */
const PLACEHOLDER_KEYS = new Set(['', 'drover', 'drover-sim', 'placeholder', 'dummy', 'none', 'sk-placeholder', 'test']);

/** True for a missing key or one of the placeholders (`drover-*`, `dummy`, ...). */
export function isPlaceholderKey(key: string | undefined): boolean {
  if (key === undefined) return true;
  const bare = key.replace(/^Bearer\s+/i, '').trim();
  return PLACEHOLDER_KEYS.has(bare.toLowerCase()) || bare.startsWith('drover-');
}

/**
 * Response headers of which Node's `IncomingMessage.headers` keeps only the first when repeated
 * (https://nodejs.org/api/http.html#messageheaders).
 */
const SINGLE_VALUED = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** Request headers never forwarded: this connection's, the body's (re-encoded), and drover's own. */
const DROP = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'content-length',
  'content-encoding',
  'accept-encoding',
  'x-drover-agent',
  ...Object.values(ATTRIBUTION_HEADERS),
]);

export class ProxySource implements AnswerSource {
  readonly mode = 'proxy' as const;
  private readonly bases: Record<ProviderName, URL>;
  /**
   * Each upstream as http.request options (Node's urlToHttpOptions: host, port, credentials), and
   * its base path without a trailing slash: worked out once, so a request builds no URL object
   * (see usage/meter.ts fullUsage on the proxy's GC pauses).
   */
  private readonly endpoints: Record<ProviderName, Endpoint>;
  private readonly env: Record<string, string | undefined>;
  private readonly probes = new Map<string, Promise<string | null>>();
  private readonly probeTimeoutMs: number;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };

  /** @throws InputError (exit 2) when an upstream is not an http(s) URL */
  constructor(options: ProxySourceOptions = {}) {
    this.bases = {
      anthropic: upstreamUrl('--upstream-anthropic', options.anthropic ?? DEFAULT_UPSTREAMS.anthropic),
      openai: upstreamUrl('--upstream-openai', options.openai ?? DEFAULT_UPSTREAMS.openai),
    };
    const endpoint = (url: URL): Endpoint => {
      const options = urlToHttpOptions(url);
      return {
        options,
        basePath: url.pathname.replace(/\/$/, ''),
        host: url.host,
        basicAuth: options.auth ? `Basic ${Buffer.from(options.auth).toString('base64')}` : null,
      };
    };
    this.endpoints = { anthropic: endpoint(this.bases.anthropic), openai: endpoint(this.bases.openai) };
    this.env = options.env ?? process.env;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 5000;
    const keep = { keepAlive: true, scheduling: 'lifo' as const, timeout: options.idleConnectionMs ?? 60_000 };
    this.agents = { http: new HttpAgent(keep), https: new HttpsAgent(keep) };
  }

  /** Closes the idle upstream connections (requests in flight end on their own). */
  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** The upstream base URL for a provider (no trailing slash, no /v1). */
  upstream(provider: ProviderName): string {
    return this.bases[provider].href.replace(/\/$/, '');
  }

  async sharesLedger(request: GatewayRequest, storeId: string): Promise<boolean> {
    return (await this.upstreamGateway(request.provider)) === storeId;
  }

  /**
   * The store identity the upstream names if it is a drover gateway (asked once per upstream
   * with `HEAD /`), else null. A failed probe counts as "not a drover gateway".
   */
  upstreamGateway(provider: ProviderName): Promise<string | null> {
    const base = this.upstream(provider);
    let probe = this.probes.get(base);
    if (!probe) {
      probe = this.probe(provider);
      this.probes.set(base, probe);
    }
    return probe;
  }

  async answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse> {
    const route = routeOf(request.path);
    const upstreamPath = route?.upstreamPath ?? request.path;
    const endpoint = this.endpoints[request.provider];
    const path = `${endpoint.basePath}${upstreamPath}${request.query ?? ''}`;
    const droverUpstream = (await this.upstreamGateway(request.provider)) !== null;
    const headers = this.forwardHeaders(request, droverUpstream);
    let body = request.rawBody;
    let clientFilter: ChunkFilter | undefined;
    if (asksNoUsage(request)) {
      // Ask for the usage chunk the client did not ask for, and keep it from the client.
      const so = request.body.stream_options;
      const options = so && typeof so === 'object' && !Array.isArray(so) ? so : {};
      body = Buffer.from(JSON.stringify({ ...request.body, stream_options: { ...options, include_usage: true } }));
      clientFilter = new UsageChunkFilter();
    }
    headers['content-length'] = String(body.length);
    let res: IncomingMessage;
    try {
      res = await send(endpoint, path, request.method, headers, body, signal, this.agents);
    } catch (err) {
      if (signal.aborted) throw err;
      // Named like the agents name an endpoint they cannot reach: provider and URL.
      throw new Error(`could not reach ${request.provider} at ${this.upstream(request.provider)} (${errorMessage(err)})`);
    }
    // From rawHeaders: reading `res.headers` would make Node build (and keep) a second copy.
    // Repeated names as Node's `headers` treats them: single-valued ones keep the first, others are joined.
    const out: Record<string, string> = {};
    const raw = res.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = (raw[i] as string).toLowerCase();
      const v = raw[i + 1] as string;
      const seen = out[k];
      if (seen === undefined) out[k] = v;
      else if (!SINGLE_VALUED.has(k)) out[k] = `${seen}, ${v}`;
    }
    const answer: SourceResponse = { status: res.statusCode ?? 502, headers: out, body: res };
    if (clientFilter) answer.clientFilter = clientFilter;
    return answer;
  }

  private forwardHeaders(request: GatewayRequest, droverUpstream: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const k in request.headers) {
      const v = request.headers[k];
      if (v === undefined || DROP.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    headers['accept-encoding'] = 'identity';
    if (request.provider === 'anthropic') {
      if (isPlaceholderKey(headers['x-api-key']) && isPlaceholderKey(headers.authorization)) {
        delete headers.authorization;
        const key = this.env.ANTHROPIC_API_KEY;
        if (key) headers['x-api-key'] = key;
      }
    } else if (isPlaceholderKey(headers.authorization)) {
      const key = this.env.OPENAI_API_KEY;
      if (key) headers.authorization = `Bearer ${key}`;
    }
    if (droverUpstream) {
      Object.assign(headers, attributionHeaders(request.attribution));
      const agent = request.headers['x-drover-agent'];
      if (typeof agent === 'string') headers['x-drover-agent'] = agent;
    }
    return headers;
  }

  private async probe(provider: ProviderName): Promise<string | null> {
    const endpoint = this.endpoints[provider];
    try {
      const res = await send(
        endpoint,
        `${endpoint.basePath}/`,
        'HEAD',
        {},
        Buffer.alloc(0),
        AbortSignal.timeout(this.probeTimeoutMs),
        this.agents,
      );
      res.resume();
      const id = res.headers[GATEWAY_HEADER];
      return typeof id === 'string' && id !== '' ? id : null;
    } catch {
      return null;
    }
  }
}

function upstreamUrl(flag: string, value: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value.replace(/\/$/, '').replace(/\/v1$/, ''));
  } catch {
    url = undefined;
  }
  const example = flag.includes('openai') ? DEFAULT_UPSTREAMS.openai : DEFAULT_UPSTREAMS.anthropic;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InputError(`${flag}: "${value}" is not an http(s) URL (example: ${example})`);
  }
  // A route in the base URL would be sent twice (`/v1/messages/v1/messages`): every request a 404.
  const route = /\/(v1\/)?(messages|responses|chat\/completions)(\/.*)?$/.exec(url.pathname);
  if (route) {
    throw new InputError(`${flag}: "${value}" names an API route (${route[0]}); give the base URL without it (example: ${example})`);
  }
  return url;
}

/**
 * A streamed Chat Completions request without `stream_options.include_usage`: drover asks the
 * provider for the usage chunk anyway (to meter it) and keeps it from the client — when proxying,
 * and when replaying a cassette recorded that way, so the client gets the same bytes both times.
 */
export function asksNoUsage(request: Pick<GatewayRequest, 'wire' | 'stream' | 'body'>): boolean {
  return request.wire === 'chat' && request.stream && !includesUsage(request.body);
}

function includesUsage(body: Record<string, unknown>): boolean {
  const so = body.stream_options;
  return !!so && typeof so === 'object' && (so as { include_usage?: unknown }).include_usage === true;
}

/** An upstream as http.request options, and its base path without a trailing slash. */
interface Endpoint {
  options: RequestOptions;
  basePath: string;
  /** The Host header (`url.host`: port when not the default, IPv6 in brackets). */
  host: string;
  /** `Basic …` from the URL's credentials, or null: what Node adds from `auth` when headers come as an object. */
  basicAuth: string | null;
}

/** Sends one request to `path` on `endpoint`; resolves with the response once its headers arrived (the body still streaming). */
function send(
  endpoint: Endpoint,
  path: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
  agents: { http: HttpAgent; https: HttpsAgent },
): Promise<IncomingMessage> {
  const tls = endpoint.options.protocol === 'https:';
  const request = tls ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // `signal` is watched here rather than passed to `request()`: Node's own handling adds a
    // stream.finished to every request (see net/when-closed.ts for why that matters). An abort
    // destroys the request, and with it the answer's body if it is streaming; the listener goes
    // when the answer closes.
    const onAbort = () => req.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
    // Headers as a flat [name, value, …] list: Node writes them as they are, where an object is
    // first copied into one [name, value] array per header, kept with the request for its whole
    // answer (at 200 open streams, part of what the proxy's young-generation GCs copy). Node then
    // adds neither Host nor the URL's credentials, so they are added here.
    const list: string[] = ['host', endpoint.host];
    for (const name in headers) list.push(name, headers[name] as string);
    if (endpoint.basicAuth && headers.authorization === undefined) list.push('authorization', endpoint.basicAuth);
    const { protocol, hostname, port } = endpoint.options;
    const options: RequestOptions = { protocol, hostname, port, path, method, headers: list, agent: tls ? agents.https : agents.http };
    // `on`, not `once`: `once` wraps each listener in a bound function and a state object.
    const req = request(options, (res) => {
      res.on('close', () => signal.removeEventListener('abort', onAbort));
      resolve(res);
    });
    req.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.end(method === 'HEAD' || method === 'GET' ? undefined : body);
  });
}

/**
 * Drops the usage-only chunk (`choices: []` with `usage`) from a Chat Completions stream whose
 * client did not ask for it; every other event passes byte for byte. Holds back at most one
 * unfinished event.
 */
export class UsageChunkFilter implements ChunkFilter {
  private readonly sse = new SseSplitter();

  push(chunk: Uint8Array): Uint8Array {
    const keep = this.sse.push(chunk).filter((e) => !isUsageChunk(eventJson(e)));
    return keep.length === 1 ? (keep[0] as { raw: Buffer }).raw : Buffer.concat(keep.map((e) => e.raw));
  }

  end(): Uint8Array {
    return this.sse.rest();
  }
}
