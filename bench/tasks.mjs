// Task board figures: claim throughput of 8 processes (drover's SQLite store vs Claude Code's
// file protocol, side by side), and the `ready` query on a 10,000-task, 30,000-edge DAG.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { TaskBoard } from '../dist/tasks/index.js';
import { percentile, tempDir } from './lib.mjs';

const PROCS = 8;
const TASKS = Number(process.env.BENCH_CLAIM_TASKS ?? 10_000);
const FILE_TASKS = Number(process.env.BENCH_FILE_TASKS ?? 2_000);

async function runWorkers(script, argsFor) {
  const children = Array.from({ length: PROCS }, (_, i) =>
    fork(new URL(script, import.meta.url), argsFor(i), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
  const t0 = performance.now();
  const results = children.map(
    (c) =>
      new Promise((res, rej) => {
        c.once('message', (m) => res(m.claimed));
        c.once('exit', (code) => code !== 0 && rej(new Error(`worker exited ${code}`)));
      }),
  );
  for (const c of children) c.send('go');
  const claimed = (await Promise.all(results)).flat();
  return { ms: performance.now() - t0, claimed };
}

async function droverClaims() {
  const dir = tempDir();
  const storePath = join(dir, 'tasks.db');
  const store = createStore(storePath);
  const board = new TaskBoard(store, 'bench', { name: 'setup' });
  for (let i = 0; i < TASKS; i++) await board.create({ subject: `task ${i}` });
  const { ms, claimed } = await runWorkers('./claim-worker.mjs', (i) => [storePath, 'bench', `w${i}`]);
  const events = await board.history();
  const claimEvents = events.filter((e) => e.kind === 'claimed');
  const completed = (await board.list()).filter((t) => t.status === 'completed').length;
  await store.close();
  return {
    tasks: TASKS,
    ms: Math.round(ms),
    claimsPerSec: Math.round(TASKS / (ms / 1000)),
    doubleClaims: claimed.length - new Set(claimed).size + (claimEvents.length - new Set(claimEvents.map((e) => e.taskId)).size),
    lostUpdates: TASKS - completed,
  };
}

async function fileClaims() {
  const dir = join(tempDir(), 'tasks', 'bench');
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= FILE_TASKS; i++) {
    writeFileSync(
      join(dir, `${i}.json`),
      JSON.stringify({ id: String(i), subject: `task ${i}`, description: '', status: 'pending', blocks: [], blockedBy: [] }, null, 2),
    );
  }
  writeFileSync(join(dir, '.highwatermark'), String(FILE_TASKS));
  const { ms, claimed } = await runWorkers('./file-claim-worker.mjs', (i) => [dir, `w${i}`]);
  return {
    tasks: FILE_TASKS,
    ms: Math.round(ms),
    claimsPerSec: Math.round(claimed.length / (ms / 1000)),
    doubleClaims: claimed.length - new Set(claimed).size,
    unclaimed: FILE_TASKS - new Set(claimed).size,
  };
}

async function readyQuery() {
  const dir = tempDir();
  const store = createStore(join(dir, 'dag.db'));
  const board = new TaskBoard(store, 'dag', { name: 'setup' });
  const N = 10_000;
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let edges = 0;
  for (let i = 1; i <= N; i++) {
    const blockers = new Set();
    if (i > 3) while (blockers.size < 3) blockers.add(String(1 + Math.floor(rand() * (i - 1))));
    edges += blockers.size;
    await board.create({ subject: `task ${i}`, blockedBy: [...blockers], priority: Math.floor(rand() * 4) });
  }
  // Finish the first half (blockers always have lower ids, so this order is valid).
  for (let i = 1; i <= N / 2; i++) await board.complete(String(i));
  const full = [];
  const page = [];
  const first = [];
  let readyCount = 0;
  let pageSize = 0;
  for (let r = 0; r < 200; r++) {
    let t0 = performance.now();
    pageSize = (await board.ready()).length;
    page.push(performance.now() - t0);
    t0 = performance.now();
    await board.ready(1);
    first.push(performance.now() - t0);
    t0 = performance.now();
    readyCount = (await board.ready(Number.POSITIVE_INFINITY)).length;
    full.push(performance.now() - t0);
  }
  await store.close();
  for (const x of [full, page, first]) x.sort((a, b) => a - b);
  const ms = (x) => Number(x.toFixed(2));
  return {
    tasks: N,
    edges,
    readyTasks: readyCount,
    readyP50ms: ms(percentile(page, 50)),
    readyP99ms: ms(percentile(page, 99)),
    pageSize,
    bestReadyP50ms: ms(percentile(first, 50)),
    fullReadyListP50ms: ms(percentile(full, 50)),
    fullReadyListP99ms: ms(percentile(full, 99)),
    pass: percentile(page, 50) <= 5,
    note: 'readyP50ms: `ready` as drover tasks ready / task_ready / tasks.ready() run it (the best 100, with their edges); bestReadyP50ms: the query claim runs; fullReadyListP50ms: every ready task (--all)',
  };
}

export async function benchTasks() {
  const drover = await droverClaims();
  const files = await fileClaims();
  const ready = await readyQuery();
  return {
    name: `task board: ${PROCS} processes claiming and completing; ready query on a 10k-task DAG`,
    claims: { drover, claudeFileProtocol: files, target: '≥ 5000 claims/s, 0 double claims, 0 lost updates' },
    ready: { ...ready, target: 'p50 ≤ 5 ms' },
    pass: drover.claimsPerSec >= 5000 && drover.doubleClaims === 0 && drover.lostUpdates === 0 && ready.pass,
  };
}
