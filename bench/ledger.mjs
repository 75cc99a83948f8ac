// Ledger exactness (issue 12 figure, fixture part): every usage shape in
// test/fixtures/usage/usage-shapes.json is recorded as a ledger row (tokens priced with
// priceUsage, as the gateway writes them); `drover cost --json` must equal the cost worked out by
// hand from the providers' price sheets, per request and in total, to 1e-9 USD.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, priceUsage } from '../dist/index.js';
import { startPgServer } from '../scripts/pg-server.mjs';
import { CLI, ROOT, tempDir } from './lib.mjs';

export async function benchLedger() {
  const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'usage', 'usage-shapes.json'), 'utf8'));
  const path = join(tempDir(), 'drover.db');
  const store = createStore(path);
  const settings = { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 };
  await store.createRun(
    {
      id: 'exact',
      name: 'exact',
      description: '',
      scriptPath: 'x',
      scriptSource: '',
      scriptHash: '',
      scriptForm: 'claude-code',
      args: null,
      settings,
      fromRunId: null,
    },
    Date.now(),
  );
  for (const [i, c] of fixture.cases.entries()) {
    const p = priceUsage(c.model, c.tokens);
    await store.ledger.record({
      runId: 'exact',
      callKey: c.agent,
      agentLabel: c.agent,
      phase: c.phase,
      workflow: 'exact',
      session: null,
      provider: c.wire === 'anthropic' ? 'anthropic' : 'openai',
      wire: c.wire,
      mode: 'proxy',
      model: c.model,
      requestId: `req-${i}`,
      status: c.status,
      stopReason: null,
      startedAt: Date.now(),
      endedAt: Date.now(),
      ttfbMs: null,
      ...c.tokens,
      costUsd: p.costUsd,
      priceFlag: c.priceFlag === 'estimated' ? 'estimated' : p.priceFlag,
    });
  }
  await store.close();
  const cost = (by) =>
    JSON.parse(execFileSync(process.execPath, [CLI, 'cost', 'exact', '--by', by, '--json', '--store', path], { encoding: 'utf8' }));
  const total = cost('phase');
  const perRequest = cost('request').breakdown;
  let maxRequestDiff = 0;
  let flagsMatch = true;
  fixture.cases.forEach((c, i) => {
    const got = perRequest[i];
    if (got.priceFlag !== c.priceFlag) flagsMatch = false;
    if (c.expectedUsd === null) flagsMatch &&= got.costUsd === null;
    else maxRequestDiff = Math.max(maxRequestDiff, Math.abs(got.costUsd - c.expectedUsd));
  });
  const totalDiff = Math.abs(total.totalUsd - fixture.expected.totalUsd);
  const writes = await writeRates();
  return {
    figure: 'ledger exactness on the usage-shape fixture (drover cost vs hand arithmetic)',
    cases: fixture.cases.length,
    expectedTotalUsd: fixture.expected.totalUsd,
    reportedTotalUsd: total.totalUsd,
    totalDiffUsd: totalDiff,
    maxRequestDiffUsd: maxRequestDiff,
    unpricedRequests: total.unpricedRequests,
    estimatedRequests: total.estimatedRequests,
    flagsMatch,
    writes,
    pass: totalDiff < 1e-9 && maxRequestDiff < 1e-9 && flagsMatch && writes.sqlite.rows === WRITES && writes.postgres.rows === WRITES,
  };
}

const WRITES = 20_000;
const WRITERS = 200;

/** Rows/s of `ledger.record` with 200 writers each awaiting its row (a gateway ending many requests per turn). */
async function writeRate(location) {
  const store = createStore(location);
  const row = (i) => ({
    runId: 'w',
    callKey: `c${i % 50}`,
    agentLabel: 'a',
    phase: 'p',
    workflow: 'w',
    session: null,
    provider: 'anthropic',
    wire: 'anthropic',
    mode: 'proxy',
    model: 'claude-sonnet-5',
    requestId: `q${i}`,
    status: 200,
    stopReason: 'end_turn',
    inputTokens: 100,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 10,
    reasoningTokens: 0,
    serverToolUses: {},
    costUsd: 0.001,
    priceFlag: 'priced',
    startedAt: Date.now(),
    endedAt: Date.now(),
    ttfbMs: 1,
  });
  await store.ledger.listByRun('w'); // connected and migrated before the clock starts
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < WRITES) await store.ledger.record(row(next++));
    }),
  );
  const ms = performance.now() - started;
  const rows = (await store.ledger.listByRun('w')).length;
  await store.close();
  return { rowsPerSec: Math.round(WRITES / (ms / 1000)), rows };
}

/** Ledger writes side by side: an SQLite file and a throwaway PostgreSQL server (fsync on). */
async function writeRates() {
  const sqlite = await writeRate(join(tempDir(), 'writes.db'));
  const server = await startPgServer({ durable: true });
  try {
    return { figure: `${WRITES} rows, ${WRITERS} writers`, sqlite, postgres: await writeRate(`${server.url}?schema=bench_writes`) };
  } finally {
    await server.stop();
  }
}
