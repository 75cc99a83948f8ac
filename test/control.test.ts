/**
 * Run control from outside the driving process: `drover stop` and `drover resume --detach`, with
 * real processes on a real store against an in-test sim gateway. Synchronised on the gateway's
 * hold gates (a request arriving at a gate) and on process exits; never on time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/output.js';
import { stopRun } from '../src/workflow/control.js';
import { isPidAlive } from '../src/workflow/lease.js';
import { ccScript, cli, gateway, lastJson, ON_POSTGRES, onCleanup, spawnCli, tempDir, tempStore, waitFor } from './helpers.js';

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

/** Two agents finish, then a third waits at the gate while a fourth runs beside it. */
const WORKFLOW = `
phase('Work');
const a = await agent('first job', { label: 'first' });
const b = await agent('second job', { label: 'second' });
const [c, d] = await parallel([() => agent('held third', { label: 'third' }), () => agent('held fourth', { label: 'fourth' })]);
return [a, b, c, d];
`;

async function liveRun(runId: string) {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const { store, path } = tempStore(dir);
  // Content capture on: the agents' transcripts are kept, one per attempt.
  const env = { DROVER_STORE: path, DROVER_TRACE_CONTENT: '1' };
  const script = ccScript(dir, WORKFLOW, 'wf.js', 'controlled');
  const child = spawnCli(['run', script, '--gateway', gw.url, '--run-id', runId, '--json'], { cwd: dir, env });
  await gw.gates.arrived('held', 2);
  return { dir, gw, store, path, env, child };
}

/** Ledger rows per call label: the model requests each agent paid for. */
async function paidByLabel(store: import('../src/store/types.js').Store, runId: string): Promise<Record<string, number>> {
  const calls = new Map((await store.listCalls(runId)).map((c) => [c.key, c.label ?? c.key]));
  const out: Record<string, number> = {};
  for (const row of await store.ledger.listByRun(runId)) {
    const label = calls.get(row.callKey ?? '') ?? String(row.callKey);
    out[label] = (out[label] ?? 0) + 1;
  }
  return out;
}

describe('drover stop', { timeout: 60_000 }, () => {
  it('ends a live run driven by another process as `stopped` (exit 130 there), and drover resume finishes it with 0 re-paid calls', async () => {
    const { dir, gw, store, env, child } = await liveRun('ctl-1');
    const stop = await cli(['stop', 'ctl-1', '--json'], { cwd: dir, env });
    expect(stop.code, stop.stderr).toBe(0);
    const said = lastJson(stop.stdout);
    expect(said).toMatchObject({ runId: 'ctl-1', outcome: 'stopped', status: 'stopped' });
    expect((said.driver as { pid: number }).pid).toBe(child.pid);

    const ran = await child.done;
    expect(ran.code, ran.stderr).toBe(EXIT.interrupted);
    const summary = lastJson(ran.stdout);
    expect(summary.status).toBe('stopped');
    expect(summary.error).toMatchObject({ code: 'STOPPED' });
    expect(ran.stderr).toContain('continue it with: drover resume ctl-1');
    const run = await store.getRun('ctl-1');
    expect(run?.status).toBe('stopped');
    expect(run?.lease).toBeNull();
    expect(await store.control.stopRequestedAt('ctl-1')).toBeNull();
    // The two held agents were cut off: unfinished in the journal, so a resume runs them again.
    const calls = await store.listCalls('ctl-1');
    expect(calls.filter((c) => c.status === 'finished').map((c) => c.label)).toEqual(expect.arrayContaining(['first', 'second']));
    expect(
      calls
        .filter((c) => c.status === 'started')
        .map((c) => c.label)
        .sort(),
    ).toEqual(['fourth', 'third']);
    const before = await paidByLabel(store, 'ctl-1');
    expect(before.first).toBe(1);
    expect(before.second).toBe(1);
    const requestsBefore = gw.stats().log.filter((l) => l.rule === 'echo').length;

    gw.gates.open('held');
    const resumed = await cli(['resume', 'ctl-1', '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    const done = lastJson(resumed.stdout);
    expect(done.status).toBe('completed');
    expect(done.result).toEqual(['echo first job', 'echo second job', 'finished third', 'finished fourth']);
    expect(done.calls).toMatchObject({ reused: 2, executed: 2, failed: 0 });
    // 0 re-paid calls: the finished agents sent no request again, upstream or in the ledger.
    expect(gw.stats().log.filter((l) => l.rule === 'echo').length).toBe(requestsBefore);
    const after = await paidByLabel(store, 'ctl-1');
    expect(after.first).toBe(1);
    expect(after.second).toBe(1);

    // A cut-off agent's transcript says it was stopped; the attempt that finished it has its answer.
    const third = (await store.listCalls('ctl-1')).find((c) => c.label === 'third');
    const attempts = await store.transcripts.forCall('ctl-1', third?.key as string);
    expect(attempts.map((a) => [a.attempt, a.transcript.answer, a.transcript.error?.code ?? null])).toEqual([
      [1, null, 'ABORTED'],
      [2, 'finished third', null],
    ]);
    const first = (await store.listCalls('ctl-1')).find((c) => c.label === 'first');
    expect((await store.transcripts.forCall('ctl-1', first?.key as string)).map((a) => a.transcript.answer)).toEqual(['echo first job']);
  });

  it('marks a run nobody drives `stopped` at once, refuses a finished or unknown run (exit 2), and says when it was stopped already', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const asks = ccScript(dir, `const go = await ask('Ship?'); return agent('say ' + go);`, 'asks.js');
    const waiting = await cli(['run', asks, '--gateway', gw.url, '--run-id', 'waits', '--json'], { cwd: dir, env });
    expect(waiting.code, waiting.stderr).toBe(EXIT.waiting);
    const plain = ccScript(dir, `return agent('hello');`, 'plain.js');
    const finished = await cli(['run', plain, '--gateway', gw.url, '--run-id', 'done', '--json'], { cwd: dir, env });
    expect(finished.code, finished.stderr).toBe(0);

    const stop = await cli(['stop', 'waits'], { cwd: dir, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('waits: stopped');
    expect((await store.getRun('waits'))?.status).toBe('stopped');
    expect((await store.getRun('waits'))?.error?.code).toBe('STOPPED');
    const listed = await cli(['runs', '--status', 'stopped', '--json'], { cwd: dir, env });
    expect(JSON.parse(listed.stdout).map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([['waits', 'stopped']]);
    const status = await cli(['status', 'waits'], { cwd: dir, env });
    expect(status.stdout).toContain('stopped on request (drover stop); drover resume continues it');
    const again = await cli(['stop', 'waits', '--json'], { cwd: dir, env });
    expect(again.code).toBe(0);
    expect(lastJson(again.stdout).outcome).toBe('already-stopped');

    const ended = await cli(['stop', 'done'], { cwd: dir, env });
    expect(ended.code).toBe(EXIT.input);
    expect(ended.stdout).toContain('done: already ended (completed): nothing to stop');
    expect((await store.getRun('done'))?.status).toBe('completed');
    const unknown = await cli(['stop', 'nope'], { cwd: dir, env });
    expect(unknown.code).toBe(EXIT.input);
    expect(unknown.stderr).toContain('nope');

    // A stopped run resumes: the answered question lets it complete.
    const [q] = await store.listQuestions('waits');
    await store.answerQuestion('waits', q?.id as string, 'yes', Date.now());
    const resumed = await cli(['resume', 'waits', '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout).result).toBe('echo say yes');
  });
});

describe('a stop request left behind', { timeout: 60_000 }, () => {
  it('by a driver that died before honouring it is dropped when the next driver starts: the resume completes', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const asks = ccScript(dir, `const go = await ask('Ship?'); return agent('say ' + go);`, 'asks.js');
    expect((await cli(['run', asks, '--gateway', gw.url, '--run-id', 'stale', '--json'], { cwd: dir, env })).code).toBe(EXIT.waiting);
    // This test process plays a driver that is alive when the request arrives, then goes away.
    const token = 'test-driver';
    const held = await store.acquireRunLease({
      runId: 'stale',
      holder: { token, pid: process.pid, host: hostname() },
      ttlMs: 60_000,
      now: Date.now(),
      isHolderGone: () => false,
    });
    expect(held.acquired).toBe(true);
    const asked = await stopRun(store, 'stale');
    expect(asked.outcome).toBe('requested');
    expect(await store.control.stopRequestedAt('stale')).not.toBeNull();
    await store.releaseRunLease('stale', token);

    const [q] = await store.listQuestions('stale');
    await store.answerQuestion('stale', q?.id as string, 'yes', Date.now());
    const resumed = await cli(['resume', 'stale', '--json'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout)).toMatchObject({ status: 'completed', result: 'echo say yes' });
    expect(await store.control.stopRequestedAt('stale')).toBeNull();
  });
});

describe('drover resume --detach', { timeout: 60_000 }, () => {
  it('starts the driver as a detached process, prints the run id and its pid, exits 0; the run completes with 0 re-paid calls', async () => {
    const { dir, gw, store, path, env, child } = await liveRun('ctl-2');
    const stop = await cli(['stop', 'ctl-2'], { cwd: dir, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect((await child.done).code).toBe(EXIT.interrupted);

    // On PostgreSQL a URL with a password (the test server trusts any): the child must get it, but not in its arguments.
    const secret = 'pw-not-in-argv-7c1';
    const withPassword = ON_POSTGRES ? { ...env, DROVER_STORE: path.replace('://drover@', `://drover:${secret}@`) } : env;
    const detached = await cli(['resume', 'ctl-2', '--detach', '--json'], { cwd: dir, env: withPassword });
    expect(detached.code, detached.stderr).toBe(0);
    const d = lastJson(detached.stdout) as { runId: string; pid: number; log: string; state: string };
    expect(d.runId).toBe('ctl-2');
    expect(d.state).toBe('driving');
    expect(Number.isInteger(d.pid) && d.pid !== child.pid).toBe(true);
    expect((await store.getRun('ctl-2'))?.lease?.pid).toBe(d.pid);
    // The log sits beside the store file; a PostgreSQL store has none: under the working directory's .drover.
    expect(d.log).toBe(ON_POSTGRES ? join(dir, '.drover', 'logs', 'ctl-2.log') : join(dirname(path), 'logs', 'ctl-2.log'));
    if (ON_POSTGRES) {
      expect(withPassword.DROVER_STORE).toContain(secret);
      expect(readFileSync(`/proc/${d.pid}/cmdline`, 'utf8')).not.toContain(secret);
      expect(readFileSync(`/proc/${d.pid}/environ`, 'utf8')).toContain(secret);
    }
    // While another process drives it, a detached resume is refused before anything starts.
    const busy = await cli(['resume', 'ctl-2', '--detach'], { cwd: dir, env });
    expect(busy.code).toBe(EXIT.busy);
    expect(busy.stderr).toContain(`pid ${d.pid}`);

    // The detached driver reaches the gate again (the two cut-off agents), and finishes once it opens.
    await gw.gates.arrived('held', 4);
    gw.gates.open('held');
    await waitFor(async () => !isPidAlive(d.pid), 30_000, 'the detached driver to exit');
    const run = await store.getRun('ctl-2');
    expect(run?.status, readFileSync(d.log, 'utf8')).toBe('completed');
    expect(run?.result).toEqual(['echo first job', 'echo second job', 'finished third', 'finished fourth']);
    expect(await paidByLabel(store, 'ctl-2')).toMatchObject({ first: 1, second: 1 });
    expect(existsSync(d.log)).toBe(true);
    expect(readFileSync(d.log, 'utf8')).toContain('"runId":"ctl-2","status":"completed"');
  });
});

describe('the dashboard API for run control', { timeout: 60_000 }, () => {
  it('stop and bulk stop need the token and a foreign Origin is refused; bad bodies and unknown runs are named; a waiting run stops; resume of a driven run is 409', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store, path } = tempStore(dir);
    const env = { DROVER_STORE: path };
    const asks = ccScript(dir, `const go = await ask('Ship?'); return agent('say ' + go);`, 'asks.js');
    const waiting = await cli(['run', asks, '--gateway', gw.url, '--run-id', 'api-wait', '--json'], { cwd: dir, env });
    expect(waiting.code, waiting.stderr).toBe(EXIT.waiting);
    const { startUiServer } = await import('../src/ui/index.js');
    const ui = await startUiServer({ store });
    onCleanup(() => ui.close());
    const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(new URL(p, ui.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const token = { 'x-drover-token': ui.token };

    expect((await post('/api/runs/api-wait/stop', {})).status).toBe(403);
    expect((await post('/api/runs/stop', { runs: ['api-wait'] })).status).toBe(403);
    expect((await post('/api/runs/api-wait/resume', {})).status).toBe(403);
    expect((await post('/api/runs/api-wait/stop', {}, { ...token, origin: 'http://evil.example' })).status).toBe(403);
    expect((await store.getRun('api-wait'))?.status).toBe('waiting');

    const bad = await post('/api/runs/stop', { runs: 'api-wait' }, token);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('body.runs');
    expect((await post('/api/runs/stop', { runs: ['nope'] }, token)).status).toBe(404);

    const stopped = await post('/api/runs/stop', { runs: ['api-wait'] }, token);
    expect(stopped.status).toBe(200);
    expect(await stopped.json()).toMatchObject({ runs: [{ runId: 'api-wait', outcome: 'stopped', status: 'stopped' }] });
    const header = (await (await fetch(new URL('/api/runs/api-wait', ui.url))).json()) as {
      status: string;
      actions: Record<string, boolean>;
    };
    expect(header.status).toBe('stopped');
    expect(header.actions).toMatchObject({ stop: false, resume: true });

    // A run another process drives: resume is refused (409), stop is requested and the driver ends it.
    const live = ccScript(dir, `return agent('held job');`, 'live.js');
    const child = spawnCli(['run', live, '--gateway', gw.url, '--run-id', 'api-live', '--json'], { cwd: dir, env });
    await gw.gates.arrived('held');
    const busy = await post('/api/runs/api-live/resume', {}, token);
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('RUN_BUSY');
    const asked = await post('/api/runs/api-live/stop', {}, token);
    expect(await asked.json()).toMatchObject({ runId: 'api-live', outcome: 'requested', driver: { pid: child.pid } });
    expect((await child.done).code).toBe(EXIT.interrupted);
    expect((await store.getRun('api-live'))?.status).toBe('stopped');
  });
});
