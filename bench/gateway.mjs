// Proxy overhead (issue 12): `drover gateway --mode proxy` in front of a local upstream (the sim
// gateway, its own process) at 200 concurrent streams. Added time to first byte (p50, p99) and the
// throughput ratio against connecting to the upstream directly. Each side runs in its own process.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { CLI, startGatewayProcess, tempDir } from './lib.mjs';

const CONCURRENCY = Number(process.env.BENCH_GATEWAY_STREAMS ?? 200);
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 5);
const BODY = JSON.stringify({ model: 'claude-sim-1', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'bench' }] });

async function startProxy(dir, upstream) {
  const child = spawn(
    process.execPath,
    [CLI, 'gateway', '--mode', 'proxy', '--upstream-anthropic', upstream, '--port', '0', '--json', '--store', join(dir, 'proxy.db')],
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
  return { url, stop: () => child.kill('SIGTERM') };
}

/** One streamed request: ms to the first body byte, and to the end. */
function stream(url) {
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
    req.end(BODY);
  });
}

async function round(url) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: CONCURRENCY }, () => stream(url)));
  const bad = results.filter((r) => r.status !== 200).length;
  if (bad) throw new Error(`${bad} requests failed`);
  return { ttfb: results.map((r) => r.ttfb), seconds: (performance.now() - t0) / 1000 };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export async function benchGateway() {
  const dir = tempDir();
  const upstream = await startGatewayProcess(dir);
  const proxy = await startProxy(dir, upstream.url);
  try {
    await round(upstream.url);
    await round(proxy.url); // warm-up: connections, JIT, the proxy's upstream probe
    const direct = { ttfb: [], seconds: 0 };
    const proxied = { ttfb: [], seconds: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      for (const [target, into] of [
        [upstream.url, direct],
        [proxy.url, proxied],
      ]) {
        const r = await round(target);
        into.ttfb.push(...r.ttfb);
        into.seconds += r.seconds;
      }
    }
    // One stream at a time: the latency the proxy adds when the machine is not saturated.
    const seq = { direct: [], proxy: [] };
    for (let i = 0; i < 200; i++) {
      seq.direct.push((await stream(upstream.url)).ttfb);
      seq.proxy.push((await stream(proxy.url)).ttfb);
    }
    const n = CONCURRENCY * ROUNDS;
    return {
      streams: CONCURRENCY,
      rounds: ROUNDS,
      directTtfbMs: { p50: +pct(direct.ttfb, 50).toFixed(2), p99: +pct(direct.ttfb, 99).toFixed(2) },
      proxyTtfbMs: { p50: +pct(proxied.ttfb, 50).toFixed(2), p99: +pct(proxied.ttfb, 99).toFixed(2) },
      addedTtfbMs: {
        p50: +(pct(proxied.ttfb, 50) - pct(direct.ttfb, 50)).toFixed(2),
        p99: +(pct(proxied.ttfb, 99) - pct(direct.ttfb, 99)).toFixed(2),
      },
      sequentialAddedTtfbMs: {
        p50: +(pct(seq.proxy, 50) - pct(seq.direct, 50)).toFixed(2),
        p99: +(pct(seq.proxy, 99) - pct(seq.direct, 99)).toFixed(2),
      },
      throughput: {
        directPerS: Math.round(n / direct.seconds),
        proxyPerS: Math.round(n / proxied.seconds),
        ratio: +(direct.seconds / proxied.seconds).toFixed(3),
      },
    };
  } finally {
    proxy.stop();
    upstream.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchGateway(), null, 2));
