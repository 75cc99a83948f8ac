// Span ingest and reads, PostgreSQL beside SQLite in one run: 20,000 spans (a) received over OTLP
// (4 sender processes × 5 protobuf batches of 1,000, through drover's receiver), (b) written straight
// to the store in 20 batches of 1,000 and (c) as one batch of 20,000 spans of one trace, which is then
// read back whole (querySpans) and as a waterfall outline (querySpanOutlines).
// PostgreSQL: a throwaway server (scripts/pg-server.mjs) with fsync on, so commits cost what they do.
// Run alone: `npm run build && node bench/spans-pg.mjs` (prints JSON), or `BENCH_ONLY=spanspg npm run bench`.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { startOtlpReceiver } from '../dist/telemetry/index.js';
import { startPgServer } from '../scripts/pg-server.mjs';
import { tempDir } from './lib.mjs';

const SENDERS = 4;
const BATCHES = 5;
const SIZE = 1000;
const TOTAL = SENDERS * BATCHES * SIZE;

let schemas = 0;
const openers = {
  sqlite: () => createStore(join(tempDir(), 'spans.db')),
  postgres: (url) => createStore(`${url}?schema=bench_${++schemas}`),
};

/** drover-like spans of one trace: agent and request spans with a cost, attributes of a few hundred bytes. */
function runSpans(n, traceId, offset = 0) {
  const t0 = 1_700_000_000_000_000;
  const resource = { 'service.name': 'drover', 'drover.run.id': 'bench-run' };
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    return {
      traceId,
      spanId: (0x1000000 + i).toString(16).padStart(16, '0'),
      parentSpanId: i === 0 ? null : (0x1000000 + Math.floor((i - 1) / 10)).toString(16).padStart(16, '0'),
      name: i % 3 === 0 ? `invoke_agent worker-${i % 50}` : 'chat claude-sonnet-4-5',
      kind: 1,
      startUs: t0 + i * 100,
      endUs: t0 + i * 100 + 5000,
      statusCode: 1,
      statusMessage: null,
      service: 'drover',
      scope: 'drover',
      attributes: {
        'gen_ai.operation.name': i % 3 === 0 ? 'invoke_agent' : 'chat',
        'gen_ai.request.model': 'claude-sonnet-4-5',
        'gen_ai.usage.input_tokens': 1200 + (i % 97),
        'gen_ai.usage.output_tokens': 80 + (i % 13),
        'drover.cost.usd': 0.0042 + (i % 7) / 1000,
        'drover.call.key': `agent:${i}`,
        'gen_ai.input.messages': `[{"role":"user","parts":[{"type":"text","content":"migrate file ${i} of the repository to the new API"}]}]`,
      },
      resource,
      events: [],
      runId: 'bench-run',
    };
  });
}

async function timed(fn) {
  const t0 = performance.now();
  const out = await fn();
  return { ms: Math.round(performance.now() - t0), out };
}

async function overOtlp(open) {
  const store = open();
  const rx = await startOtlpReceiver({ spans: store.spans });
  const kids = Array.from({ length: SENDERS }, () =>
    fork(new URL('./otlp-sender.mjs', import.meta.url), [rx.url, 'protobuf', String(BATCHES), String(SIZE)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  const done = kids.map((k) => new Promise((r) => k.once('message', r)));
  const t0 = performance.now();
  for (const k of kids) k.send('go');
  await Promise.all(done);
  const ms = performance.now() - t0;
  const received = rx.stats().spans;
  await rx.close();
  const stored = (await store.spans.listTraces({ limit: 1_000_000 })).reduce((n, t) => n + t.spans, 0);
  await store.close();
  return { spans: received, stored, ms: Math.round(ms), spansPerSec: Math.round(received / (ms / 1000)) };
}

async function direct(open) {
  const store = open();
  await store.spans.listTraces({ limit: 1 }); // connect and migrate outside the timings
  const batches = Array.from({ length: TOTAL / SIZE }, (_, b) => runSpans(SIZE, (0xb00 + b).toString(16).padStart(32, 'a'), b * SIZE));
  const inBatches = await timed(async () => {
    for (const b of batches) await store.spans.insertSpans(b);
  });
  const trace = 'f'.repeat(32);
  const one = runSpans(TOTAL, trace);
  const oneBatch = await timed(() => store.spans.insertSpans(one));
  const full = await timed(() => store.spans.querySpans({ traceId: trace }));
  const outline = await timed(() => store.spans.querySpanOutlines(trace));
  const costs = outline.out.reduce((s, o) => s + (o.attributes['drover.cost.usd'] ?? 0), 0);
  await store.close();
  return {
    batchesOf1000: { ms: inBatches.ms, spansPerSec: Math.round(TOTAL / (inBatches.ms / 1000)) },
    oneBatchOf20000: { ms: oneBatch.ms, spansPerSec: Math.round(TOTAL / (oneBatch.ms / 1000)) },
    readTrace: { spans: full.out.length, ms: full.ms },
    readOutline: { spans: outline.out.length, ms: outline.ms, costUsd: Math.round(costs * 1e6) / 1e6 },
  };
}

export async function benchSpansPg() {
  const server = await startPgServer({ durable: true });
  try {
    const result = { name: `span ingest and reads, ${TOTAL} spans: PostgreSQL (fsync on) beside SQLite` };
    for (const kind of ['sqlite', 'postgres']) {
      const open = () => openers[kind](server.url);
      result[kind] = { otlp: await overOtlp(open), direct: await direct(open) };
    }
    result.pass =
      result.sqlite.otlp.stored === TOTAL &&
      result.postgres.otlp.stored === TOTAL &&
      result.postgres.direct.readTrace.spans === TOTAL &&
      result.postgres.direct.readOutline.costUsd === result.sqlite.direct.readOutline.costUsd;
    return result;
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchSpansPg(), null, 2));
}
