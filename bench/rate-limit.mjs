// Adaptive concurrency (issue 12, item 6): 200 agents' requests at once through withRateLimits to a
// local HTTP upstream that answers 429 above N=8 concurrent requests (no retry-after: it cannot know
// when a slot frees) and otherwise answers after a fixed latency. Reports agents lost (answers other
// than 200 — goal 0) and throughput against the ideal N/latency: the ratio of ideal to actual wall
// time, and the upstream's busy ratio (requests it served in flight, averaged over the run, / N) —
// goal ≥ 0.8 for the first.
import { Agent, createServer, request as httpRequest } from 'node:http';
import { withRateLimits } from '../dist/gateway/rate-limit/index.js';

const N = 8;
const AGENTS = Number(process.env.BENCH_RATELIMIT_AGENTS ?? 200);
const LATENCY_MS = Number(process.env.BENCH_RATELIMIT_LATENCY_MS ?? 200);
// The limiter's default start (DEFAULT_MAX_CONCURRENCY): no practical limit until the first 429.
const MAX_CONCURRENCY = Number(process.env.BENCH_RATELIMIT_START ?? 1024);

function upstream() {
  let inFlight = 0;
  let maxInFlight = 0;
  let busy = 0; // ∫ served-in-flight dt, in request·ms
  let last = performance.now();
  let throttled = 0;
  const tick = () => {
    const now = performance.now();
    busy += inFlight * (now - last);
    last = now;
  };
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      if (inFlight >= N) {
        throttled++;
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end('{"type":"error","error":{"type":"rate_limit_error","message":"too many concurrent requests"}}');
        return;
      }
      tick();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        tick();
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }, LATENCY_MS);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        stats: () => {
          tick();
          return { busy, maxInFlight, throttled };
        },
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

function forward(url) {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  return {
    mode: 'proxy',
    answer: (request, signal) =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          `${url}${request.path}`,
          { method: 'POST', agent, signal, headers: { 'content-type': 'application/json' } },
          (res) =>
            resolve({
              status: res.statusCode,
              headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
              body: res,
            }),
        );
        req.once('error', reject);
        req.end(request.rawBody);
      }),
  };
}

function request(i) {
  const body = { model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: `agent ${i}` }] };
  return {
    receivedAt: Date.now(),
    method: 'POST',
    path: '/v1/messages',
    headers: {},
    rawBody: Buffer.from(JSON.stringify(body)),
    body,
    wire: 'anthropic',
    provider: 'anthropic',
    model: body.model,
    stream: false,
    maxTokens: 10,
    attribution: { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null },
  };
}

/** 200 requests at once through withRateLimits starting at `start`; statuses, wall ms and the upstream's view. */
async function once(start) {
  const up = await upstream();
  const source = withRateLimits(forward(up.url), { maxConcurrency: start, baseDelayMs: 50, maxDelayMs: 1000 });
  const t0 = performance.now();
  const statuses = await Promise.all(
    Array.from({ length: AGENTS }, async (_, i) => {
      try {
        const res = await source.answer(request(i), new AbortController().signal);
        for await (const _chunk of res.body);
        return res.status;
      } catch {
        return 0;
      }
    }),
  );
  const ms = performance.now() - t0;
  const stats = up.stats();
  const [limits] = source.snapshot();
  await up.close();
  const completed = statuses.filter((s) => s === 200).length;
  return { completed, ms, busyRatio: stats.busy / (N * ms), maxInFlight: stats.maxInFlight, throttled: stats.throttled, limits };
}

export async function benchRateLimit() {
  // The oracle: a client that knows N (limit fixed at N, so never a 429) — what this machine's HTTP
  // round trips allow; measured in the same run so a busy machine slows both alike.
  const oracle = await once(N);
  const adaptive = await once(MAX_CONCURRENCY);
  const idealMs = (AGENTS / N) * LATENCY_MS;
  const throughputRatio = idealMs / adaptive.ms;
  return {
    agents: AGENTS,
    upstreamConcurrency: N,
    latencyMs: LATENCY_MS,
    startLimit: MAX_CONCURRENCY,
    completed: adaptive.completed,
    lost: AGENTS - adaptive.completed,
    ms: Math.round(adaptive.ms),
    idealMs: Math.round(idealMs),
    throughputRatio: Number(throughputRatio.toFixed(3)),
    busyRatio: Number(adaptive.busyRatio.toFixed(3)),
    oracleMs: Math.round(oracle.ms),
    oracleThroughputRatio: Number((idealMs / oracle.ms).toFixed(3)),
    vsOracle: Number((oracle.ms / adaptive.ms).toFixed(3)),
    upstreamMaxInFlight: adaptive.maxInFlight,
    throttled429s: adaptive.throttled,
    retries: adaptive.limits?.retries,
    limitDecreases: adaptive.limits?.decreases,
    finalLimit: adaptive.limits?.limit,
    pass: adaptive.completed === AGENTS && throughputRatio >= 0.8,
  };
}
