// Issue 15's figures, side by side in one run (PostgreSQL on a throwaway server with fsync on, and SQLite):
// - claims: 8 worker processes claiming and completing 10,000 queued agent jobs (instant agents): jobs/s, double executions, lost;
// - claim latency from enqueue to claim, p50/p99 (PostgreSQL wakes idle workers with NOTIFY; SQLite workers poll every 20 ms);
// - takeover: a worker on a vanished host holding 16 jobs is killed -9; time until all 16 run again elsewhere (p50 of 10 trials);
// - a 1,000-agent workflow: one process on SQLite, one process on PostgreSQL, and its agents on 4 workers (PostgreSQL).
// Run: npm run build && node bench/workers.mjs   (or BENCH_ONLY=workers npm run bench)
import { fork, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createStore } from '../dist/index.js';
import { startPgServer } from '../scripts/pg-server.mjs';
import { CLI, ROOT, tempDir } from './lib.mjs';

const JOBS = Number(process.env.BENCH_WORKER_JOBS ?? 10_000);
const RUNS = 20;
const TRIALS = Number(process.env.BENCH_TAKEOVER_TRIALS ?? 10);
const AGENTS = Number(process.env.BENCH_PIPELINE_AGENTS ?? 1000);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function child(args) {
  const c = fork(join(ROOT, 'bench', 'job-worker.mjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages = [];
  const waiters = [];
  c.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred) => {
    for (;;) {
      const m = messages.find(pred);
      if (m) return m;
      await new Promise((r) => waiters.push(r));
    }
  };
  return { c, next, exited: new Promise((r) => c.once('exit', r)) };
}

async function bareRuns(store, n, prefix) {
  for (let i = 0; i < n; i++) {
    await store.createRun(
      {
        id: `${prefix}${i}`,
        name: 'bench',
        description: '',
        scriptPath: '/bench.js',
        scriptSource: '',
        scriptHash: '',
        scriptForm: 'claude-code',
        args: null,
        settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
        fromRunId: null,
      },
      Date.now(),
    );
  }
}

const spec = (runId, callKey) => ({ runId, callKey, pool: 'bench', labels: [], backend: 'builtin', request: { prompt: 'x' } });

async function enqueueMany(store, n, runs, prefix) {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) =>
        store.jobs.enqueue(spec(`${prefix}${(i + k) % runs}`, `agent:${i + k}`), Date.now()),
      ),
    );
  }
}

async function claims(location, label) {
  const store = createStore(location);
  await bareRuns(store, RUNS, 'c');
  await enqueueMany(store, JOBS, RUNS, 'c');
  const workers = Array.from({ length: 8 }, (_, i) => child(['drain', location, `w${i}`]));
  await Promise.all(workers.map((w) => w.next((m) => m === 'ready')));
  const t0 = performance.now();
  for (const w of workers) w.c.send('go');
  const reports = await Promise.all(workers.map((w) => w.next((m) => typeof m === 'object' && 'done' in m)));
  const ms = performance.now() - t0;
  await Promise.all(workers.map((w) => w.exited));
  const jobs = [];
  for (let r = 0; r < RUNS; r++) jobs.push(...(await store.jobs.listByRun(`c${r}`)));
  await store.close();
  const done = reports.reduce((n, r) => n + r.done, 0);
  return {
    store: label,
    jobs: JOBS,
    workers: 8,
    seconds: +(ms / 1000).toFixed(2),
    jobsPerSecond: Math.round(JOBS / (ms / 1000)),
    doubleExecutions: jobs.filter((j) => j.claims > 1).length + (done - jobs.filter((j) => j.status === 'finished').length),
    lost: jobs.filter((j) => j.status !== 'finished').length,
    perWorker: reports.map((r) => r.done),
  };
}

async function latency(location, label, n = 200) {
  const store = createStore(location);
  await bareRuns(store, 1, 'l');
  const w = child(['latency', location, 'lat']);
  await w.next((m) => m === 'listening');
  const out = [];
  for (let i = 0; i < n; i++) {
    const { job } = await store.jobs.enqueue(spec('l0', `agent:${i}`), Date.now());
    for (;;) {
      await store.jobs.waitForOutcome('l0', 50);
      const j = await store.jobs.get(job.id);
      if (j.status === 'finished') {
        out.push(j.outcome.claimedAt - j.createdAt);
        break;
      }
    }
  }
  w.c.send('stop');
  await w.exited;
  await store.close();
  return { store: label, samples: n, p50Ms: pct(out, 50), p99Ms: pct(out, 99), meanMs: +(out.reduce((a, b) => a + b, 0) / n).toFixed(1) };
}

async function takeover(location) {
  const store = createStore(location);
  await bareRuns(store, 1, 't');
  const times = [];
  let repaid = 0;
  let doubles = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    for (let k = 0; k < 16; k++) await store.jobs.enqueue(spec('t0', `agent:${trial}:${k}`), Date.now());
    const holder = child(['hold', location, `holder${trial}`, '16']);
    const { held } = await holder.next((m) => typeof m === 'object' && 'held' in m);
    if (held.length !== 16) throw new Error(`holder got ${held.length} jobs`);
    const killedAt = Date.now();
    holder.c.kill('SIGKILL');
    await holder.exited;
    // Started once the jobs are held (a rescuer already polling would take them before the holder).
    const rescuer = child(['rescue', location, `rescuer${trial}`]);
    for (;;) {
      const jobs = await Promise.all(held.map((id) => store.jobs.get(id)));
      if (jobs.every((j) => j.claims >= 2)) {
        times.push(Math.max(...jobs.map((j) => j.startedAt)) - killedAt);
        repaid += jobs.filter((j) => j.claims === 2).length;
        doubles += jobs.filter((j) => j.claims > 2).length;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    rescuer.c.send('stop');
    await rescuer.exited;
  }
  await store.close();
  return {
    trials: TRIALS,
    inFlight: 16,
    leaseTtlMs: 10_000,
    takeoverP50Ms: pct(times, 50),
    takeoverMaxMs: Math.max(...times),
    rerunPerTrial: repaid / TRIALS,
    doubleExecutions: doubles,
    pass: pct(times, 50) <= 30_000 && doubles === 0 && repaid / TRIALS <= 16,
  };
}

function cli(args, env, cwd) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`drover ${args.join(' ')} exited ${code}: ${err.slice(-400)}`))));
  });
}

async function pipeline(pgUrl) {
  const dir = tempDir();
  const wf = join(dir, 'wf.js');
  writeFileSync(
    wf,
    `export const meta = { name: 'fan', description: '${AGENTS} agents' };\nconst out = await parallel(Array.from({ length: ${AGENTS} }, (_, i) => () => agent('task ' + i)));\nreturn out.filter(Boolean).length;\n`,
  );
  const sim = join(dir, 'sim.yaml');
  writeFileSync(sim, 'rules:\n  - name: instant\n    usage: { input_tokens: 20, output_tokens: 5 }\n    turns: [{ text: ok }]\n');
  const env = { DROVER_TRACING: '0' };
  const timed = async (fn) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const sqliteMs = await timed(() =>
    cli(['run', wf, '--sim', sim, '--concurrency', '64', '--json'], { ...env, DROVER_STORE: join(dir, 'one.db') }, dir),
  );
  const pgOneMs = await timed(() =>
    cli(['run', wf, '--sim', sim, '--concurrency', '64', '--json'], { ...env, DROVER_STORE: `${pgUrl}?schema=pipe_one` }, dir),
  );
  const url = `${pgUrl}?schema=pipe_workers`;
  const workers = Array.from({ length: 4 }, (_, i) =>
    spawn(process.execPath, [CLI, 'worker', '--concurrency', '16', '--name', `w${i}`, '--json'], {
      cwd: dir,
      env: { ...process.env, ...env, DROVER_STORE: url },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const distMs = await timed(() =>
    cli(['run', wf, '--sim', sim, '--concurrency', '64', '--agents-on', 'workers', '--json'], { ...env, DROVER_STORE: url }, dir),
  );
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  return {
    agents: AGENTS,
    sqliteOneProcessMs: Math.round(sqliteMs),
    postgresOneProcessMs: Math.round(pgOneMs),
    postgresFourWorkersMs: Math.round(distMs),
    wallRatioFourWorkersVsOneProcess: +(distMs / pgOneMs).toFixed(2),
    perCallOverheadVsSqliteMs: +((distMs - sqliteMs) / AGENTS).toFixed(2),
  };
}

export async function benchWorkers() {
  const pg = await startPgServer({ durable: true });
  try {
    const dir = tempDir();
    // BENCH_WORKERS_PARTS=claims,latency,takeover,pipeline picks some.
    const parts = new Set((process.env.BENCH_WORKERS_PARTS ?? 'claims,latency,takeover,pipeline').split(','));
    const out = {};
    if (parts.has('claims'))
      out.claims = [await claims(`${pg.url}?schema=claims`, 'postgres'), await claims(join(dir, 'claims.db'), 'sqlite')];
    if (parts.has('latency')) {
      out.claimLatency = [
        await latency(`${pg.url}?schema=latency`, 'postgres (NOTIFY)'),
        await latency(join(dir, 'latency.db'), 'sqlite (20 ms polls)'),
      ];
    }
    if (parts.has('takeover')) out.takeover = await takeover(`${pg.url}?schema=takeover`);
    if (parts.has('pipeline')) out.pipeline = await pipeline(pg.url);
    out.pass = (out.takeover?.pass ?? true) && (out.claims ?? []).every((c) => c.doubleExecutions === 0 && c.lost === 0);
    return out;
  } finally {
    await pg.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchWorkers(), null, 2));
