// The CLI's smaller promises, each through the built `drover` as a child process: flag errors exit 2,
// read-only commands never create a store, doctor in a fresh folder, runs --status checked,
// tasks sync --watch quiet when nothing changed, the resume command after Ctrl-C, runs prune.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { reportFilter } from '../src/cli/handlers/tasks.js';
import { createStore } from '../src/store/index.js';
import type { RunRecord } from '../src/store/types.js';
import type { SyncReport } from '../src/tasks/claude-bridge.js';
import { traceIdForRun } from '../src/telemetry/traceparent.js';
import { bareRun, CLI, ccScript, cli, lastJson, onCleanup, spawnCli, tempDir, waitFor, write } from './helpers.js';

const SCENARIO = `
rules:
  - name: held
    match: { prompt: '^held' }
    latency_ms: 600000
    turns: [{ text: 'too late' }]
  - name: quick
    turns: [{ text: 'ok' }]
`;

describe('flag errors exit 2 (docs/cli.md), help and version 0', () => {
  it.each([
    ['an unknown option', ['runs', '--bogus'], /unknown option '--bogus'/],
    ['a missing argument', ['status'], /missing required argument 'runId'/],
    ['an invalid argument', ['runs', '--limit', '0'], /--limit must be a whole number ≥ 1/],
    ['an option without its value', ['run', 'x.js', '--concurrency'], /option '--concurrency <n>' argument missing/],
    ['a missing required option', ['tasks', 'dep', 'add', '1'], /required option '--blocked-by <id>' not specified/],
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['too many arguments', ['runs', 'extra'], /too many arguments/],
    ['a command group without its subcommand', ['tasks'], /Usage: drover tasks/],
  ])('%s', async (_what, args, message) => {
    const dir = tempDir();
    const r = await cli(args, { cwd: dir, env: { DROVER_STORE: join(dir, 'drover.db') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(join(dir, 'drover.db'))).toBe(false);
  });

  it('--help and --version exit 0', async () => {
    expect((await cli(['--help'])).code).toBe(0);
    expect((await cli(['tasks', 'claim', '--help'])).code).toBe(0);
    const v = await cli(['--version']);
    expect([v.code, v.stdout.trim()]).toEqual([0, '0.1.0']);
  });
});

describe('runs --status', () => {
  it('refuses an unknown status, naming the accepted ones', async () => {
    const dir = tempDir();
    const r = await cli(['runs', '--status', 'bogus'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /argument 'bogus' is invalid\. --status must be one of queued, running, interrupted, waiting, completed, failed/,
    );
    expect(r.stdout).not.toMatch(/no runs yet/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('read-only commands never create a store', () => {
  const readOnly: [string, string[]][] = [
    ['runs', ['runs']],
    ['runs --json', ['runs', '--json']],
    ['runs prune', ['runs', 'prune']],
    ['status', ['status', 'r1']],
    ['answer', ['answer', 'r1', 'q1', 'yes']],
    ['resume', ['resume', 'r1']],
    ['trace show', ['trace', 'show', 'r1']],
    ['trace export', ['trace', 'export', 'r1']],
    ['assert --run', ['assert', '--golden', 'g.json', '--run', 'r1']],
    ['tasks list', ['tasks', 'list']],
    ['tasks show', ['tasks', 'show', '1']],
    ['tasks ready', ['tasks', 'ready']],
    ['tasks graph', ['tasks', 'graph']],
    ['tasks history', ['tasks', 'history']],
  ];

  it.each(readOnly)('%s in a fresh folder says there is no store (exit 2) and creates nothing', async (_name, args) => {
    const dir = tempDir();
    if (args[0] === 'assert') write(dir, 'g.json', JSON.stringify({ golden: 1, roots: [] }));
    const before = readdirSync(dir);
    const r = await cli(args, { cwd: dir, env: { DROVER_TASK_LIST: 'fresh' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no drover store at ${join(dir, '.drover', 'drover.db')}`);
    expect(readdirSync(dir)).toEqual(before);
  });

  it('names the store given with --store, and says it in JSON with code NO_STORE', async () => {
    const dir = tempDir();
    const path = join(dir, 'elsewhere', 'x.db');
    const r = await cli(['--store', path, 'runs', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'NO_STORE', message: expect.stringContaining(path) } });
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  });

  it('a command that writes still creates the store', async () => {
    const dir = tempDir();
    expect((await cli(['tasks', 'add', 'first'], { cwd: dir, env: { DROVER_TASK_LIST: 'fresh' } })).code).toBe(0);
    expect(existsSync(join(dir, '.drover', 'drover.db'))).toBe(true);
    const list = await cli(['tasks', 'list', '--json'], { cwd: dir, env: { DROVER_TASK_LIST: 'fresh' } });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([{ id: '1', subject: 'first' }]);
  });
});

describe('doctor in a fresh folder', () => {
  it('says no store exists yet, still checks Node and the backends, exits 0 and creates nothing', async () => {
    const dir = tempDir();
    const text = await cli(['doctor'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`store ${join(dir, '.drover', 'drover.db')}: none yet`);
    expect(text.stdout).not.toMatch(/schema version 0/);
    expect(text.stdout).toMatch(/^node \d+\.\d+\.\d+: ok$/m);
    expect(text.stdout).toMatch(/✓ builtin/);
    const json = await cli(['doctor', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(lastJson(json.stdout)).toMatchObject({
      ok: true,
      node: { ok: true },
      store: { exists: false, location: join(dir, '.drover', 'drover.db') },
    });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('tasks sync --watch prints only what changed', () => {
  const empty: SyncReport = { toDrover: [], toClaude: [], conflicts: [], refused: [], held: [], renumbered: [], problems: [] };

  it('the filter: the first report, then moves and changed refusals; not a quiet pass or the same refusals again', () => {
    const worth = reportFilter();
    expect(worth(empty)).toBe(true);
    expect(worth(empty)).toBe(false);
    expect(worth({ ...empty, toClaude: ['1'] })).toBe(true);
    expect(worth(empty)).toBe(false);
    const refused = { ...empty, refused: [{ id: '2', reason: 'cycle' }] };
    expect(worth(refused)).toBe(true);
    expect(worth(refused)).toBe(false);
    const held = { ...empty, held: [{ id: '3', blockedBy: '2', reason: 'would close a cycle' }] };
    expect(worth(held)).toBe(true);
    expect(worth(held)).toBe(false);
    expect(worth({ ...empty, problems: [{ path: '3.json', message: 'torn' }] })).toBe(true);
    expect(worth(empty)).toBe(true); // the refusal and the bad file are gone: say so
    expect(worth({ ...empty, toDrover: ['4'] })).toBe(true);
    expect(worth({ ...empty, conflicts: [{ id: '4', winner: 'claude', loser: {} }] })).toBe(true);
  });

  it('the real watcher: passes that change nothing print nothing; a change prints one report', async () => {
    const dir = tempDir();
    const claudeDir = join(dir, 'cc');
    const env = { DROVER_STORE: join(dir, 'drover.db'), DROVER_TASK_LIST: 'bridged' };
    const watch = spawnCli(['tasks', 'sync', '--watch', '--claude-dir', claudeDir, '--json'], { cwd: dir, env });
    let out = '';
    watch.stdout?.on('data', (d) => {
      out += d;
    });
    const lines = () => out.split('\n').filter(Boolean);
    await waitFor(() => (lines().length >= 1 ? true : undefined), 30_000, 'first report');
    // Each pass rewrites the sync state; wait for two more passes (nothing changed in them).
    const state = join(claudeDir, '.drover-sync');
    const stamp = () => (existsSync(state) ? `${statSync(state).ino}:${statSync(state).mtimeMs}` : '');
    for (let pass = 0; pass < 2; pass++) {
      const seen = stamp();
      write(claudeDir, 'notes.txt', `nudge ${pass}`); // a change in the folder wakes the watcher
      await waitFor(() => (stamp() !== seen ? true : undefined), 30_000, `idle pass ${pass}`);
    }
    expect(lines()).toHaveLength(1);
    expect((await cli(['tasks', 'add', 'from drover'], { cwd: dir, env })).code).toBe(0);
    await waitFor(() => (lines().length >= 2 ? true : undefined), 30_000, 'report of the change');
    watch.kill('SIGINT');
    const end = await watch.done;
    expect(end.code).toBe(0);
    const printed = lines().map((l) => JSON.parse(l));
    expect(printed.slice(0, 2)).toMatchObject([{ toClaude: [] }, { toClaude: ['1'] }]);
    expect(printed.slice(2)).toEqual([{ stopped: true }]);
  });
});

describe('Ctrl-C', () => {
  it('prints the exact command that continues the run', async () => {
    const dir = tempDir();
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    const store = join(dir, 'my store.db');
    const script = ccScript(dir, "return await agent('held forever')");
    const run = spawnCli(['run', script, '--sim', scenario, '--run-id', 'stopme', '--store', store], { cwd: dir });
    let out = '';
    run.stdout?.on('data', (d) => {
      out += d;
    });
    await waitFor(() => (out.includes('agent running held forever') ? true : undefined), 30_000, 'the agent to start');
    run.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toContain(`continue it with: drover resume stopme --store '${store}'`);
  });
});

describe('runs prune', () => {
  async function runs(dir: string, env: Record<string, string>) {
    const scenario = write(dir, 'scenario.yaml', SCENARIO);
    const ok = ccScript(dir, "log('hello'); return await agent('quick')", 'ok.js');
    const bad = ccScript(dir, "log('trying'); await agent('quick'); throw new Error('boom')", 'bad.js');
    for (const [id, script] of [
      ['good-1', ok],
      ['bad-1', bad],
      ['bad-2', bad],
    ] as const) {
      await cli(['run', script, '--sim', scenario, '--run-id', id, '--json'], { cwd: dir, env });
    }
    return scenario;
  }

  const count = (path: string, sql: string, ...params: unknown[]) => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare(sql).get(...params) as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const rowsOf = (path: string, id: string) => ({
    runs: count(path, 'SELECT COUNT(*) AS n FROM runs WHERE id = ?', id),
    calls: count(path, 'SELECT COUNT(*) AS n FROM calls WHERE run_id = ?', id),
    usage: count(path, 'SELECT COUNT(*) AS n FROM ledger WHERE run_id = ?', id),
    events: count(path, 'SELECT COUNT(*) AS n FROM events WHERE run_id = ?', id),
    spans: count(path, 'SELECT COUNT(*) AS n FROM spans WHERE trace_id = ? OR run_id = ?', traceIdForRun(id), id),
  });

  it('lists without --yes; with it deletes the matching runs and everything of theirs, and says what', async () => {
    const dir = tempDir();
    const path = join(dir, 'drover.db');
    const env = { DROVER_STORE: path };
    await runs(dir, env);
    const before = rowsOf(path, 'bad-1');
    expect(before.calls).toBeGreaterThan(0);
    expect(before.usage).toBeGreaterThan(0);
    expect(before.events).toBeGreaterThan(0);
    expect(before.spans).toBeGreaterThan(0);

    const dry = await cli(['runs', 'prune', '--status', 'failed'], { cwd: dir, env });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/2 runs would be deleted \(status failed\); add --yes to delete them/);
    expect(rowsOf(path, 'bad-1').runs).toBe(1);

    const none = await cli(['runs', 'prune', '--status', 'failed', '--older-than', '7d', '--yes'], { cwd: dir, env });
    expect(none.stdout).toMatch(/deleted 0 runs/);

    const real = await cli(['runs', 'prune', '--status', 'failed', '--yes', '--json'], { cwd: dir, env });
    expect(real.code).toBe(0);
    const removed = lastJson(real.stdout);
    expect((removed.runs as string[]).sort()).toEqual(['bad-1', 'bad-2']);
    expect(removed.calls).toBe(before.calls * 2);
    expect(removed.usage).toBe(before.usage * 2);
    expect(removed.spans).toBe(before.spans * 2);
    // The ledger keeps its figures (spend stays counted, daily caps need it); everything else of the run is gone.
    for (const id of ['bad-1', 'bad-2']) expect(rowsOf(path, id)).toEqual({ runs: 0, calls: 0, usage: before.usage, events: 0, spans: 0 });
    expect(
      count(path, "SELECT COUNT(*) AS n FROM ledger WHERE run_id = 'bad-1' AND (call_key IS NOT NULL OR agent_label IS NOT NULL)"),
    ).toBe(0);
    // Each pruned run is in the deletions log, with who did it.
    const log = lastJson(
      (await cli(['runs', 'deletions', '--json'], { cwd: dir, env: { ...env, DROVER_USER: 'pat' } })).stdout,
    ) as unknown as {
      runId: string;
      kind: string;
    }[];
    expect(
      log
        .filter((d) => d.kind === 'prune')
        .map((d) => d.runId)
        .sort(),
    ).toEqual(['bad-1', 'bad-2']);
    expect(rowsOf(path, 'good-1').runs).toBe(1);
    expect(rowsOf(path, 'good-1').spans).toBeGreaterThan(0);
    const left = JSON.parse((await cli(['runs', '--json'], { cwd: dir, env })).stdout);
    expect(left.map((r: { id: string }) => r.id)).toEqual(['good-1']);
    expect((await cli(['runs', 'prune', '--older-than', 'soon', '--yes'], { cwd: dir, env })).code).toBe(2);
  });

  it('never deletes a run a live process is driving', async () => {
    const dir = tempDir();
    const path = join(dir, 'drover.db');
    const env = { DROVER_STORE: path };
    const scenario = await runs(dir, env);
    const held = spawnCli(['run', ccScript(dir, "return await agent('held')", 'held.js'), '--sim', scenario, '--run-id', 'live'], {
      cwd: dir,
      env,
    });
    const store = createStore(path);
    onCleanup(() => store.close());
    await waitFor(async () => ((await store.getRun('live'))?.lease ? true : undefined), 30_000, 'the lease');
    const r = await cli(['runs', 'prune', '--yes'], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/deleted 3 runs/);
    expect(r.stdout).toMatch(/kept live: a live process is driving it/);
    expect((await store.getRun('live'))?.status).toBe('running');
    held.kill('SIGINT');
    expect((await held.done).code).toBe(130);
  });

  it('Store.deleteRuns: one transaction per call, skips a live lease, ignores unknown ids', async () => {
    const dir = tempDir();
    const store = createStore(join(dir, 'drover.db'));
    onCleanup(() => store.close());
    const base = {
      name: 'n',
      description: 'd',
      scriptPath: 's.js',
      scriptSource: '',
      scriptHash: 'h',
      scriptForm: 'claude-code' as const,
      args: null,
      settings: {} as RunRecord['settings'],
      fromRunId: null,
    };
    await store.createRun({ ...base, id: 'old' }, 1);
    await store.createRun({ ...base, id: 'busy' }, 1);
    const holder = { token: 't', pid: process.pid, host: 'h' };
    await store.acquireRunLease({ runId: 'busy', holder, now: 1000, ttlMs: 60_000, isHolderGone: () => false });
    await store.appendEvents([{ runId: 'old', ts: 1, type: 'log', data: { message: 'x' } }]);
    const out = await store.deleteRuns(['old', 'busy', 'nope'], 2000);
    expect(out).toMatchObject({ runs: ['old'], skipped: ['busy'], events: 1 });
    expect(await store.getRun('old')).toBeUndefined();
    expect(await store.getRun('busy')).toBeDefined();
    // Once the lease has expired, it can go.
    expect((await store.deleteRuns(['busy'], 1000 + 60_001)).runs).toEqual(['busy']);
  });
});

describe('run/resume: failed calls in the summary, --strict, --plan', () => {
  const FAILING = `
rules:
  - name: doomed
    match: { prompt: '^boom' }
    faults: [{ status: 529, times: 100, retry_after_s: 0 }]
    turns: [{ text: never }]
  - name: ok
    turns: [{ text: 'ok' }]
`;

  it('the text summary counts failed calls; --strict exits 1 when any failed', async () => {
    const dir = tempDir();
    const scenario = write(dir, 'scenario.yaml', FAILING);
    const env = { DROVER_STORE: join(dir, 'drover.db') };
    const script = ccScript(dir, "return await parallel([() => agent('fine'), () => agent('boom')])");
    const plain = await cli(['run', script, '--sim', scenario], { cwd: dir, env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^completed \S+ in .*: 2 calls \(1 executed, 0 reused, 1 failed\)/m);
    const strict = await cli(['run', script, '--sim', scenario, '--strict', '--json'], { cwd: dir, env });
    expect(strict.code).toBe(1);
    expect(lastJson(strict.stdout)).toMatchObject({ status: 'completed', calls: { failed: 1 } });
    expect(strict.stderr).toMatch(/--strict: 1 call failed/);
    const clean = await cli(['run', ccScript(dir, "return await agent('fine')", 'ok.js'), '--sim', scenario, '--strict'], {
      cwd: dir,
      env,
    });
    expect(clean.code).toBe(0);
  });

  it('resume --plan and run --from --plan show the plan and run nothing; --plan needs --from on run', async () => {
    const dir = tempDir();
    const scenario = write(dir, 'scenario.yaml', FAILING);
    const path = join(dir, 'drover.db');
    const env = { DROVER_STORE: path };
    const script = ccScript(dir, "const a = await agent('one'); return [a, await agent('two')]");
    expect((await cli(['run', script, '--sim', scenario, '--run-id', 'done'], { cwd: dir, env })).code).toBe(0);
    const calls = () => {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const before = calls();
    const plan = await cli(['resume', 'done', '--plan'], { cwd: dir, env });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/plan for done with .*wf\.js/);
    expect(plan.stdout).toMatch(/reuse 2 calls/);
    expect(plan.stdout).toMatch(/the script finishes from the journal: nothing runs/);
    const edited = ccScript(dir, "const a = await agent('one'); return [a, await agent('three')]", 'edited.js');
    const from = await cli(['run', edited, '--from', 'done', '--plan', '--json'], { cwd: dir, env });
    expect(from.code).toBe(0);
    expect(lastJson(from.stdout)).toMatchObject({
      runId: null,
      complete: false,
      entries: expect.arrayContaining([
        expect.objectContaining({ action: 'reuse', label: 'one' }),
        expect.objectContaining({ action: 'run', label: 'three' }),
      ]),
    });
    expect(calls()).toBe(before);
    expect(JSON.parse((await cli(['runs', '--json'], { cwd: dir, env })).stdout)).toHaveLength(1);
    const noFrom = await cli(['run', edited, '--plan'], { cwd: dir, env });
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr).toMatch(/--plan .* give --from/);
  });
});

describe('a reader that stops early', () => {
  it('drover runs | head: the closed pipe ends the command quietly (exit 0, no stack trace)', async () => {
    const dir = tempDir();
    const path = join(dir, 'drover.db');
    const store = createStore(path);
    for (let i = 0; i < 1500; i++) await bareRun(store, `run-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`, dir);
    await store.close();
    const { execFileSync } = await import('node:child_process');
    // sh reports drover's own exit status through PIPESTATUS-free means: `; echo $?` after a subshell.
    const out = execFileSync(
      'bash',
      ['-c', `node ${JSON.stringify(CLI)} runs --store ${JSON.stringify(path)} 2>&1 | head -c 20 >/dev/null; echo "\${PIPESTATUS[0]}"`],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('0');
  });
});
