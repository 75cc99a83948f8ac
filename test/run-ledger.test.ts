import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../src/budget/ledger-types.js';
import { storeIdentity } from '../src/gateway/identity.js';
import type { SimRequestLog } from '../src/gateway/sim-server.js';
import { createStore } from '../src/store/index.js';
import { runWorkflow } from '../src/workflow/run.js';
import {
  ccScript,
  cli,
  FAST_BACKOFF,
  gateway,
  lastJson,
  ON_POSTGRES,
  onCleanup,
  pgStoreUrl,
  ROOT,
  spawnCli,
  tempDir,
  tempStore,
} from './helpers.js';

/** Where a CLI test keeps its store: a file in `dir`, or a fresh schema in the PostgreSQL project. */
const storeAt = (dir: string, name = 'drover.db') => (ON_POSTGRES ? pgStoreUrl() : join(dir, name));

const SCENARIO = `
rules:
  - name: any
    match: { prompt: 'task (\\w+)' }
    usage: { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 30, cache_creation_input_tokens: 5 }
    turns: [{ text: 'done with {{1}}' }]
`;

/** What the ledger must say for a request the sim served: its usage in the ledger's classes for that wire. */
function servedAs(l: SimRequestLog) {
  const u = l.usage as NonNullable<SimRequestLog['usage']>;
  // The sim's OpenAI usage counts cache writes as (uncached) input and reports reads as cached input.
  const openai = l.wire !== 'anthropic';
  return [
    l.requestId,
    openai ? u.input_tokens + u.cache_creation_input_tokens : u.input_tokens,
    u.cache_read_input_tokens,
    openai ? 0 : u.cache_creation_input_tokens,
    u.output_tokens,
  ];
}
const rowAs = (r: LedgerEntry) => [r.requestId, r.inputTokens, r.cacheReadTokens, r.cacheWrite5mTokens, r.outputTokens];

const BACKENDS: [string, ('anthropic' | 'openai' | 'openai-chat')?][] = [
  ['builtin', 'anthropic'],
  ['builtin', 'openai'],
  ['builtin', 'openai-chat'],
  ['claude-code'],
  ['codex'],
];

describe('drover run meters every backend through its in-process gateway', () => {
  for (const [backend, provider] of BACKENDS) {
    it(`${backend}${provider ? ` (${provider})` : ''}: one ledger row per served request, attributed to run, call, label, phase and workflow`, async () => {
      const dir = tempDir();
      const gw = await gateway(SCENARIO);
      const { store } = tempStore(tempDir());
      const s = await runWorkflow({
        store,
        script: ccScript(
          dir,
          "phase('Work');\nreturn await parallel([() => agent('task one', { label: 'one' }), () => agent('task two', { label: 'two' })]);",
          'wf.js',
          'ledger-wf',
        ),
        gateway: gw.url,
        workdir: dir,
        backend,
        ...(provider ? { provider } : {}),
        backoff: FAST_BACKOFF,
        cliRetries: 0,
      });
      expect(s.status, JSON.stringify(s.error)).toBe('completed');
      const calls = (await store.listCalls(s.runId)).filter((c) => c.kind === 'agent');
      expect(calls).toHaveLength(2);
      const ledger = await store.ledger.listByRun(s.runId);
      for (const call of calls) {
        const served = gw.usageFor(call.key);
        expect(served.length).toBeGreaterThan(0);
        const rows = ledger.filter((r) => r.callKey === call.key);
        expect(rows.map(rowAs)).toEqual(served.map(servedAs));
        for (const r of rows) {
          expect(r).toMatchObject({
            runId: s.runId,
            agentLabel: call.label,
            phase: 'Work',
            workflow: 'ledger-wf',
            mode: 'proxy',
            status: 200,
          });
        }
      }
      // Nothing the run sent went unattributed; nothing was counted twice.
      expect(ledger.every((r) => r.callKey !== null)).toBe(true);
      expect(ledger).toHaveLength(gw.stats().log.filter((l) => l.status === 200).length);
    });
  }
});

describe('drover run --sim (the CLI, the shipped example)', () => {
  it('writes the sim’s served usage per call into the ledger, equal to the per-call usage drover reports', async () => {
    const dir = tempDir();
    const storePath = storeAt(dir);
    const example = resolve(ROOT, 'examples', 'triage-failures');
    const r = await cli(['run', join(example, 'workflow.js'), '--sim', join(example, 'scenario.yaml'), '--json', '--store', storePath], {
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(0);
    const { runId, status } = lastJson(r.stdout) as { runId: string; status: string };
    expect(status).toBe('completed');
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const ledger = await store.ledger.listByRun(runId);
    const usage = await store.listUsage(runId);
    expect(ledger.length).toBeGreaterThan(0);
    expect(ledger.every((e) => e.callKey !== null && e.status === 200 && e.priceFlag !== 'estimated')).toBe(true);
    const perCall = (rows: { callKey: string | null; inputTokens: number; outputTokens: number; cacheReadTokens: number }[]) => {
      const m = new Map<string, number[]>();
      for (const x of rows) {
        const t = m.get(x.callKey ?? '') ?? [0, 0, 0, 0];
        m.set(x.callKey ?? '', [
          (t[0] ?? 0) + 1,
          (t[1] ?? 0) + x.inputTokens,
          (t[2] ?? 0) + x.outputTokens,
          (t[3] ?? 0) + x.cacheReadTokens,
        ]);
      }
      return Object.fromEntries([...m].sort());
    };
    expect(perCall(ledger)).toEqual(perCall(usage));
  });
});

describe('the ledger as the only copy of usage (USAGE_FROM_LEDGER)', () => {
  it('on (the default): the runtime stores no usage rows of its own; the ledger has every request of every call, once', async () => {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    const { store } = tempStore(tempDir());
    const script = ccScript(dir, "return await parallel([() => agent('task one'), () => agent('task two')]);");
    const on = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, usageFromLedger: true });
    expect(on.status).toBe('completed');
    // One copy: every usage row is the gateway's (none `reported` by the runtime).
    const rows = await store.ledger.listByRun(on.runId);
    expect(rows.map((r) => r.mode)).toEqual(['proxy', 'proxy']);
    expect(await store.listUsage(on.runId)).toHaveLength(2);
    const keys = (await store.listCalls(on.runId)).map((c) => c.key).sort();
    expect([...new Set(rows.map((r) => r.callKey))].sort()).toEqual(keys);
    // Off: the agents' own reports are stored beside the gateway's rows, equal to them (a second copy).
    const off = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, usageFromLedger: false });
    const all = await store.ledger.listByRun(off.runId);
    const as = (mode: string) =>
      all
        .filter((r) => (mode === 'reported' ? r.mode === 'reported' : r.mode !== 'reported'))
        .map((r) => [r.callKey, r.requestId, r.outputTokens])
        .sort();
    expect(as('reported')).toHaveLength(2);
    expect(as('reported')).toEqual(as('proxy'));
  });
});

/** `drover gateway --mode sim` as a process of its own on `storePath`; its URL. */
async function simGatewayProcess(dir: string, storePath: string): Promise<string> {
  const scenario = join(dir, 'scenario.yaml');
  writeFileSync(scenario, SCENARIO);
  const child = spawnCli(['gateway', '--mode', 'sim', '--scenario', scenario, '--port', '0', '--json', '--store', storePath]);
  onCleanup(() => child.kill('SIGKILL'));
  return new Promise<string>((resolveUrl, reject) => {
    let buf = '';
    child.stdout?.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolveUrl(JSON.parse(buf.split('\n')[0] as string).url);
    });
    child.done.then((r) => reject(new Error(`gateway exited: ${r.stderr}`)));
  });
}

describe('drover run --gateway <a drover gateway process on the same store>', () => {
  it('a PostgreSQL store has one identity whatever the user, password or cwd; another schema, database or server is another store', () => {
    const id = (location: string) => storeIdentity({ kind: 'postgres', location });
    const team = id('postgres://pat:***@DB.example:5432/drover?schema=team_a');
    expect(id('postgres://ci@db.example/drover?schema=team_a')).toBe(team);
    expect(id('postgresql://db.example:5432/drover?schema=team_a&sslmode=require')).toBe(team);
    expect(id('postgres://pat@db.example/drover')).toBe(id('postgres://ci@db.example/drover?schema=public'));
    // `drover run` opens its store lazily: the identity must not depend on what the stub says its kind is.
    expect(storeIdentity({ kind: 'sqlite', location: 'postgres://ci@db.example/drover?schema=team_a' })).toBe(team);
    for (const other of [
      'postgres://pat@db.example/drover?schema=team_b',
      'postgres://pat@db.example/drover2?schema=team_a',
      'postgres://pat@db.example:5433/drover?schema=team_a',
      'postgres://pat@db2.example/drover?schema=team_a',
    ]) {
      expect(id(other), other).not.toBe(team);
    }
  });

  it('the run’s gateway forwards attribution and writes nothing: one row per request, by the upstream gateway', async () => {
    const dir = tempDir();
    const storePath = storeAt(dir, 'shared.db');
    const url = await simGatewayProcess(dir, storePath);
    const script = ccScript(
      dir,
      "phase('P');\nreturn await parallel([() => agent('task one', { label: 'a' }), () => agent('task two', { label: 'b' })]);",
    );
    const r = await cli(['run', script, '--gateway', url, '--json', '--store', storePath, '--run-id', 'shared-run'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const stats = (await (await fetch(`${url}/_drover/stats`)).json()) as { requests: number };
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const rows = await store.ledger.listByRun('shared-run');
    expect(rows).toHaveLength(stats.requests);
    expect(rows.map((x) => [x.mode, x.phase, x.workflow])).toEqual(rows.map(() => ['sim', 'P', 'test-workflow']));
    const calls = await store.listCalls('shared-run');
    expect(rows.map((x) => x.agentLabel).sort()).toEqual(calls.map((c) => c.label).sort());
    expect(new Set(rows.map((x) => x.callKey))).toEqual(new Set(calls.map((c) => c.key)));
  });

  it('the upstream gateway holds the run’s own caps (it reserves, the run’s gateway does not): refused before spend', async () => {
    const dir = tempDir();
    const storePath = storeAt(dir, 'shared.db');
    const url = await simGatewayProcess(dir, storePath);
    const script = ccScript(dir, "return await agent('task one', { label: 'a' });");
    const r = await cli(
      ['run', script, '--gateway', url, '--json', '--store', storePath, '--run-id', 'capped-run', '--max-usd', '0.000001'],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(1);
    const summary = JSON.parse(r.stdout) as { status: string; error: { code: string; message: string } };
    expect(summary.status).toBe('budget_exceeded');
    expect(summary.error.code).toBe('BUDGET_EXCEEDED');
    expect(summary.error.message).toContain('run cap');
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const rows = await store.ledger.listByRun('capped-run');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((x) => [x.status, x.mode, x.outputTokens])).toEqual(rows.map(() => [402, 'sim', 0]));
    // The sim's own count of what it answered: nothing was served.
    const stats = (await (await fetch(`${url}/_drover/stats`)).json()) as { requests: number };
    expect(stats.requests).toBe(0);
  });
});
