// Cap accuracy (issue 12): 64 simulated requests in parallel (concurrency 16) through the reservation
// stage against a run cap of 1 USD, each request's true cost random (≤ its worst case), settled with
// the true cost; 20 runs. Reports the spend above the cap (goal 0), refusals and waits.
// Until the gateway (branch gw-core) is merged the requests go straight to the stage, not over HTTP.
import { join } from 'node:path';
import { capsFor, createReservationStage, priceUsage } from '../dist/budget/index.js';
import { createStore } from '../dist/store/index.js';
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

function request(runId, i, random) {
  const maxTokens = 1000 + Math.floor(random() * 4000);
  const prompt = 'lorem ipsum '.repeat(200 + Math.floor(random() * 2000));
  const body = { model: MODEL, max_tokens: maxTokens, messages: [{ role: 'user', content: prompt }] };
  const rawBody = Buffer.from(JSON.stringify(body));
  return {
    receivedAt: Date.now(),
    method: 'POST',
    path: '/v1/messages',
    headers: {},
    rawBody,
    body,
    wire: 'anthropic',
    provider: 'anthropic',
    model: MODEL,
    stream: true,
    maxTokens,
    attribution: { runId, callKey: `c${i}`, agentLabel: `agent ${i}`, phase: null, workflow: 'bench', session: null },
  };
}

async function oneRun(store, stage, run, random) {
  const runId = `caps-${run}`;
  let refused = 0;
  let held = 0;
  let waits = 0;
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const req = request(runId, i, random);
      let hold;
      try {
        hold = await stage.reserve(req, new AbortController().signal);
      } catch (err) {
        if (err.code !== 'BUDGET_EXCEEDED') throw err;
        refused++;
        continue;
      }
      held++;
      waits += hold.waits;
      // The upstream "answers" after a random few ms; the true usage is at most the worst case:
      // input ≈ a quarter of the body's bytes (real tokenizers), output a random share of max_tokens.
      await new Promise((r) => setTimeout(r, random() * 5));
      const usage = {
        inputTokens: Math.floor(req.rawBody.length / 4),
        cacheReadTokens: 0,
        cacheWrite5mTokens: 0,
        cacheWrite1hTokens: 0,
        outputTokens: Math.floor(random() * req.maxTokens),
        reasoningTokens: 0,
        serverToolUses: {},
      };
      const now = Date.now();
      await hold.settle({
        ...req.attribution,
        ...usage,
        ...priceUsage(MODEL, usage),
        provider: 'anthropic',
        wire: 'anthropic',
        mode: 'sim',
        model: MODEL,
        requestId: null,
        status: 200,
        stopReason: 'end_turn',
        startedAt: req.receivedAt,
        endedAt: now,
        ttfbMs: 1,
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const [state] = await store.reservations.capStates([{ scope: 'run', key: runId, limitUsd: CAP_USD }], Date.now());
  return { spentUsd: state.spentUsd, overUsd: Math.max(0, state.spentUsd - CAP_USD), held, refused, waits };
}

export async function benchCaps() {
  const store = createStore(join(tempDir(), 'caps.db'));
  const stage = createReservationStage(store, (req) => capsFor({ usd: CAP_USD }, undefined, req.attribution, req.receivedAt));
  const random = rng(12);
  const runs = [];
  const started = performance.now();
  for (let run = 0; run < RUNS; run++) runs.push(await oneRun(store, stage, run, random));
  const ms = performance.now() - started;
  await store.close();
  const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
  const overTotal = sum('overUsd');
  return {
    figure: `cap accuracy: ${REQUESTS} requests × ${RUNS} runs, concurrency ${CONCURRENCY}, run cap ${CAP_USD} USD, through the reservation stage`,
    spendAboveCapUsd: { total: overTotal, worstRun: Math.max(...runs.map((r) => r.overUsd)), goal: 0 },
    spentUsd: { min: Math.min(...runs.map((r) => r.spentUsd)), max: Math.max(...runs.map((r) => r.spentUsd)) },
    requests: { held: sum('held'), refused: sum('refused'), waits: sum('waits') },
    perRun: runs.map((r) => ({ spentUsd: Number(r.spentUsd.toFixed(6)), held: r.held, refused: r.refused, waits: r.waits })),
    msPerRequest: ms / (RUNS * REQUESTS),
    pass: overTotal === 0,
  };
}
