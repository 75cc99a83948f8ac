// Listing runs with big results (issue 10 §3): `Store.listRuns` and a whole `drover runs --json`
// over 20 runs holding a 10 MB result each, beside the query listRuns ran before (`SELECT *`).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createStore } from '../dist/index.js';
import { CLI, run, tempDir } from './lib.mjs';

const RUNS = 20;
const RESULT_BYTES = 10 * 1024 * 1024;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchListing() {
  const dir = tempDir();
  const path = join(dir, 'drover.db');
  const store = createStore(path);
  const result = 'x'.repeat(RESULT_BYTES);
  for (let i = 0; i < RUNS; i++) {
    const id = `run-${i}`;
    await store.createRun(
      {
        id,
        name: id,
        description: 'a run with a 10 MB result',
        scriptPath: join(dir, 'wf.js'),
        scriptSource: '',
        scriptHash: '',
        scriptForm: 'claude-code',
        args: null,
        settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
        fromRunId: null,
      },
      Date.now(),
    );
    await store.updateRun(id, { status: 'completed', result, finishedAt: Date.now() }, Date.now());
  }
  const listMs = [];
  for (let k = 0; k < 9; k++) {
    const t = performance.now();
    await store.listRuns({ limit: 50 });
    listMs.push(performance.now() - t);
  }
  await store.close();
  // What listRuns read before: every column of every listed run, results included.
  const db = new Database(path, { readonly: true });
  db.pragma('mmap_size = 268435456');
  const beforeMs = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    db.prepare('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 50').all();
    beforeMs.push(performance.now() - t);
  }
  db.close();
  const cliMs = [];
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    const r = await run(process.execPath, [CLI, 'runs', '--json', '--store', path]);
    if (r.code !== 0) throw new Error(`drover runs: ${r.stderr}`);
    cliMs.push(performance.now() - t);
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    runs: RUNS,
    resultBytes: RESULT_BYTES,
    listRunsMsP50: Number(median(listMs).toFixed(2)),
    selectStarMsP50: Number(median(beforeMs).toFixed(1)),
    droverRunsJsonMsP50: Number(median(cliMs).toFixed(0)),
  };
}
