/**
 * `drover worker`: queued runs driven by worker processes sharing one store (SQLite here, and
 * PostgreSQL in the `postgres` project). Real processes, a real sim gateway on 127.0.0.1 that
 * meters into the same store; synchronised on the gateway's hold gates, worker events on stdout
 * and process exits — never on time.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeIdentity } from '../src/gateway/identity.js';
import { parseScenario } from '../src/gateway/scenario.js';
import { startSimGateway } from '../src/gateway/sim-server.js';
import type { Store } from '../src/store/index.js';
import { ccScript, cli, lastJson, onCleanup, spawnCli, tempDir, tempStore, waitFor, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: held
    match: { prompt: '^held (.*)' }
    hold: 'held'
    usage: { input_tokens: 120, output_tokens: 12 }
    turns: [{ text: 'finished {{1}}' }]
  - name: echo
    match: { prompt: '^(.*)$' }
    usage: { input_tokens: 100, output_tokens: 10 }
    turns: [{ text: 'echo {{1}}' }]
`;

const WORKFLOW = `
phase('Work');
const a = await agent('first job', { label: 'first' });
const b = await agent('held second', { label: 'second' });
return [a, b];
`;

/** A sim gateway that writes its ledger rows into `store`: the run's own gateway then leaves metering to it. */
async function meteringGateway(store: Store) {
  const gw = await startSimGateway({
    scenario: parseScenario(SCENARIO, 'worker.yaml'),
    ledger: store.ledger,
    storeId: storeIdentity(store),
  });
  onCleanup(() => gw.close());
  return gw;
}

type Event = Record<string, unknown> & { type: string };
const events = (stdout: string): Event[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event);

function spawnWorker(args: string[], cwd: string, env: Record<string, string>) {
  const child = spawnCli(['worker', '--json', ...args], { cwd, env });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  return { child, seen: () => events(out) };
}

async function queue(script: string, cwd: string, env: Record<string, string>, extra: string[] = []): Promise<string> {
  const queued = await cli(['run', script, '--queue', '--json', ...extra], { cwd, env });
  expect(queued.code, queued.stderr).toBe(0);
  const said = lastJson(queued.stdout);
  expect(said).toMatchObject({ status: 'queued', pool: 'workers' });
  return said.runId as string;
}

describe('drover worker', { timeout: 120_000 }, () => {
  it('two queued runs and three workers on one store: each run is driven once, to completion', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const sim = write(dir, 'sim.yaml', SCENARIO.replace(/\n\s*hold: 'held'/, ''));
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'queued-wf');
    const ids = [await queue(script, dir, env, ['--sim', sim]), await queue(script, dir, env, ['--sim', sim])];
    const status = await cli(['runs', '--json'], { cwd: dir, env });
    expect(status.code, status.stderr).toBe(0);
    for (const id of ids) expect((await store.getRun(id))?.status).toBe('queued');

    const workers = [0, 1, 2].map((i) => spawnWorker(['--once', '--name', `w${i}`], dir, env));
    const ended = await Promise.all(workers.map((w) => w.child.done));
    for (const e of ended) expect(e.code, e.stderr).toBe(0);
    const all = workers.flatMap((w) => w.seen());
    const claims = all.filter((e) => e.type === 'claimed');
    expect(claims.map((c) => c.runId).sort()).toEqual([...ids].sort());
    expect(claims.every((c) => c.tookOverFrom === null)).toBe(true);
    const finished = all.filter((e) => e.type === 'finished');
    expect(finished.map((f) => [f.runId, f.status]).sort()).toEqual(ids.map((id) => [id, 'completed']).sort());
    for (const id of ids) {
      const run = await store.getRun(id);
      expect(run).toMatchObject({ status: 'completed', result: ['echo first job', 'finished second'], lease: null, pool: 'workers' });
      // One model request per agent call: nothing ran twice.
      expect((await store.usageTotals(id)).requests).toBe(2);
    }
  });

  it('kill -9 of a worker mid-call: another takes the run over; no call completes twice; the ledger equals what the gateway served', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'killed-wf');
    const runId = await queue(script, dir, env, ['--gateway', gw.url]);

    const first = spawnWorker(['--name', 'doomed'], dir, env);
    await gw.gates.arrived('held', 1);
    expect(
      first
        .seen()
        .filter((e) => e.type === 'claimed')
        .map((e) => e.runId),
    ).toEqual([runId]);
    first.child.kill('SIGKILL');
    await first.child.done;

    const second = spawnWorker(['--once', '--name', 'heir'], dir, env);
    await gw.gates.arrived('held', 2);
    gw.gates.open('held');
    const done = await second.child.done;
    expect(done.code, done.stderr).toBe(0);
    const claimed = second.seen().find((e) => e.type === 'claimed');
    expect(claimed).toMatchObject({ runId, tookOverFrom: expect.any(String) });
    expect(second.seen().find((e) => e.type === 'finished')).toMatchObject({ runId, status: 'completed' });
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', result: ['echo first job', 'finished second'] });

    // The finished call was reused, not paid again; only the call in flight at the kill ran again.
    const served = gw.stats().log;
    expect(served.filter((l) => l.rule === 'echo')).toHaveLength(1);
    expect(served.filter((l) => l.rule === 'held')).toHaveLength(2);
    const ledger = await waitFor(
      async () => {
        const rows = await store.ledger.listByRun(runId);
        return rows.length === served.length ? rows : undefined;
      },
      20_000,
      'a ledger row per request the gateway served',
    );
    expect(ledger).toHaveLength(served.length);
    const completedPerCall = new Map<string, number>();
    for (const row of ledger.filter((r) => r.status === 200 && r.stopReason !== null)) {
      completedPerCall.set(row.callKey ?? '', (completedPerCall.get(row.callKey ?? '') ?? 0) + 1);
    }
    expect([...completedPerCall.values()].every((n) => n === 1)).toBe(true);
    expect(completedPerCall.size).toBe(2);
  });

  it('SIGTERM hands the run back at once: another worker takes it without waiting for the lease to lapse', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'handed-back');
    const runId = await queue(script, dir, env, ['--gateway', gw.url]);

    // A ten-minute lease: only the hand-back can let the next worker in.
    const first = spawnWorker(['--name', 'leaving', '--lease-ttl', '600000'], dir, env);
    await gw.gates.arrived('held', 1);
    first.child.kill('SIGTERM');
    const left = await first.child.done;
    expect(left.code, left.stderr).toBe(0);
    expect(first.seen().find((e) => e.type === 'requeued')).toMatchObject({ runId, reason: 'worker shutting down' });
    expect(await store.getRun(runId)).toMatchObject({ status: 'queued', lease: null });

    gw.gates.open('held');
    const second = spawnWorker(['--once', '--name', 'next', '--lease-ttl', '600000'], dir, env);
    const done = await second.child.done;
    expect(done.code, done.stderr).toBe(0);
    expect(second.seen().find((e) => e.type === 'claimed')).toMatchObject({ runId, tookOverFrom: null });
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', result: ['echo first job', 'finished second'] });
    expect(gw.stats().log.filter((l) => l.rule === 'echo')).toHaveLength(1);
  });

  // Skipped: on a loaded 2-core CI machine this test sometimes outlives its 120 s (seen on SQLite and on
  // PostgreSQL) — a worker frozen past its lease and woken is slow to report the loss, or its heir slow to
  // take over; not yet explained (issue 15's closing note, docs/scale.md). Fencing itself stays pinned by
  // the store conformance test (fenced writes refused) and test/fencing.test.ts (a frozen driver).
  it.skip('a worker that was paused past its lease (SIGSTOP) cannot commit over the worker that took the run over (fencing)', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'fenced');
    const runId = await queue(script, dir, env, ['--gateway', gw.url]);

    // A long poll: once it holds the run, its loop sleeps (it is frozen mid-drive, not mid-claim; a process
    // frozen inside an SQLite write would hold the file's lock — PostgreSQL ends such a session itself).
    const stale = spawnWorker(['--name', 'stale', '--lease-ttl', '1000', '--poll', '600000'], dir, env);
    await gw.gates.arrived('held', 1);
    stale.child.kill('SIGSTOP');
    onCleanup(() => stale.child.kill('SIGKILL'));
    // Its process is alive, so the heir waits for the lease to lapse, then takes the run.
    const heir = spawnWorker(['--name', 'heir', '--poll', '50'], dir, env);
    await gw.gates.arrived('held', 2);
    expect(heir.seen().find((e) => e.type === 'claimed')).toMatchObject({ runId, tookOverFrom: expect.any(String) });
    gw.gates.open('held');
    await waitFor(() => heir.seen().find((e) => e.type === 'finished'), 60_000, 'the heir to finish the run');
    // The stale worker wakes up with its answer in hand: every write it tries is refused.
    stale.child.kill('SIGCONT');
    await waitFor(() => stale.seen().find((e) => e.type === 'lost'), 60_000, 'the stale worker to find its lease gone');
    expect(stale.seen().find((e) => e.type === 'lost')?.message).toContain('lost');
    expect(stale.seen().some((e) => e.type === 'finished')).toBe(false);
    heir.child.kill('SIGTERM');
    stale.child.kill('SIGTERM');
    await Promise.all([heir.child.done, stale.child.done]);
    const run = await store.getRun(runId);
    expect(run).toMatchObject({ status: 'completed', result: ['echo first job', 'finished second'] });
    const second = (await store.listCalls(runId)).find((c) => c.label === 'second');
    expect(second).toMatchObject({ status: 'finished', result: 'finished second' });
  });

  it('drover stop on a queued run stops it at once: no worker takes it', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const sim = write(dir, 'sim.yaml', SCENARIO.replace(/\n\s*hold: 'held'/, ''));
    const runId = await queue(ccScript(dir, WORKFLOW, 'wf.js', 'stopped-early'), dir, env, ['--sim', sim]);
    const stop = await cli(['stop', runId, '--json'], { cwd: dir, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(lastJson(stop.stdout)).toMatchObject({ runId, outcome: 'stopped', status: 'stopped' });
    const worker = spawnWorker(['--once'], dir, env);
    expect((await worker.child.done).code).toBe(0);
    expect(worker.seen().some((e) => e.type === 'claimed')).toBe(false);
    expect((await store.getRun(runId))?.status).toBe('stopped');
  });

  it('refuses bad input before anything is stored', async () => {
    const dir = tempDir();
    const { path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'bad');
    const badPool = await cli(['run', script, '--queue', 'no spaces!', '--sim', write(dir, 's.yaml', SCENARIO)], { cwd: dir, env });
    expect(badPool.code).toBe(2);
    expect(badPool.stderr).toContain('--queue: "no spaces!"');
    const labelsAlone = await cli(['run', script, '--labels', 'gpu'], { cwd: dir, env });
    expect(labelsAlone.code).toBe(2);
    expect(labelsAlone.stderr).toContain('--labels goes with --queue');
    const badBackend = await cli(['worker', '--backends', 'nope', '--once'], { cwd: dir, env });
    expect(badBackend.code).toBe(2);
    expect(badBackend.stderr).toContain('--backends: "nope" is not a backend');
    const noBackend = await cli(['worker', '--backends', ' , ', '--once'], { cwd: dir, env });
    expect(noBackend.code).toBe(2);
    expect(noBackend.stderr).toContain('--backends: name at least one backend');
    const notARepo = await cli(['worker', '--checkout', dir, '--once'], { cwd: dir, env });
    expect(notARepo.code).toBe(2);
    expect(notARepo.stderr).toContain(`--checkout: ${dir} is not a git repository`);
    const missing = await cli(['worker', '--checkout', join(dir, 'nowhere'), '--once'], { cwd: dir, env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    const runs = await cli(['runs', '--json'], { cwd: dir, env });
    expect(JSON.parse(runs.stdout.trim() || '[]')).toEqual([]);
  });
});

describe('agent calls on workers (drover run --agents-on)', { timeout: 120_000 }, () => {
  const PARALLEL = `
phase('Fan out');
const answers = await parallel(['a', 'b', 'c', 'd', 'e'].map((x) => () => agent('task ' + x, { label: x })));
const last = await agent('held finale', { label: 'finale' });
return [...answers, last];
`;

  it('every agent call runs on a worker; the driver journals their outcomes; the ledger has one row per request', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    gw.gates.open('held');
    const script = ccScript(dir, PARALLEL, 'wf.js', 'fan-out');
    const workers = [spawnWorker(['--name', 'w1'], dir, env), spawnWorker(['--name', 'w2'], dir, env)];
    const ran = await cli(['run', script, '--gateway', gw.url, '--agents-on', 'workers', '--run-id', 'fan', '--json'], { cwd: dir, env });
    expect(ran.code, ran.stderr).toBe(0);
    expect(lastJson(ran.stdout)).toMatchObject({
      status: 'completed',
      result: ['echo task a', 'echo task b', 'echo task c', 'echo task d', 'echo task e', 'finished finale'],
    });
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.child.done));
    const done = workers.flatMap((w) => w.seen()).filter((e) => e.type === 'job-done');
    expect(done).toHaveLength(6);
    const jobs = await store.jobs.listByRun('fan');
    expect(jobs.map((j) => [j.status, j.claims])).toEqual(Array.from({ length: 6 }, () => ['finished', 1]));
    const calls = (await store.listCalls('fan')).filter((c) => c.kind === 'agent');
    expect(calls.every((c) => c.status === 'finished')).toBe(true);
    expect(new Set(jobs.map((j) => j.callKey))).toEqual(new Set(calls.map((c) => c.key)));
    const ledger = await store.ledger.listByRun('fan');
    expect(ledger).toHaveLength(gw.stats().log.length);
    expect(new Set(ledger.map((r) => r.callKey))).toEqual(new Set(calls.map((c) => c.key)));
  });

  it('kill -9 of a worker holding a call: another worker takes the job over; the call completes once', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'job-takeover');
    const doomed = spawnWorker(['--name', 'doomed', '--concurrency', '1'], dir, env);
    const driver = spawnCli(['run', script, '--gateway', gw.url, '--agents-on', 'workers', '--run-id', 'jt', '--json'], { cwd: dir, env });
    await gw.gates.arrived('held', 1);
    doomed.child.kill('SIGKILL');
    await doomed.child.done;
    const heir = spawnWorker(['--name', 'heir'], dir, env);
    await gw.gates.arrived('held', 2);
    gw.gates.open('held');
    const ran = await driver.done;
    expect(ran.code, ran.stderr).toBe(0);
    expect(lastJson(ran.stdout)).toMatchObject({ status: 'completed', result: ['echo first job', 'finished second'] });
    heir.child.kill('SIGTERM');
    await heir.child.done;
    const taken = heir.seen().find((e) => e.type === 'job-claimed');
    expect(taken).toMatchObject({ runId: 'jt', claims: 2 });
    const jobs = await store.jobs.listByRun('jt');
    expect(jobs.map((j) => j.claims).sort()).toEqual([1, 2]);
    const served = gw.stats().log;
    expect(served.filter((l) => l.rule === 'echo')).toHaveLength(1);
    expect(served.filter((l) => l.rule === 'held')).toHaveLength(2);
    const ledger = await waitFor(
      async () => {
        const rows = await store.ledger.listByRun('jt');
        return rows.length === served.length ? rows : undefined;
      },
      20_000,
      'a ledger row per request served',
    );
    const completed = ledger.filter((r) => r.status === 200 && r.stopReason !== null);
    expect(completed.map((r) => r.callKey).sort()).toEqual([...new Set(completed.map((r) => r.callKey))].sort());
    expect(completed).toHaveLength(2);
  });

  it('a driver killed while a worker runs its call: resumed, it takes the job outcome — the agent is not run again', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const gw = await meteringGateway(store);
    const script = ccScript(dir, WORKFLOW, 'wf.js', 'driver-crash');
    const worker = spawnWorker(['--name', 'steady'], dir, env);
    const driver = spawnCli(['run', script, '--gateway', gw.url, '--agents-on', 'workers', '--run-id', 'dc', '--json'], { cwd: dir, env });
    await gw.gates.arrived('held', 1);
    driver.kill('SIGKILL');
    await driver.done;
    gw.gates.open('held');
    await waitFor(
      () => worker.seen().filter((e) => e.type === 'job-done').length === 2 || undefined,
      60_000,
      'the worker to finish both jobs',
    );
    const resumed = await cli(['resume', 'dc', '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    // Neither call ran for the resumed driver: the first from its journal, the second from the job
    // the worker finished while the driver was down (counted reused, not executed).
    expect(lastJson(resumed.stdout)).toMatchObject({
      status: 'completed',
      result: ['echo first job', 'finished second'],
      calls: { total: 2, executed: 0, reused: 2, failed: 0, unfinished: 0 },
    });
    worker.child.kill('SIGTERM');
    await worker.child.done;
    expect(gw.stats().log.filter((l) => l.rule === 'held')).toHaveLength(1);
    expect(worker.seen().filter((e) => e.type === 'job-claimed')).toHaveLength(2);
    expect((await store.jobs.listByRun('dc')).map((j) => [j.status, j.claims])).toEqual([
      ['finished', 1],
      ['finished', 1],
    ]);
    // The second call's span was written by the resumed driver, naming the job it took the outcome of.
    const jobs = await store.jobs.listByRun('dc');
    const agentSpans = (await store.spans.querySpans({ sinceUs: 0 })).filter((s) => s.name.startsWith('invoke_agent'));
    expect(agentSpans.map((s) => [s.name, s.attributes['drover.agent.earlier_job'] ?? null])).toEqual([
      ['invoke_agent first', null],
      ['invoke_agent second', jobs[1]?.id],
    ]);
  });
});
