/**
 * @module 429s slow the run; they never drop an agent. An AnswerSource wrapper that retries
 * throttled and overloaded answers before the client sees a byte, and adapts how many requests
 * go out at once per (upstream, model).
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isQuotaExhausted, QUOTA_EXHAUSTED_HEADER } from '../../budget/quota.js';
import { whenClosed } from '../../net/index.js';
import type { AnswerSource, GatewayRequest, SourceResponse } from '../pipeline/types.js';
import { retryHint } from './headers.js';
import { AimdLimiter, type LimitSnapshot, type Slot } from './limiter.js';

/** Response header on an answer the wrapper gave up retrying: how many retries it made. */
export const RETRIES_HEADER = 'x-drover-retries';

/** One retry, as `onRetry` reports it (for events and the live tree). */
export interface RetryEvent {
  upstream: string;
  model: string;
  /** The status that was retried (429, 503, 529). */
  status: number;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the request waits before its next attempt, in ms. */
  waitMs: number;
}

/** In-flight requests per (upstream, model) before any throttle is seen. */
export const DEFAULT_MAX_CONCURRENCY = 1024;

/** Options of `withRateLimits`. All durations in ms. */
export interface RateLimitOptions {
  /**
   * Starting and highest in-flight limit per (upstream, model). Default `DEFAULT_MAX_CONCURRENCY`
   * (1024: no practical limit until the upstream throttles; a run's own `--concurrency` is what
   * bounds its agents).
   */
  maxConcurrency?: number;
  /** Attempts per request, the first included. Default 8. */
  maxAttempts?: number;
  /** Most a request waits between its attempts, summed; past it the last answer is returned. Default 600 000 (10 min). */
  maxTotalWaitMs?: number;
  /** Exponential backoff without a server hint: a wait drawn in [0, min(maxDelayMs, baseDelayMs × 2^(attempt−1))) (full jitter). Default 1000. */
  baseDelayMs?: number;
  /** Default 60 000. */
  maxDelayMs?: number;
  /** See `LimiterOptions.probeWindows`. Default 8. */
  probeWindows?: number;
  /** Statuses retried. Default 429, 503, 529; 429 and 529 also halve the limit. */
  retryStatuses?: readonly number[];
  /** Names a request's upstream. Default: its provider (`anthropic`, `openai`). */
  upstreamOf?: (request: GatewayRequest) => string;
  /** Waits `ms`, rejecting when `signal` aborts. Injectable so tests need no real seconds. */
  delay?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** In [0, 1). Default Math.random. */
  random?: () => number;
  /** ms since the epoch, for HTTP-date and RFC 3339 resets. Default Date.now. */
  now?: () => number;
  onRetry?: (event: RetryEvent) => void;
}

/** An AnswerSource with rate limits, and their state for the live tree. */
export interface RateLimitedSource extends AnswerSource {
  /** One entry per (upstream, model) seen so far. */
  snapshot(): LimitSnapshot[];
}

const MAX_ERROR_BODY = 1024 * 1024;
const QUOTA_STATUSES = new Set([400, 402, 403, 429]);

/**
 * Wraps `inner` so that:
 * - a 429, 503 or 529 answer is retried transparently — the client never sees it, since nothing
 *   of it was sent — after the wait the upstream asks for (`retry-after-ms`, `retry-after`, or the
 *   reset of an exhausted `anthropic-ratelimit-*` / `x-ratelimit-*` class; see headers.ts), else
 *   exponential backoff with full jitter; at most `maxAttempts` attempts and `maxTotalWaitMs` of
 *   waiting, after which the last answer is returned as it came, with `x-drover-retries`;
 * - requests of one (upstream, model) go through an AIMD limiter (limiter.ts): at most `limit` in
 *   flight, halved on a 429/529, raised by one per window of successes back to `maxConcurrency`;
 *   the rest wait in FIFO order (a retried request keeps its place) and are never dropped; a hint
 *   from the upstream pauses the whole (upstream, model), not only the request that got it;
 * - an answer that means money or quota is gone (quota.ts) is never retried: it is returned as it
 *   came plus the header `x-drover-quota-exhausted: 1`, so the run can stop with a clear message.
 * A request holds its slot until its body ends (or fails, or `signal` aborts). Errors thrown by
 * `inner` (a refused connection) pass through untouched, not retried.
 */
export function withRateLimits(inner: AnswerSource, options: RateLimitOptions = {}): RateLimitedSource {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 8);
  const maxTotalWaitMs = options.maxTotalWaitMs ?? 600_000;
  const baseDelayMs = options.baseDelayMs ?? 1000;
  const maxDelayMs = options.maxDelayMs ?? 60_000;
  const retryStatuses = new Set(options.retryStatuses ?? [429, 503, 529]);
  const upstreamOf = options.upstreamOf ?? ((r: GatewayRequest) => r.provider);
  const delay = options.delay ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, signal ? { signal } : {}));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const limiters = new Map<string, { upstream: string; model: string; limiter: AimdLimiter }>();
  let tickets = 0;

  const limiterFor = (upstream: string, model: string): AimdLimiter => {
    const key = `${upstream}\u0000${model}`;
    let entry = limiters.get(key);
    if (!entry) {
      const limiter = new AimdLimiter({
        max: options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
        probeWindows: options.probeWindows ?? 8,
        delay: (ms) => delay(ms).catch(() => {}),
        now,
      });
      entry = { upstream, model, limiter };
      limiters.set(key, entry);
    }
    return entry.limiter;
  };

  return {
    mode: inner.mode,
    // The chained-gateway check and close pass through: the wrapper only paces answers.
    ...(inner.sharesLedger
      ? { sharesLedger: (r: GatewayRequest, id: string) => inner.sharesLedger?.(r, id) ?? Promise.resolve(false) }
      : {}),
    ...(inner.close ? { close: () => inner.close?.() ?? Promise.resolve() } : {}),
    snapshot: () => [...limiters.values()].map((e) => e.limiter.snapshot(e.upstream, e.model)),
    async answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse> {
      const upstream = upstreamOf(request);
      const limiter = limiterFor(upstream, request.model);
      const ticket = tickets++;
      let waited = 0;
      for (let attempt = 1; ; attempt++) {
        const slot = await limiter.acquire(ticket, signal);
        let response: SourceResponse;
        try {
          response = await inner.answer(request, signal);
        } catch (err) {
          slot.release();
          throw err;
        }
        const hint = retryHint(response.headers, now());
        if (hint.exhaustedResetMs !== null) limiter.pause(hint.exhaustedResetMs);
        if (!retryStatuses.has(response.status)) {
          if (response.status < 400) limiter.succeeded();
          if (!QUOTA_STATUSES.has(response.status)) return holding(response, slot, signal);
          const bytes = await readAll(response.body);
          slot.release();
          return answerOf(response, bytes, isQuotaExhausted(response.status, bytes) ? { [QUOTA_EXHAUSTED_HEADER]: '1' } : {});
        }
        const bytes = await readAll(response.body);
        if (isQuotaExhausted(response.status, bytes)) {
          slot.release();
          return answerOf(response, bytes, { [QUOTA_EXHAUSTED_HEADER]: '1' });
        }
        if (response.status === 429 || response.status === 529) limiter.throttled(slot);
        const hinted = hint.retryAfterMs ?? hint.exhaustedResetMs;
        if (hinted !== null) limiter.pause(hinted);
        const waitMs =
          hinted !== null ? hinted + random() * (baseDelayMs / 4) : random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        slot.release();
        if (attempt >= maxAttempts || waited + waitMs > maxTotalWaitMs) {
          return answerOf(response, bytes, { [RETRIES_HEADER]: String(attempt - 1) });
        }
        limiter.retries++;
        options.onRetry?.({ upstream, model: request.model, status: response.status, attempt, waitMs });
        waited += waitMs;
        await delay(waitMs, signal);
      }
    },
  };
}

/** The response with its slot released when the body ends, fails, is abandoned, or `signal` aborts. */
function holding(response: SourceResponse, slot: Slot, signal: AbortSignal): SourceResponse {
  const release = () => {
    signal.removeEventListener('abort', release);
    slot.release();
  };
  signal.addEventListener('abort', release, { once: true });
  let body: AsyncIterable<Uint8Array>;
  if (response.body instanceof Readable) {
    // The stream itself, untouched (the server pipes it by events); `close` also comes when it
    // is destroyed unread.
    whenClosed(response.body, release);
    body = response.body;
  } else {
    const inner = response.body;
    body = (async function* () {
      try {
        yield* inner;
      } finally {
        release();
      }
    })();
  }
  const held: SourceResponse = { status: response.status, headers: response.headers, body };
  if (response.clientFilter) held.clientFilter = response.clientFilter;
  return held;
}

function answerOf(response: SourceResponse, bytes: Buffer, extra: Record<string, string>): SourceResponse {
  return {
    status: response.status,
    headers: { ...response.headers, ...extra },
    body: (async function* () {
      if (bytes.length > 0) yield bytes;
    })(),
  };
}

/** An error body, whole (they are small); at most 1 MiB is kept. A body that fails mid-way keeps what came. */
async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      if (size < MAX_ERROR_BODY) parts.push(Buffer.from(chunk));
      size += chunk.byteLength;
    }
  } catch {
    // What came is what the client gets.
  }
  return Buffer.concat(parts);
}
