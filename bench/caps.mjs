// Cap accuracy (issue 12): 64 requests in parallel (concurrency 16) over HTTP through drover's
// gateway (attribution → reservation → upstream → metering → ledger → settlement) against a run cap
// of 1 USD; the upstream answers each streamed request with a random true usage (output a random
// share of max_tokens), so what the gateway meters from the stream is what is spent. 20 runs.
// Reports the spend above the cap in the ledger (goal 0) and refusals (HTTP 402).
import { join } from 'node:path';
import { capsFor, createReservationStage } from '../dist/budget/index.js';
import { startGateway } from '../dist/gateway/index.js';
import { createStore } from '../dist/store/index.js';
import { startPgServer } from '../scripts/pg-server.mjs';
import { tempDir } from './lib.mjs';

const RUNS = 20;
const REQUESTS = 64;
const CONCURRENCY = 16;
const CAP_USD = 1;
const MODEL = 'claude-sonnet-5';

/** Seeded PRNG (mulberry32): the same figure every time. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function body(random) {
  const maxTokens = 1000 + Math.floor(random() * 4000);
  const prompt = 'lorem ipsum '.repeat(200 + Math.floor(random() * 2000));
  return { model: MODEL, max_tokens: maxTokens, stream: true, messages: [{ role: 'user', content: prompt }] };
}

const event = (name, data) => Buffer.from(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);

/**
 * The upstream: a streamed Anthropic answer whose true usage is random, at most the worst case
 * (input ≈ a quarter of the body's bytes, as real tokenizers count; output a random share of
 * max_tokens), after a random few ms.
 */
function randomCostUpstream(random) {
  return {
    mode: 'proxy',
    async answer(request) {
      const input = Math.floor(request.rawBody.length / 4);
      const output = Math.floor(random() * request.maxTokens);
      const wait = random() * 5;
      async function* stream() {
        yield event('message_start', {
          type: 'message_start',
          message: { id: 'msg', model: MODEL, usage: { input_tokens: input, output_tokens: 1 } },
        });
        await new Promise((r) => setTimeout(r, wait));
        yield event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'done' } });
        yield event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: output } });
        yield event('message_stop', { type: 'message_stop' });
      }
      return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: stream() };
    },
  };
}

async function oneRun(store, gateway, run, random) {
  const runId = `caps-${run}`;
  let refused = 0;
  let held = 0;
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const res = await fetch(`${gateway.url}/r/${runId}/c/c${i}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'bench' },
        body: JSON.stringify(body(random)),
      });
      await res.arrayBuffer();
      if (res.status === 402) refused++;
      else if (res.status === 200) held++;
      else throw new Error(`HTTP ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await gateway.idle();
  const [state] = await store.reservations.capStates([{ scope: 'run', key: runId, limitUsd: CAP_USD }], Date.now());
  const rows = await store.ledger.listByRun(runId);
  const ledgerUsd = rows.reduce((n, r) => n + (r.costUsd ?? 0), 0);
  return { spentUsd: ledgerUsd, capStateUsd: state.spentUsd, overUsd: Math.max(0, ledgerUsd - CAP_USD), held, refused, rows: rows.length };
}

/** The cap-accuracy figure on one store (an SQLite file path or a PostgreSQL URL). */
async function capsOn(location) {
  const store = createStore(location);
  const random = rng(12);
  const reservations = createReservationStage(store, (req) => capsFor({ usd: CAP_USD }, undefined, req.attribution, req.receivedAt));
  const gateway = await startGateway({ mode: 'proxy', source: randomCostUpstream(random), ledger: store.ledger, reservations });
  const runs = [];
  const started = performance.now();
  try {
    for (let run = 0; run < RUNS; run++) runs.push(await oneRun(store, gateway, run, random));
  } finally {
    await gateway.close();
  }
  const ms = performance.now() - started;
  await store.close();
  const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
  const overTotal = sum('overUsd');
  return {
    spendAboveCapUsd: { total: overTotal, worstRun: Math.max(...runs.map((r) => r.overUsd)), goal: 0 },
    spentUsd: { min: Math.min(...runs.map((r) => r.spentUsd)), max: Math.max(...runs.map((r) => r.spentUsd)) },
    // The caps' own view equals the ledger's sum (no hold left behind).
    capStateEqualsLedger: runs.every((r) => Math.abs(r.capStateUsd - r.spentUsd) < 1e-9),
    requests: { answered: sum('held'), refused402: sum('refused'), ledgerRows: sum('rows') },
    perRun: runs.map((r) => ({ spentUsd: Number(r.spentUsd.toFixed(6)), answered: r.held, refused: r.refused })),
    msPerRequest: ms / (RUNS * REQUESTS),
    pass: overTotal === 0,
  };
}

/** The figure on SQLite (top-level fields, as before) and, side by side in the same run, on a throwaway PostgreSQL server. */
export async function benchCaps() {
  const sqlite = await capsOn(join(tempDir(), 'caps.db'));
  const server = await startPgServer({ durable: true });
  let postgres;
  try {
    postgres = await capsOn(`${server.url}?schema=bench_caps`);
  } finally {
    await server.stop();
  }
  return {
    figure: `cap accuracy: ${REQUESTS} requests × ${RUNS} runs over HTTP through the gateway, concurrency ${CONCURRENCY}, run cap ${CAP_USD} USD (SQLite; postgres: the same on PostgreSQL)`,
    ...sqlite,
    postgres,
    pass: sqlite.pass && postgres.pass,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchCaps(), null, 2));
