import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import type { AnswerSource, GatewayRequest, SourceResponse } from '../src/gateway/pipeline/types.js';
import {
  AimdLimiter,
  DEFAULT_MAX_CONCURRENCY,
  isQuotaExhausted,
  parseDuration,
  QUOTA_EXHAUSTED_HEADER,
  QuotaExhaustedError,
  RETRIES_HEADER,
  retryAfterMs,
  retryHint,
  type Slot,
  withRateLimits,
} from '../src/gateway/rate-limit/index.js';
import { gateway } from './helpers.js';
import { forwardSource, serveSource } from './source-harness.js';

function request(model = 'claude-sonnet-5', n = 0): GatewayRequest {
  const body = { model, max_tokens: 10, messages: [{ role: 'user', content: `hello ${n}` }] };
  return {
    receivedAt: Date.now(),
    method: 'POST',
    path: '/v1/messages',
    headers: {},
    rawBody: Buffer.from(JSON.stringify(body)),
    body,
    wire: 'anthropic',
    provider: 'anthropic',
    model,
    stream: false,
    maxTokens: 10,
    attribution: { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null },
  };
}

function bodyOf(text: string): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield Buffer.from(text);
  })();
}

async function text(res: SourceResponse): Promise<string> {
  let out = '';
  for await (const c of res.body) out += Buffer.from(c).toString();
  return out;
}

/** Resolves when `cond` holds, re-checked on every `notify()`. */
class Watch {
  private waiters: { cond: () => boolean; resolve: () => void }[] = [];
  notify(): void {
    for (const w of this.waiters.filter((w) => w.cond())) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ cond, resolve }));
  }
}

/**
 * An upstream that answers 429 above `n` concurrent requests of a model and holds every accepted answer's
 * body until the test releases it.
 */
function limitedUpstream(n: number) {
  const watch = new Watch();
  const accepted: string[] = [];
  const releases: (() => void)[] = [];
  // Per model, as providers limit.
  const inFlightOf = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let throttled = 0;
  const source: AnswerSource = {
    mode: 'proxy',
    async answer(req) {
      const prompt = String((req.body.messages as { content: string }[])[0]?.content);
      if ((inFlightOf.get(req.model) ?? 0) >= n) {
        throttled++;
        watch.notify();
        return {
          status: 429,
          headers: { 'content-type': 'application/json' },
          body: bodyOf('{"type":"error","error":{"type":"rate_limit_error","message":"Too many concurrent requests"}}'),
        };
      }
      inFlight++;
      inFlightOf.set(req.model, (inFlightOf.get(req.model) ?? 0) + 1);
      maxInFlight = Math.max(maxInFlight, inFlight);
      accepted.push(prompt);
      let release = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      releases.push(release);
      watch.notify();
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: (async function* () {
          await held;
          yield Buffer.from(`{"answer":"${prompt}"}`);
          inFlight--;
          inFlightOf.set(req.model, (inFlightOf.get(req.model) ?? 1) - 1);
          watch.notify();
        })(),
      };
    },
  };
  return {
    source,
    watch,
    accepted,
    releases,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get throttled() {
      return throttled;
    },
  };
}

const instant = { delay: async () => {}, random: () => 0.5 };

describe('rate limits: headers', () => {
  it('reads retry-after as seconds, as an HTTP date, and retry-after-ms', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    expect(retryAfterMs({ 'retry-after': '7' }, now)).toBe(7000);
    expect(retryAfterMs({ 'retry-after': '0.25' }, now)).toBe(250);
    expect(retryAfterMs({ 'retry-after': 'Mon, 30 Nov 2026 12:00:03 GMT' }, now)).toBe(3000);
    expect(retryAfterMs({ 'retry-after': 'Mon, 30 Nov 2026 11:00:00 GMT' }, now)).toBe(0);
    expect(retryAfterMs({ 'retry-after-ms': '120', 'retry-after': '9' }, now)).toBe(120);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeNull();
    expect(retryAfterMs({}, now)).toBeNull();
  });

  it("reads OpenAI's reset durations", () => {
    expect(parseDuration('1s')).toBe(1000);
    expect(parseDuration('6m0s')).toBe(360_000);
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseDuration('2')).toBe(2000);
    expect(parseDuration('6 minutes')).toBeNull();
    expect(parseDuration('')).toBeNull();
  });

  it('takes the latest reset of an exhausted class only', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    const anthropic = {
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2026-11-30T12:00:04Z',
      'anthropic-ratelimit-tokens-remaining': '0',
      'anthropic-ratelimit-tokens-reset': '2026-11-30T12:00:09Z',
      'anthropic-ratelimit-output-tokens-remaining': '500',
      'anthropic-ratelimit-output-tokens-reset': '2026-11-30T12:01:00Z',
    };
    expect(retryHint(anthropic, now)).toEqual({ retryAfterMs: null, exhaustedResetMs: 9000 });
    expect(retryHint({ ...anthropic, 'anthropic-ratelimit-tokens-remaining': '12' }, now).exhaustedResetMs).toBe(4000);
    const openai = {
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '6m0s',
      'x-ratelimit-remaining-tokens': '100',
      'x-ratelimit-reset-tokens': '1h',
    };
    expect(retryHint(openai, now).exhaustedResetMs).toBe(360_000);
    expect(retryHint({ ...openai, 'x-ratelimit-remaining-requests': '3' }, now).exhaustedResetMs).toBeNull();
  });
});

describe('rate limits: money or quota gone', () => {
  it('recognises Anthropic credit and spend-limit errors and OpenAI insufficient_quota, not plain rate limits', () => {
    expect(
      isQuotaExhausted(
        400,
        '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}',
      ),
    ).toBe(true);
    expect(
      isQuotaExhausted(400, {
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: 'You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.',
        },
      }),
    ).toBe(true);
    const openai = {
      error: {
        message: 'You exceeded your current quota, please check your plan and billing details.',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    };
    expect(isQuotaExhausted(429, Buffer.from(JSON.stringify(openai)))).toBe(true);
    expect(
      isQuotaExhausted(
        429,
        '{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your per-minute rate limit"}}',
      ),
    ).toBe(false);
    expect(isQuotaExhausted(429, { error: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached' } })).toBe(false);
    expect(isQuotaExhausted(500, openai)).toBe(false);
  });

  it("names the upstream and the provider's words in QuotaExhaustedError", () => {
    const err = new QuotaExhaustedError(
      'openai',
      429,
      '{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota"}}',
    );
    expect(err).toMatchObject({ code: 'QUOTA_EXHAUSTED', exitCode: 1, status: 429 });
    expect(err.message).toBe(
      "openai: the account's money or quota is gone (HTTP 429: You exceeded your current quota, please check your plan and billing details.); drover does not retry this — add credit or raise the limit, then resume the run",
    );
    expect(new QuotaExhaustedError('anthropic', 400, 'not json').providerMessage).toBe('not json');
  });

  it('never retries a quota-exhausted 429 and marks it for the run', async () => {
    let calls = 0;
    const body =
      '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}';
    const source = withRateLimits(
      {
        mode: 'proxy',
        async answer() {
          calls++;
          return { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '1' }, body: bodyOf(body) };
        },
      },
      instant,
    );
    const res = await source.answer(request('gpt-5.5'), new AbortController().signal);
    expect(res.status).toBe(429);
    expect(res.headers[QUOTA_EXHAUSTED_HEADER]).toBe('1');
    expect(await text(res)).toBe(body);
    expect(calls).toBe(1);
    expect(source.snapshot()[0]).toMatchObject({ limit: DEFAULT_MAX_CONCURRENCY, decreases: 0, retries: 0 });
  });

  it('marks an Anthropic credit-balance 400 too', async () => {
    const body =
      '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}';
    const source = withRateLimits({ mode: 'proxy', answer: async () => ({ status: 400, headers: {}, body: bodyOf(body) }) }, instant);
    const res = await source.answer(request(), new AbortController().signal);
    expect(res.headers[QUOTA_EXHAUSTED_HEADER]).toBe('1');
    expect(await text(res)).toBe(body);
    const plain = withRateLimits({ mode: 'proxy', answer: async () => ({ status: 400, headers: {}, body: bodyOf('{"bad":1}') }) }, instant);
    expect((await plain.answer(request(), new AbortController().signal)).headers[QUOTA_EXHAUSTED_HEADER]).toBeUndefined();
  });
});

describe('rate limits: retries', () => {
  function scripted(answers: { status: number; headers?: Record<string, string> }[]) {
    let i = 0;
    const source: AnswerSource = {
      mode: 'proxy',
      async answer() {
        const a = answers[Math.min(i++, answers.length - 1)] as { status: number; headers?: Record<string, string> };
        return { status: a.status, headers: a.headers ?? {}, body: bodyOf(a.status === 200 ? 'ok' : `{"error":${a.status}}`) };
      },
    };
    return { source, calls: () => i };
  }

  it('waits what retry-after says (seconds, HTTP date, reset headers), the client never seeing the 429', async () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    const waits: number[] = [];
    const up = scripted([
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 429, headers: { 'retry-after': 'Mon, 30 Nov 2026 12:00:03 GMT' } },
      { status: 429, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' } },
      { status: 200 },
    ]);
    const source = withRateLimits(up.source, {
      delay: async (ms) => void waits.push(ms),
      random: () => 0,
      now: () => now,
      maxTotalWaitMs: 3_600_000,
    });
    const res = await source.answer(request(), new AbortController().signal);
    expect(res.status).toBe(200);
    expect(await text(res)).toBe('ok');
    expect(up.calls()).toBe(4);
    // The limiter's own pauses also go through `delay`: keep the request's waits (≥ the hint).
    expect(waits.filter((w) => w >= 3000)).toEqual(expect.arrayContaining([7000, 3000, 360_000]));
    expect(source.snapshot()[0]).toMatchObject({ retries: 3, throttled: 3 });
  });

  it('backs off exponentially with full jitter and gives up after maxAttempts with the last answer', async () => {
    const waits: number[] = [];
    const up = scripted([{ status: 503 }]);
    const source = withRateLimits(up.source, {
      delay: async (ms) => void waits.push(ms),
      random: () => 0.5,
      baseDelayMs: 100,
      maxDelayMs: 250,
      maxAttempts: 4,
    });
    const res = await source.answer(request(), new AbortController().signal);
    expect(res.status).toBe(503);
    expect(res.headers[RETRIES_HEADER]).toBe('3');
    expect(await text(res)).toBe('{"error":503}');
    expect(waits).toEqual([50, 100, 125]);
    expect(up.calls()).toBe(4);
    // 503 is an outage, not a throttle: the limit stays.
    expect(source.snapshot()[0]).toMatchObject({ limit: DEFAULT_MAX_CONCURRENCY, decreases: 0, retries: 3 });
  });

  it('returns the 429 at once when waiting would pass maxTotalWaitMs', async () => {
    const up = scripted([{ status: 429, headers: { 'retry-after': '60' } }, { status: 200 }]);
    const source = withRateLimits(up.source, { ...instant, maxTotalWaitMs: 30_000 });
    const res = await source.answer(request(), new AbortController().signal);
    expect(res.status).toBe(429);
    expect(res.headers[RETRIES_HEADER]).toBe('0');
    expect(up.calls()).toBe(1);
  });

  it('retries through real HTTP: the official SDK with no retries of its own sees only the answer', async () => {
    const sim = await gateway(`
rules:
  - name: limited
    match: { prompt: 'flaky' }
    faults: [{ status: 429, times: 2, retry_after_s: 0 }]
    turns: [{ text: ok after limits }]
`);
    const waits: number[] = [];
    const limited = withRateLimits(forwardSource(sim.url), { delay: async (ms) => void waits.push(ms), random: () => 0 });
    const server = await serveSource(limited);
    const client = new Anthropic({ baseURL: server.url, apiKey: 'test', maxRetries: 0 });
    const msg = await client.messages.create({ model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'flaky' }] });
    expect(msg.content).toEqual([{ type: 'text', text: 'ok after limits' }]);
    expect(sim.stats().byStatus).toEqual({ 200: 1, 429: 2 });
    expect(limited.snapshot()).toEqual([
      expect.objectContaining({ upstream: 'anthropic', model: 'claude-sonnet-5', retries: 2, throttled: 2 }),
    ]);
  });
});

describe('rate limits: adaptive concurrency', () => {
  it('halves the limit once per burst of 429s, queues the rest in FIFO order and drops none', async () => {
    const up = limitedUpstream(2);
    const source = withRateLimits(up.source, { ...instant, maxConcurrency: 4 });
    const signal = new AbortController().signal;
    const answers = Array.from({ length: 6 }, (_, i) => source.answer(request('m', i), signal).then(text));
    // 4 sent at once: 2 accepted, 2 throttled; the limit halves once (4 → 2), not twice.
    await up.watch.until(() => up.throttled === 2 && up.accepted.length === 2);
    await new Promise((r) => setImmediate(r));
    expect(source.snapshot()[0]).toMatchObject({ limit: 2, max: 4, inFlight: 2, queued: 4, decreases: 1, throttled: 2 });
    for (let done = 0; done < 6; done++) {
      await up.watch.until(() => up.releases.length > done);
      up.releases[done]?.();
    }
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 6 }, (_, i) => `{"answer":"hello ${i}"}`));
    // Retried requests kept their place: 2 and 3 went before 4 and 5, which arrived after them.
    expect(up.accepted.slice(0, 4)).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3']);
    expect([...up.accepted].sort()).toEqual(Array.from({ length: 6 }, (_, i) => `hello ${i}`));
    expect(source.snapshot()[0]).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it('200 agents against an upstream that answers 429 above 8 at once: none lost, never more than 8 served at once', async () => {
    const N = 8;
    let inFlight = 0;
    let maxInFlight = 0;
    let throttled = 0;
    const upstream: AnswerSource = {
      mode: 'proxy',
      async answer(req) {
        if (inFlight >= N) {
          throttled++;
          return { status: 429, headers: {}, body: bodyOf('{"type":"error","error":{"type":"rate_limit_error","message":"busy"}}') };
        }
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return {
          status: 200,
          headers: {},
          body: (async function* () {
            // The answer ends on a later turn of the event loop, so requests overlap.
            await new Promise((r) => setImmediate(r));
            inFlight--;
            yield Buffer.from(String((req.body.messages as { content: string }[])[0]?.content));
          })(),
        };
      },
    };
    const source = withRateLimits(upstream, { ...instant, maxConcurrency: 16, maxAttempts: 50 });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        source.answer(request('m', i), new AbortController().signal).then(async (r) => [r.status, await text(r)]),
      ),
    );
    expect(answers).toEqual(Array.from({ length: 200 }, (_, i) => [200, `hello ${i}`]));
    expect(maxInFlight).toBeLessThanOrEqual(N);
    expect(throttled).toBeGreaterThan(0);
    const [snap] = source.snapshot();
    expect(snap?.decreases).toBeGreaterThan(0);
    expect(snap).toMatchObject({ inFlight: 0, queued: 0, retries: throttled });
  });

  it('keeps separate limits per upstream and model', async () => {
    const up = limitedUpstream(1);
    const source = withRateLimits(up.source, { ...instant, maxConcurrency: 2 });
    const signal = new AbortController().signal;
    const a = [source.answer(request('a', 0), signal).then(text), source.answer(request('a', 1), signal).then(text)];
    await up.watch.until(() => up.throttled === 1);
    const b = source.answer(request('b', 2), signal);
    await new Promise((r) => setImmediate(r));
    const snap = Object.fromEntries(source.snapshot().map((s) => [s.model, s]));
    expect(snap.a).toMatchObject({ limit: 1, decreases: 1 });
    expect(snap.b).toMatchObject({ limit: 2, decreases: 0 });
    for (let done = 0; done < 3; done++) {
      await up.watch.until(() => up.releases.length > done);
      up.releases[done]?.();
    }
    await Promise.all([...a, b.then(text)]);
  });

  it('raises the limit by one per window of successes, probing past the failed level only after quiet windows', async () => {
    const limiter = new AimdLimiter({ max: 8, probeWindows: 2, delay: async () => {}, now: Date.now });
    const limits: number[] = [];
    const held = await Promise.all(Array.from({ length: 8 }, (_, i) => limiter.acquire(i)));
    const slot = held[0] as Slot;
    limiter.throttled(slot);
    expect(limiter.limit).toBe(4);
    limiter.throttled(slot); // the same generation: no second halving
    expect(limiter.limit).toBe(4);
    for (const h of held) h.release();
    for (let i = 0; i < 60; i++) {
      limiter.succeeded();
      limits.push(limiter.limit);
    }
    const steps = limits.flatMap((l, i) => (i === 0 || l !== limits[i - 1] ? [[i + 1, l]] : []));
    // 4 successes → 5, 5 → 6, 6 → 7, then two windows of 7 at the level below the one that failed (8) → 8.
    expect(steps).toEqual([
      [1, 4],
      [4, 5],
      [9, 6],
      [15, 7],
      [29, 8],
    ]);
    expect(limiter.snapshot('u', 'm')).toMatchObject({ limit: 8, max: 8, decreases: 1 });
    // Never below 1.
    const one = new AimdLimiter({ max: 1, delay: async () => {}, now: Date.now });
    one.throttled(await one.acquire(0));
    expect(one.limit).toBe(1);
  });

  it('starting with no practical limit, one throttle halves what was in flight, not the configured maximum', async () => {
    const limiter = new AimdLimiter({ max: 1024, delay: async () => {}, now: Date.now });
    const held = await Promise.all(Array.from({ length: 200 }, (_, i) => limiter.acquire(i)));
    limiter.throttled(held[0] as Slot);
    expect(limiter.limit).toBe(100);
    // Slots granted before the decrease are one generation: their throttles do not halve again.
    limiter.throttled(held[1] as Slot);
    expect(limiter.snapshot('u', 'm')).toMatchObject({ limit: 100, max: 1024, decreases: 1, inFlight: 200 });
  });

  it('a queued request whose client hangs up leaves the queue; the others still get their slots', async () => {
    const limiter = new AimdLimiter({ max: 1, delay: async () => {}, now: Date.now });
    const first = await limiter.acquire(0);
    const gone = new AbortController();
    const order: number[] = [];
    const second = limiter.acquire(1, gone.signal).catch(() => order.push(-1));
    const third = limiter.acquire(2).then((s) => {
      order.push(2);
      return s;
    });
    expect(limiter.snapshot('u', 'm').queued).toBe(2);
    gone.abort(new Error('hung up'));
    await second;
    expect(limiter.snapshot('u', 'm').queued).toBe(1);
    first.release();
    first.release(); // idempotent
    (await third).release();
    expect(order).toEqual([-1, 2]);
    expect(limiter.snapshot('u', 'm')).toMatchObject({ inFlight: 0, queued: 0 });
  });
});
