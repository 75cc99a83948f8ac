// drover ui figures: the page's assets gzipped; the spans API on a 20,000-span trace (first read,
// then folds and filters on the prepared trace); the run page in headless Chromium (first paint,
// waterfall interactive, time per scroll/collapse/filter: bench/ui-page.mjs); live-update latency in headless Chromium (a
// task's status written by another connection → shown in an open page), when Chromium is there.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CLI, percentile, ROOT, tempDir } from './lib.mjs';
import { pageFigures } from './ui-page.mjs';

const { createStore } = await import(join(ROOT, 'dist', 'store', 'index.js'));
const { traceIdForRun } = await import(join(ROOT, 'dist', 'telemetry', 'traceparent.js'));

async function startUi(storePath) {
  const child = spawn(process.execPath, [CLI, 'ui', '--port', '0', '--json'], {
    env: { ...process.env, DROVER_STORE: storePath },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) res(JSON.parse(buf.split('\n')[0]).url);
    });
    child.on('exit', (code) => rej(new Error(`drover ui exited ${code}`)));
  });
  return { url, base: new URL('/', url), stop: () => child.kill('SIGTERM') };
}

async function assetsGzipped(base) {
  const seen = new Set();
  const page = await (await fetch(base)).text();
  const queue = ['/', ...[...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])];
  let bytes = 0;
  let gz = 0;
  while (queue.length) {
    const path = queue.pop();
    if (seen.has(path)) continue;
    seen.add(path);
    const body = await (await fetch(new URL(path, base))).text();
    bytes += Buffer.byteLength(body);
    gz += gzipSync(body, { level: 9 }).length;
    if (path.endsWith('.mjs'))
      for (const m of body.matchAll(/(?:import|from)\s*["']([^"']+)["']/g)) queue.push(new URL(m[1], new URL(path, base)).pathname);
  }
  return { files: seen.size, bytes, gzippedBytes: gz };
}

/** 1,000 agents × (1 agent span + 19 chat/tool spans) under one workflow span. */
export async function bigTrace(store) {
  const now = Date.now();
  await store.createRun(
    {
      id: 'big',
      name: 'big',
      description: '',
      scriptPath: 'big.js',
      scriptSource: '',
      scriptHash: 'h',
      scriptForm: 'claude-code',
      args: null,
      settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1000 },
      fromRunId: null,
    },
    now,
  );
  const traceId = traceIdForRun('big');
  const base = {
    traceId,
    kind: 1,
    statusCode: 0,
    statusMessage: null,
    service: 'drover',
    scope: null,
    resource: {},
    events: [],
    runId: 'big',
  };
  let n = 0;
  const id = () => (++n).toString(16).padStart(16, '0');
  const t0 = now * 1000;
  const root = id();
  const spans = [{ ...base, spanId: root, parentSpanId: null, name: 'invoke_workflow big', startUs: t0, endUs: t0 + 1e9, attributes: {} }];
  for (let a = 0; a < 1000; a++) {
    const agent = id();
    const s = t0 + a * 1e6;
    spans.push({
      ...base,
      spanId: agent,
      parentSpanId: root,
      name: `invoke_agent a${a}`,
      startUs: s,
      endUs: s + 9e5,
      attributes: { 'drover.cost.usd': 0.01 },
    });
    for (let c = 0; c < 19; c++) {
      spans.push({
        ...base,
        spanId: id(),
        parentSpanId: agent,
        name: c % 2 ? 'chat m' : 'execute_tool bash',
        startUs: s + c * 4e4,
        endUs: s + c * 4e4 + 3e4,
        attributes: { 'gen_ai.usage.output_tokens': 10, 'drover.cost.usd': 0.0005 },
      });
    }
  }
  await store.spans.insertSpans(spans);
  return spans.length;
}

async function timed(url) {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.json();
  return { ms: Math.round(performance.now() - t), total: body.total };
}

async function liveLatency(url, store) {
  const CHROMIUM = process.env.DROVER_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(CHROMIUM)) return { skipped: `no Chromium at ${CHROMIUM}` };
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const actor = { name: 'bench' };
    const first = await store.tasks.createTask('live', { subject: 'warm-up' }, actor, Date.now());
    await page.goto(url);
    await page.evaluate(`location.hash = '#/tasks?list=live'`);
    await page.locator(`g.node[data-node="${first.id}"]`).waitFor();
    const samples = [];
    for (let i = 0; i < 20; i++) {
      const t = await store.tasks.createTask('live', { subject: `task ${i}` }, actor, Date.now());
      const start = performance.now();
      await page.locator(`g.node[data-node="${t.id}"]`).waitFor({ timeout: 10_000 });
      samples.push(performance.now() - start);
    }
    samples.sort((a, b) => a - b);
    return { samples: samples.length, p50Ms: Math.round(percentile(samples, 50)), p95Ms: Math.round(percentile(samples, 95)), pollMs: 250 };
  } finally {
    await browser.close();
  }
}

export async function benchUi() {
  const dir = tempDir('drover-bench-ui-');
  const storePath = join(dir, 'drover.db');
  const store = createStore(storePath);
  const spans = await bigTrace(store);
  const ui = await startUi(storePath);
  try {
    const api = (q) => timed(new URL(`/api/runs/big/spans${q}`, ui.base));
    const spansApi = {
      spans,
      first: await api(''),
      again: await api(''),
      depth1: await api('?depth=1'),
      filter: await api('?filter=a999'),
      minMs: await api('?minMs=35'),
    };
    // A fresh `drover ui` for the page: nothing of the trace prepared yet.
    const fresh = await startUi(storePath);
    let page;
    try {
      page = await pageFigures(fresh.url, 'big');
    } finally {
      fresh.stop();
    }
    return { assets: await assetsGzipped(ui.base), spansApi, page, live: await liveLatency(ui.url, store) };
  } finally {
    ui.stop();
    await store.close();
  }
}
