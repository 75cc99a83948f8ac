// Proxy overhead (issue 12): `drover gateway --mode proxy` in front of a local upstream (the sim
// gateway, its own process), against connecting to the upstream directly, side by side in one run.
//
// Two loads, each at BENCH_GATEWAY_STREAMS (200) concurrent streams:
// - `longStreams`: long-lived answers like a model's (20 events 50 ms apart, ~1 s each), 200 kept
//   open for BENCH_GATEWAY_SECONDS per round (starts staggered over one stream's length, a new one
//   when one ends) — the figure:
//   the time to first byte the proxy adds while 200 streams are open through it;
// - `saturated`: answers with no pacing at all, as fast as the machine goes — the throughput ratio
//   when client, proxy and upstream compete for the same cores (on 2 cores the proxy's own CPU
//   time per request is what limits it: reported as `proxyCpuMsPerRequest`).
// Plus one stream at a time (no load). Each side runs in its own process.
// BENCH_GATEWAY_BASELINE_CLI=<other checkout>/dist/cli/index.js adds a second proxy from another
// build to the same alternating rounds (`baseline` in each section): a change compared to what it
// replaces on the same machine at the same moment, which separate runs on a shared VM cannot give.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CLI, startGatewayProcess, tempDir } from './lib.mjs';

const CONCURRENCY = Number(process.env.BENCH_GATEWAY_STREAMS ?? 200);
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 8);
const INTERVAL_MS = 50;
const SUSTAIN_S = Number(process.env.BENCH_GATEWAY_SECONDS ?? 4);
/** About how long one long stream lasts (20 events, INTERVAL_MS apart). */
const STREAM_MS = 20 * INTERVAL_MS;

const SCENARIO = `
rules:
  - name: long
    match: { prompt: '^long' }
    event_interval_ms: ${INTERVAL_MS}
    usage: { input_tokens: 20, output_tokens: 160 }
    turns: [{ text: '${'a streamed answer arriving a few words at a time '.repeat(13).trim()}' }]
  - name: instant
    usage: { input_tokens: 20, output_tokens: 5 }
    turns: [{ text: ok }]
`;

const body = (prompt) =>
  JSON.stringify({ model: 'claude-sim-1', max_tokens: 200, stream: true, messages: [{ role: 'user', content: prompt }] });
const BODIES = { streams: body('long answer'), saturated: body('bench') };

async function startProxy(dir, upstream, cli = CLI, name = 'proxy', flagsVar = 'BENCH_GATEWAY_PROXY_FLAGS') {
  const prof = process.env.BENCH_GATEWAY_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_GATEWAY_PROF}`] : [];
  // Node flags for the proxy alone (e.g. `--max-semi-space-size=64`), to try GC settings.
  const flags = (process.env[flagsVar] ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [
      ...prof,
      ...flags,
      cli,
      'gateway',
      '--mode',
      'proxy',
      '--upstream-anthropic',
      upstream,
      '--port',
      '0',
      '--json',
      '--store',
      join(dir, `${name}.db`),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ANTHROPIC_API_KEY: 'bench' } },
  );
  const url = await new Promise((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) res(JSON.parse(buf.split('\n')[0]).url);
    });
    child.on('exit', (code) => rej(new Error(`proxy exited ${code}`)));
  });
  return { url, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

/** CPU time a process has used so far (ms; Linux /proc, clock ticks of 10 ms). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One streamed request: ms to the first body byte, and to the end. */
function stream(url, payload) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = null;
    const req = request(
      `${url}/v1/messages`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'bench' } },
      (res) => {
        res.on('data', () => {
          if (ttfb === null) ttfb = performance.now() - t0;
        });
        res.on('end', () => resolve({ ttfb, total: performance.now() - t0, status: res.statusCode }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function round(url, payload) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: CONCURRENCY }, () => stream(url, payload)));
  const bad = results.filter((r) => r.status !== 200).length;
  if (bad) throw new Error(`${bad} requests failed`);
  return { ttfb: results.map((r) => r.ttfb), seconds: (performance.now() - t0) / 1000 };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => +x.toFixed(2);

/**
 * `CONCURRENCY` streams kept open for `seconds`: each worker starts its next request when one ends
 * (staggered starts, like a fleet's agents, not one synchronised burst).
 */
async function sustain(url, payload, seconds) {
  const ttfb = [];
  let done = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, i) => {
      // Staggered starts over one stream's length: a fleet's agents are not in step (all 200 in
      // step would send each event tick as one burst of 200 writes, which no real traffic does).
      await new Promise((r) => setTimeout(r, (i * STREAM_MS) / CONCURRENCY));
      while (performance.now() < until) {
        const r = await stream(url, payload);
        if (r.status !== 200) throw new Error(`a request failed: HTTP ${r.status}`);
        ttfb.push(r.ttfb);
        done++;
      }
    }),
  );
  return { ttfb, done, seconds: (performance.now() - t0) / 1000 };
}

/**
 * `ROUNDS` rounds of each side, alternating (direct and each proxy, the first moving each round), with each proxy's CPU time
 * over its rounds. The first proxy's figures are the top-level ones; another (a baseline build)
 * gets the same figures under its name.
 */
async function compare(upstream, proxies, run) {
  const tally = () => ({ ttfb: [], done: 0, seconds: 0, cpuMs: 0, pairedP99: [] });
  const direct = tally();
  const sides = proxies.map(() => tally());
  const add = (t, r) => {
    t.ttfb.push(...r.ttfb);
    t.done += r.done ?? r.ttfb.length;
    t.seconds += r.seconds;
  };
  for (let i = 0; i < ROUNDS; i++) {
    // Who goes first changes every round: a side run right after another inherits the garbage the
    // client and upstream made in it (their GCs land in its round), which favoured whoever ran first.
    const order = [-1, ...proxies.keys()];
    const turn = order.splice(0, i % order.length);
    order.push(...turn);
    const results = new Map();
    for (const j of order) {
      if (j === -1) {
        results.set(j, await run(upstream.url));
        continue;
      }
      const cpu0 = cpuMs(proxies[j].pid);
      results.set(j, await run(proxies[j].url));
      sides[j].cpuMs += cpuMs(proxies[j].pid) - cpu0;
    }
    const d = results.get(-1);
    add(direct, d);
    for (const j of proxies.keys()) {
      const p = results.get(j);
      add(sides[j], p);
      // The proxy's p99 minus the direct p99 of the same round.
      sides[j].pairedP99.push(pct(p.ttfb, 99) - pct(d.ttfb, 99));
    }
  }
  const directPerS = direct.done / direct.seconds;
  const figures = (side) => {
    const proxyPerS = side.done / side.seconds;
    return {
      proxyTtfbMs: { p50: ms(pct(side.ttfb, 50)), p99: ms(pct(side.ttfb, 99)) },
      addedTtfbMs: {
        p50: ms(pct(side.ttfb, 50) - pct(direct.ttfb, 50)),
        p99: ms(pct(side.ttfb, 99) - pct(direct.ttfb, 99)),
        // The median over rounds: one round hit by a pause of the machine's own (another
        // process, the hypervisor) moves the pooled p99 but not this.
        p99MedianOfRounds: ms(pct(side.pairedP99, 50)),
      },
      addedP99ByRoundMs: side.pairedP99.map(ms),
      throughput: { directPerS: Math.round(directPerS), proxyPerS: Math.round(proxyPerS), ratio: +(proxyPerS / directPerS).toFixed(3) },
      proxyCpuMsPerRequest: +(side.cpuMs / side.done).toFixed(3),
    };
  };
  const [main, ...others] = sides;
  return {
    requests: { direct: direct.done, proxy: main.done },
    directTtfbMs: { p50: ms(pct(direct.ttfb, 50)), p99: ms(pct(direct.ttfb, 99)) },
    ...figures(main),
    ...Object.fromEntries(others.map((side, j) => [proxies[j + 1].name, figures(side)])),
  };
}

export async function benchGateway() {
  const dir = tempDir();
  const upstream = await startGatewayProcess(dir, SCENARIO);
  const proxy = { name: 'proxy', ...(await startProxy(dir, upstream.url)) };
  // Another build's CLI (e.g. a checkout of the previous commit, built) measured in the same rounds.
  // BENCH_GATEWAY_BASELINE_FLAGS alone (this build) compares Node flags the same way.
  const baselineCli = process.env.BENCH_GATEWAY_BASELINE_CLI ?? (process.env.BENCH_GATEWAY_BASELINE_FLAGS ? CLI : undefined);
  const proxies = [proxy];
  if (baselineCli) {
    proxies.push({ name: 'baseline', ...(await startProxy(dir, upstream.url, baselineCli, 'baseline', 'BENCH_GATEWAY_BASELINE_FLAGS')) });
  }
  try {
    // Warm-up: connections, JIT, the proxy's upstream probe.
    await round(upstream.url, BODIES.saturated);
    for (const p of proxies) await round(p.url, BODIES.saturated);
    const streams = await compare(upstream, proxies, (url) => sustain(url, BODIES.streams, SUSTAIN_S));
    const saturated = await compare(upstream, proxies, (url) => round(url, BODIES.saturated));
    // One stream at a time: the latency the proxy adds when nothing else runs.
    const seq = { direct: [], proxy: [] };
    for (let i = 0; i < 200; i++) {
      seq.direct.push((await stream(upstream.url, BODIES.saturated)).ttfb);
      seq.proxy.push((await stream(proxy.url, BODIES.saturated)).ttfb);
    }
    return {
      streams: CONCURRENCY,
      rounds: ROUNDS,
      longStreams: { eventIntervalMs: INTERVAL_MS, secondsPerRound: SUSTAIN_S, ...streams },
      saturated,
      sequentialAddedTtfbMs: {
        p50: ms(pct(seq.proxy, 50) - pct(seq.direct, 50)),
        p99: ms(pct(seq.proxy, 99) - pct(seq.direct, 99)),
      },
    };
  } finally {
    for (const p of proxies) p.stop();
    upstream.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchGateway(), null, 2));
