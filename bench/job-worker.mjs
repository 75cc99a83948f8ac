// One job claimer for bench/workers.mjs. Modes:
//   drain <store> <name>: claim up to 16 jobs at a time and complete each at once (an instant agent) until the queue stays empty.
//   latency <store> <name>: wait for work (NOTIFY on PostgreSQL, 20 ms polls on SQLite); claim; stamp the claim time in the outcome.
//   hold <store> <name> <n>: claim n jobs as a worker on another host, say so, and never finish them (the parent kills it).
//   rescue <store> <name>: claim every 250 ms (as a worker on this host) and complete what it gets.
import { randomUUID } from 'node:crypto';
import { createStore } from '../dist/index.js';

const [mode, location, name, n] = process.argv.slice(2);
const store = createStore(location);
const newToken = () => randomUUID();
const base = (over = {}) => ({
  pool: 'bench',
  worker: name,
  host: 'bench-host',
  pid: process.pid,
  labels: [],
  limit: 16,
  ttlMs: 10_000,
  now: Date.now(),
  isHolderGone: () => false,
  newToken,
  ...over,
});
process.send?.('ready');

if (mode === 'drain') {
  await new Promise((r) => process.once('message', r));
  let done = 0;
  let refused = 0;
  let empty = 0;
  while (empty < 3) {
    const jobs = await store.jobs.claim(base({ now: Date.now() }));
    if (jobs.length === 0) {
      empty++;
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    empty = 0;
    for (const j of jobs) {
      if (await store.jobs.complete(j.id, j.lease.token, { ok: true, text: 'ok', by: name }, Date.now())) done++;
      else refused++;
    }
  }
  process.send?.({ done, refused });
} else if (mode === 'latency') {
  // The LISTEN (PostgreSQL) is in place before the parent enqueues the first job.
  await store.jobs.waitForWork('bench', 1);
  process.send?.('listening');
  const stop = new AbortController();
  process.once('message', () => stop.abort());
  while (!stop.signal.aborted) {
    const lookedAt = Date.now();
    const jobs = await store.jobs.claim(base({ now: Date.now(), limit: 1 }));
    const at = Date.now();
    for (const j of jobs) await store.jobs.complete(j.id, j.lease.token, { ok: true, text: 'ok', claimedAt: at }, Date.now());
    if (jobs.length === 0) await store.jobs.waitForWork('bench', store.kind === 'postgres' ? 60_000 : 20, stop.signal, lookedAt);
  }
  process.send?.({ stopped: true });
} else if (mode === 'hold') {
  const jobs = await store.jobs.claim(base({ now: Date.now(), limit: Number(n), host: 'vanished-host' }));
  process.send?.({ held: jobs.map((j) => j.id) });
  await new Promise(() => {});
} else if (mode === 'rescue') {
  const stop = new AbortController();
  process.once('message', () => stop.abort());
  while (!stop.signal.aborted) {
    const jobs = await store.jobs.claim(base({ now: Date.now(), isHolderGone: () => false }));
    for (const j of jobs) await store.jobs.complete(j.id, j.lease.token, { ok: true, text: 'ok', rescuedAt: Date.now() }, Date.now());
    if (jobs.length === 0) await new Promise((r) => setTimeout(r, 250));
  }
  process.send?.({ stopped: true });
}
await store.close();
process.exit(0);
