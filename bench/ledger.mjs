// Ledger exactness (issue 12 figure, fixture part): every usage shape in
// test/fixtures/usage/usage-shapes.json is recorded as a ledger row (tokens priced with
// priceUsage, as the gateway writes them); `drover cost --json` must equal the cost worked out by
// hand from the providers' price sheets, per request and in total, to 1e-9 USD.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, priceUsage } from '../dist/index.js';
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
    pass: totalDiff < 1e-9 && maxRequestDiff < 1e-9 && flagsMatch,
  };
}
