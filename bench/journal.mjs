// Journal write cost per call, unbatched upper bound: a call's two writes (started, then outcome +
// usage in one transaction) each in its own transaction on a real SQLite file, at
// synchronous=normal (default) and full. In a run, group commit folds concurrent writes together.
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { percentile, tempDir } from './lib.mjs';

const CALLS = 5000;

async function measure(synchronous) {
  const dir = tempDir();
  const store = createStore(join(dir, 'j.db'), { synchronous });
  const now = Date.now();
  await store.createRun(
    {
      id: 'r',
      name: 'j',
      description: 'd',
      scriptPath: '/x',
      scriptSource: '',
      scriptHash: '',
      scriptForm: 'claude-code',
      args: null,
      settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
      fromRunId: null,
    },
    now,
  );
  const started = [];
  const outcome = [];
  for (let i = 0; i < CALLS; i++) {
    const call = {
      runId: 'r',
      key: `agent:${i}`,
      kind: 'agent',
      label: `task ${i}`,
      phase: 'P',
      status: 'started',
      inputs: { prompt: `task ${i} `.repeat(20) },
      result: null,
      error: null,
      attempts: 0,
      startedAt: now,
      finishedAt: null,
      reusedFrom: null,
    };
    const t0 = performance.now();
    await store.recordCalls([call]);
    const t1 = performance.now();
    await store.recordCalls(
      [{ ...call, status: 'finished', result: `answer ${i} `.repeat(20), finishedAt: now, attempts: 1 }],
      [
        {
          runId: 'r',
          callKey: call.key,
          requestId: `msg_${i}`,
          model: 'm',
          inputTokens: 100,
          outputTokens: 20,
          cacheReadTokens: 0,
          cacheWrite5mTokens: 0,
          cacheWrite1hTokens: 0,
          stopReason: 'end_turn',
          createdAt: now,
        },
      ],
    );
    const t2 = performance.now();
    started.push(t1 - t0);
    outcome.push(t2 - t1);
  }
  await store.close();
  const total = started.map((s, i) => s + outcome[i]).sort((a, b) => a - b);
  const us = (ms) => Math.round(ms * 1000);
  return {
    synchronous,
    p50us: us(percentile(total, 50)),
    p99us: us(percentile(total, 99)),
    startedP50us: us(
      percentile(
        [...started].sort((a, b) => a - b),
        50,
      ),
    ),
    outcomeP50us: us(
      percentile(
        [...outcome].sort((a, b) => a - b),
        50,
      ),
    ),
  };
}

export async function benchJournal() {
  return {
    name: `journal write cost per call (${CALLS} calls, started + outcome)`,
    results: [await measure('normal'), await measure('full')],
  };
}
