// Crash consistency (issue 10, Figures): the 60-call workflow of bench/fixtures/crash-workflow.js run
// by the real CLI against an in-process sim gateway on 127.0.0.1,
//  1. killed with SIGKILL at CRASH_KILLS (default 50) random moments and resumed each time, each
//     finished run compared with one uninterrupted run: result deep-equal, model requests within the
//     uninterrupted run's plus those in flight at the kills, every finished call's usage rows exactly
//     once, no finished call asked again, `drover doctor` clean at the end;
//  2. frozen with SIGSTOP past a short lease (DROVER_LEASE_TTL_MS=CRASH_LEASE_MS, default 1000) at
//     CRASH_FREEZES (default 10) random moments while a second process resumes and finishes the run,
//     then woken: it must exit 5 (LEASE_LOST) and change no stored row.
// Kill and freeze moments are random counts of answered gateway requests (plus a random delay), from
// a seeded PRNG (CRASH_SEED; printed). Bounded: CRASH_TIME_MS (default 600000) for each part, and
// CRASH_CHILD_TIMEOUT_MS (default 120000) for any one process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { loadScenario, startSimGateway } from '../dist/index.js';
import { CLI, ROOT, tempDir } from './lib.mjs';
import { prng, seedFrom } from './prng.mjs';

const SCRIPT = join(ROOT, 'bench', 'fixtures', 'crash-workflow.js');
const SCENARIO = join(ROOT, 'bench', 'fixtures', 'crash-scenario.yaml');
const CONCURRENCY = '6';

const num = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
};

/** A `drover` child process: `done` resolves with its exit code/signal and output. */
function drover(args, env = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, CI: '1', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timeoutMs = num('CRASH_CHILD_TIMEOUT_MS', 120_000);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise((res) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, timedOut });
    }),
  );
  return Object.assign(child, { done, exited: () => child.exitCode !== null || child.signalCode !== null });
}

const lastJson = (stdout) => {
  try {
    return JSON.parse(stdout.trim().split('\n').pop());
  } catch {
    return null;
  }
};

/** Reads the store with a short-lived read-only connection (no process of ours keeps it open). */
function readStore(path, fn) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const runExists = (path, runId) => {
  try {
    return readStore(path, (db) => !!db.prepare('SELECT 1 FROM runs WHERE id = ?').get(runId));
  } catch {
    return false; // no store file yet, or no schema yet
  }
};
const finishedKeys = (path, runId) =>
  new Set(
    readStore(path, (db) => db.prepare(`SELECT key FROM calls WHERE run_id = ? AND status = 'finished'`).all(runId)).map((r) => r.key),
  );

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `count` requests have been answered (200) since `from` in the log, or the child exited. */
async function answeredOrExit(gw, child, from, count) {
  for (;;) {
    if (child.exited()) return false;
    const log = gw.stats().log;
    let answered = 0;
    for (let i = from; i < log.length; i++) if (log[i].status === 200) answered++;
    if (answered >= count) return true;
    await tick(2);
  }
}

async function baseline(gw, dir) {
  gw.reset();
  const store = join(dir, 'baseline.db');
  const r = await drover([
    'run',
    SCRIPT,
    '--run-id',
    'baseline',
    '--gateway',
    gw.url,
    '--store',
    store,
    '--concurrency',
    CONCURRENCY,
    '--json',
  ]).done;
  const summary = lastJson(r.stdout);
  if (r.code !== 0 || summary?.status !== 'completed')
    throw new Error(`uninterrupted run failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const rowsByKey = readStore(store, (db) =>
    Object.fromEntries(
      db
        .prepare('SELECT call_key, count(*) AS n FROM usage WHERE run_id = ? GROUP BY call_key')
        .all('baseline')
        .map((x) => [x.call_key, x.n]),
    ),
  );
  const calls = readStore(store, (db) => db.prepare('SELECT count(*) AS n FROM calls WHERE run_id = ?').get('baseline').n);
  return { result: summary.result, requests: gw.stats().log.length, rowsByKey, calls };
}

/** Usage rows of every finished call: as many as the uninterrupted run had, no request id twice, each one the gateway answered for that call. */
function checkUsage(store, runId, base, answeredIds) {
  const rows = readStore(store, (db) => db.prepare('SELECT call_key, request_id FROM usage WHERE run_id = ?').all(runId));
  const finished = finishedKeys(store, runId);
  const byKey = new Map();
  for (const r of rows) byKey.set(r.call_key, [...(byKey.get(r.call_key) ?? []), r.request_id]);
  let duplicates = 0;
  let wrongCount = 0;
  let unknownIds = 0;
  for (const key of finished) {
    const ids = byKey.get(key) ?? [];
    duplicates += ids.length - new Set(ids).size;
    if (ids.length !== (base.rowsByKey[key] ?? 0)) wrongCount++;
    for (const id of ids) if (!answeredIds.get(key)?.has(id)) unknownIds++;
  }
  const orphanRows = rows.filter((r) => !finished.has(r.call_key)).length;
  return { duplicates, wrongCount, unknownIds, orphanRows };
}

async function killPart(gw, dir, base, rand, limits) {
  const store = join(dir, 'crash.db');
  const started = Date.now();
  const out = {
    kills: 0,
    resumes: 0,
    runsCompleted: 0,
    resultsEqual: 0,
    resultsDifferent: 0,
    requests: 0,
    baselineRequests: 0,
    inFlightAtKills: 0,
    refetchedFinished: 0,
    overBound: 0,
    duplicateUsageRows: 0,
    wrongUsageRowCounts: 0,
    unknownRequestIds: 0,
    orphanUsageRows: 0,
    unexpectedExits: [],
    doctor: null,
  };
  let round = 0;
  while (out.kills < limits.kills && Date.now() - started < limits.timeMs) {
    round++;
    const runId = `crash-${round}`;
    gw.reset();
    const windows = []; // per process: first log index, kill time, keys finished after the kill
    let summary = null;
    while (!summary) {
      if (Date.now() - started > limits.timeMs * 1.5) break; // the bound: never resume forever
      const from = gw.stats().log.length;
      const exists = runExists(store, runId);
      const args = exists
        ? ['resume', runId, '--gateway', gw.url, '--store', store, '--json']
        : ['run', SCRIPT, '--run-id', runId, '--gateway', gw.url, '--store', store, '--concurrency', CONCURRENCY, '--json'];
      if (exists) out.resumes++;
      const child = drover(args);
      const mayKill = out.kills < limits.kills && Date.now() - started < limits.timeMs;
      if (mayKill) {
        // A random moment: after 0–24 answered requests, then 0–20 ms more (with 0, anywhere in start-up).
        const target = rand.int(0, 24);
        const reached = await answeredOrExit(gw, child, from, target);
        if (reached) await tick(target === 0 ? rand.int(0, 1500) : rand.int(0, 20));
        if (!child.exited()) {
          child.kill('SIGKILL');
          const killedAt = Date.now();
          await child.done;
          out.kills++;
          windows.push({ from, killedAt, finished: runExists(store, runId) ? finishedKeys(store, runId) : new Set() });
          continue;
        }
      }
      const r = await child.done;
      windows.push({ from, killedAt: null, finished: null });
      const s = lastJson(r.stdout);
      if (r.code === 0 && s?.status === 'completed') summary = s;
      else {
        // A resume that does not complete is a finding: recorded with its error, and resumed again (bounded).
        out.unexpectedExits.push({
          runId,
          code: r.code,
          signal: r.signal,
          timedOut: r.timedOut,
          error: s?.error ?? null,
          tail: r.stderr.slice(-300),
        });
        if (out.unexpectedExits.length > 20) break;
      }
    }
    if (!summary) break;
    out.runsCompleted++;
    if (isDeepStrictEqual(summary.result, base.result)) out.resultsEqual++;
    else out.resultsDifferent++;
    // Requests: every one this round, against the uninterrupted run plus those in flight at each kill
    // (made by the killed process for a call it had not journaled: answered or cut off).
    const log = gw.stats().log;
    out.requests += log.length;
    out.baselineRequests += base.requests;
    let inFlight = 0;
    const answeredIds = new Map();
    const finishedBefore = new Set();
    windows.forEach((w, i) => {
      const end = windows[i + 1]?.from ?? log.length;
      for (let j = w.from; j < end; j++) {
        const e = log[j];
        if (e.tag && finishedBefore.has(e.tag)) out.refetchedFinished++;
        if (e.status === 200 && e.tag) answeredIds.set(e.tag, (answeredIds.get(e.tag) ?? new Set()).add(e.requestId));
        if (w.killedAt !== null && e.startedAt <= w.killedAt && (e.status !== 200 || !w.finished.has(e.tag))) inFlight++;
      }
      if (w.finished) for (const k of w.finished) finishedBefore.add(k);
    });
    out.inFlightAtKills += inFlight;
    if (log.length > base.requests + inFlight) out.overBound++;
    const u = checkUsage(store, runId, base, answeredIds);
    out.duplicateUsageRows += u.duplicates;
    out.wrongUsageRowCounts += u.wrongCount;
    out.unknownRequestIds += u.unknownIds;
    out.orphanUsageRows += u.orphanRows;
    process.stderr.write(`  crash round ${round}: ${windows.length - 1} kills, ${log.length} requests (in flight at kills ${inFlight})\n`);
  }
  const doctor = await drover(['doctor', '--store', store, '--json']).done;
  const report = lastJson(doctor.stdout);
  out.doctor = { exit: doctor.code, store: report?.store?.ok ?? report?.store ?? null };
  out.rounds = round;
  out.ms = Date.now() - started;
  return out;
}

/** Every stored row a run has (journal, usage, the run, its questions and events), as comparable text. */
function snapshot(store, runId) {
  return readStore(store, (db) => {
    const rows = (sql) =>
      db
        .prepare(sql)
        .all(runId)
        .map((r) => JSON.stringify(r));
    return {
      run: rows('SELECT * FROM runs WHERE id = ?'),
      calls: rows('SELECT * FROM calls WHERE run_id = ? ORDER BY key'),
      usage: rows('SELECT * FROM usage WHERE run_id = ? ORDER BY id'),
      questions: rows('SELECT * FROM questions WHERE run_id = ? ORDER BY id'),
      events: rows('SELECT * FROM events WHERE run_id = ? ORDER BY id'),
    };
  });
}

/** Rows of `b` not in `a` plus rows of `a` not in `b`, per table. */
function changedRows(a, b) {
  let n = 0;
  for (const table of Object.keys(a)) {
    const before = new Set(a[table]);
    const after = new Set(b[table]);
    for (const r of after) if (!before.has(r)) n++;
    for (const r of before) if (!after.has(r)) n++;
  }
  return n;
}

async function freezePart(gw, dir, base, rand, limits) {
  const store = join(dir, 'freeze.db');
  const env = { DROVER_LEASE_TTL_MS: String(limits.leaseMs) };
  const started = Date.now();
  const out = {
    freezes: 0,
    staleExit5: 0,
    staleOtherExits: [],
    overwrittenRows: 0,
    resumerCompleted: 0,
    resultsEqual: 0,
    finishedBeforeFreeze: 0,
    leaseTtlMs: limits.leaseMs,
  };
  let i = 0;
  while (out.freezes < limits.freezes && Date.now() - started < limits.timeMs) {
    i++;
    const runId = `freeze-${i}`;
    gw.reset();
    const first = drover(
      ['run', SCRIPT, '--run-id', runId, '--gateway', gw.url, '--store', store, '--concurrency', CONCURRENCY, '--json'],
      env,
    );
    // Freeze after 1–44 answered requests (the run and its lease exist by then), then 0–20 ms more.
    const reached = await answeredOrExit(gw, first, 0, rand.int(1, 44));
    if (reached) await tick(rand.int(0, 20));
    if (!reached || first.exited()) {
      await first.done;
      out.finishedBeforeFreeze++;
      continue;
    }
    first.kill('SIGSTOP');
    out.freezes++;
    try {
      // Wait for the condition (its lease ran out), not for a fixed time.
      for (;;) {
        const lease = readStore(store, (db) => db.prepare('SELECT lease_expires_at AS at FROM runs WHERE id = ?').get(runId));
        if (lease && (lease.at === null || lease.at < Date.now())) break;
        await tick(50);
      }
      const second = await drover(['resume', runId, '--gateway', gw.url, '--store', store, '--json'], env).done;
      const s = lastJson(second.stdout);
      if (second.code === 0 && s?.status === 'completed') out.resumerCompleted++;
      if (isDeepStrictEqual(s?.result, base.result)) out.resultsEqual++;
      const afterSecond = snapshot(store, runId);
      first.kill('SIGCONT');
      const stale = await first.done;
      if (stale.code === 5 && /LEASE_LOST|lost the run's lease/.test(stale.stderr + stale.stdout)) out.staleExit5++;
      else out.staleOtherExits.push({ runId, code: stale.code, signal: stale.signal, tail: stale.stderr.slice(-400) });
      const changed = changedRows(afterSecond, snapshot(store, runId));
      out.overwrittenRows += changed;
      process.stderr.write(`  freeze ${out.freezes}: stale exit ${stale.code}, ${changed} rows changed after it woke\n`);
    } finally {
      first.kill('SIGCONT');
    }
  }
  out.ms = Date.now() - started;
  return out;
}

export async function benchCrash() {
  const seed = seedFrom(process.env.CRASH_SEED);
  process.stderr.write(`crash seed ${seed} (CRASH_SEED=${seed} reproduces the moments)\n`);
  const rand = prng(seed);
  const limits = {
    kills: num('CRASH_KILLS', 50),
    freezes: num('CRASH_FREEZES', 10),
    timeMs: num('CRASH_TIME_MS', 600_000),
    leaseMs: num('CRASH_LEASE_MS', 1000),
  };
  const dir = tempDir('drover-crash-');
  const gw = await startSimGateway({ scenario: loadScenario(SCENARIO) });
  try {
    const base = await baseline(gw, dir);
    const kill = await killPart(gw, dir, base, rand, limits);
    const freeze = await freezePart(gw, dir, base, rand, limits);
    const killPass =
      kill.kills > 0 &&
      kill.resultsDifferent === 0 &&
      kill.overBound === 0 &&
      kill.refetchedFinished === 0 &&
      kill.duplicateUsageRows === 0 &&
      kill.wrongUsageRowCounts === 0 &&
      kill.unknownRequestIds === 0 &&
      kill.unexpectedExits.length === 0 &&
      kill.doctor.exit === 0;
    const freezePass =
      limits.freezes === 0 ||
      (freeze.freezes > 0 &&
        freeze.overwrittenRows === 0 &&
        freeze.staleExit5 === freeze.freezes &&
        freeze.resumerCompleted === freeze.freezes &&
        freeze.resultsEqual === freeze.freezes);
    return {
      name: `crash consistency: ${base.calls}-call workflow, SIGKILL at random moments and resumed; SIGSTOP past the lease`,
      seed,
      baseline: { calls: base.calls, requests: base.requests },
      kill,
      freeze,
      target:
        'results equal, requests ≤ uninterrupted + in flight, usage rows once, doctor clean; frozen driver exits 5 with 0 rows changed',
      pass: killPass && freezePass,
    };
  } finally {
    await gw.close();
  }
}
