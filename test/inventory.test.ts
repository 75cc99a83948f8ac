import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { checkGate, promoteWorkflow, workflowInventory } from '../src/inventory/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, cli, FAST_BACKOFF, gateway, lastJson, tempDir, tempStore, write } from './helpers.js';

const DAY = 86_400_000;

interface Gate {
  tier: string;
  passed: boolean;
  items: { id: string; ok: boolean; detail: string; runs?: { runId: string; passed: boolean }[] }[];
  missing: { id: string; detail: string }[];
}
interface Entry {
  name: string;
  tier: string;
  promotedTier: string | null;
  owner: string | null;
  runs: number;
  completed: number;
  failed: number;
  successRate: number | null;
  spend: { last7d: { usd: number | null; requests: number }; last30d: { usd: number | null; requests: number } };
  lastRun: { id: string; status: string; at: string };
  policyDenials: number;
  attached: { spec: string | null; golden: string | null };
  gate: Gate | null;
}

/** A project (.git marks its root) with a sim scenario, the store in it, and the built CLI run there as user `alice`. */
function project() {
  const dir = tempDir('drover-inventory-');
  mkdirSync(join(dir, '.git'));
  const scenario = write(dir, 'scenario.yaml', "rules:\n  - turns: [{ text: 'the answer text' }]\n");
  const env = { DROVER_STORE: join(dir, 'drover.db'), DROVER_USER: 'alice' };
  const run = async (script: string, extra: string[] = []) => {
    const r = await cli(['run', script, '--sim', scenario, '--json', ...extra], { env, cwd: dir });
    const out = lastJson(r.stdout) as { runId: string; status: string; usage: { costUsd: number } };
    return { ...out, code: r.code };
  };
  const drover = (args: string[]) => cli(args, { env, cwd: dir });
  const inventory = async (): Promise<Entry[]> => {
    const r = await drover(['workflows', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (lastJson(r.stdout) as { workflows: Entry[] }).workflows;
  };
  const script = (file: string, meta: string, body: string) => write(dir, file, `export const meta = { ${meta} };\n${body}\n`);
  return { dir, env, run, drover, inventory, script };
}

describe('drover workflows: the inventory', () => {
  it('lists every workflow with tier, owner, runs, success rate, spend over 7/30 days from the ledger, last run and policy denials', {
    timeout: 180_000,
  }, async () => {
    const p = project();
    const reviewer = p.script(
      'reviewer.js',
      "name: 'reviewer', description: 'reviews', tier: 'team-beta', owner: 'platform-team'",
      "const a = await agent('review this', { label: 'reviewer' }); return { a };",
    );
    const flakyOk = p.script('flaky-ok.js', "name: 'flaky', description: 'sometimes fails'", "return await agent('do it');");
    const flakyBad = p.script(
      'flaky-bad.js',
      "name: 'flaky', description: 'sometimes fails'",
      "await agent('do it'); throw new Error('boom');",
    );
    // An internal workflow asking for a model its tier does not name: refused where the agent acts.
    const denied = p.script(
      'denied.js',
      "name: 'denied-wf', description: 'asks for a model it may not use', tier: 'internal', owner: 'ops'",
      "return await agent('x', { model: 'gpt-4o-mini' });",
    );
    const r1 = await p.run(reviewer);
    const r2 = await p.run(reviewer);
    const f1 = await p.run(flakyOk);
    const f2 = await p.run(flakyBad);
    const d1 = await p.run(denied);
    expect([r1.status, r2.status, f1.status, f2.status, d1.status]).toEqual(['completed', 'completed', 'completed', 'failed', 'failed']);

    // Reviewer's rows as if its runs had gone to a provider (sim rows are not spend); one of them
    // ended 10 days ago: in the 30-day spend, not the 7-day one.
    const db = new Database(p.env.DROVER_STORE);
    db.prepare("UPDATE ledger SET mode = 'proxy' WHERE run_id IN (?, ?)").run(r1.runId, r2.runId);
    const old = db.prepare('SELECT id, cost_usd FROM ledger WHERE run_id = ?').get(r1.runId) as { id: number; cost_usd: number };
    const tenDaysAgo = Date.now() - 10 * DAY;
    db.prepare('UPDATE ledger SET started_at = ?, ended_at = ? WHERE id = ?').run(tenDaysAgo, tenDaysAgo, old.id);
    db.close();

    const list = await p.inventory();
    expect(list.map((e) => e.name)).toEqual(['denied-wf', 'flaky', 'reviewer']);
    const [d, f, r] = list as [Entry, Entry, Entry];

    expect(r).toMatchObject({
      tier: 'team-beta',
      promotedTier: null,
      owner: 'platform-team',
      runs: 2,
      completed: 2,
      failed: 0,
      successRate: 1,
    });
    expect(r.lastRun).toMatchObject({ id: r2.runId, status: 'completed' });
    expect(r.spend.last30d.requests).toBe(2);
    expect(r.spend.last30d.usd).toBeCloseTo(r1.usage.costUsd + r2.usage.costUsd, 9);
    expect(r.spend.last7d.requests).toBe(1);
    expect(r.spend.last7d.usd).toBeCloseTo(r2.usage.costUsd, 9);
    expect(r.policyDenials).toBe(0);
    // Never promoted: the gate shown is team-beta's, which needs only an owner.
    expect(r.gate).toMatchObject({ tier: 'team-beta', passed: true, missing: [] });
    expect(r.gate?.items.map((i) => i.id)).toEqual(['owner']);

    expect(f).toMatchObject({ tier: 'personal', owner: null, runs: 2, completed: 1, failed: 1, successRate: 0.5 });
    expect(f.lastRun).toMatchObject({ id: f2.runId, status: 'failed' });
    // Its runs were answered by the sim: no money, no spend (as drover usage counts it).
    expect(f.spend.last7d).toEqual({ usd: 0, requests: 0 });
    expect(f.gate).toMatchObject({ tier: 'team-beta', passed: false });
    expect(f.gate?.missing.map((m) => m.id)).toEqual(['owner']);

    expect(d).toMatchObject({ tier: 'internal', owner: 'ops', runs: 1, successRate: 0, policyDenials: 1 });
    expect(d.spend.last30d).toEqual({ usd: 0, requests: 0 });

    // The text form names the same facts.
    const text = await p.drover(['workflows']);
    expect(text.code, text.stderr).toBe(0);
    const line = text.stdout.split('\n').find((l) => l.startsWith('flaky')) ?? '';
    expect(line).toMatch(/^flaky\s+personal\s+-\s+-\s+2\s+50%/);
    expect(line).toContain('team-beta: missing owner');
  });

  it('is refused without a store (exit 2), and is empty on a store with no run', async () => {
    const p = project();
    const none = await p.drover(['workflows', '--json']);
    expect(none.code).toBe(2);
    expect(lastJson(none.stdout)).toMatchObject({ error: { code: 'NO_STORE' } });
    const t = await p.drover(['tasks', 'add', 'a task', '--json']);
    expect(t.code, t.stderr).toBe(0);
    expect(await p.inventory()).toEqual([]);
  });
});

describe('drover workflows promote: the gates', () => {
  it('refuses with every missing item named, then grants once owner, caps and a passing spec on the last 3 runs are there; every step audited', {
    timeout: 240_000,
  }, async () => {
    const p = project();
    // v1: one agent, no owner, no caps.
    const v1 = p.script('wf.js', "name: 'reviewer', description: 'reviews'", "return await agent('review this', { label: 'reviewer' });");
    const first = await p.run(v1);
    expect(first.status).toBe('completed');

    const refused = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'internal', '--json']);
    expect(refused.code, refused.stderr).toBe(8);
    const r = lastJson(refused.stdout) as { granted: boolean; from: string; to: string; gate: Gate };
    expect(r).toMatchObject({ granted: false, from: 'personal', to: 'internal' });
    expect(r.gate.missing.map((m) => m.id)).toEqual(['owner', 'caps', 'evaluation']);
    expect(r.gate.missing.find((m) => m.id === 'owner')?.detail).toContain('meta.owner');
    expect(r.gate.missing.find((m) => m.id === 'caps')?.detail).toContain('meta.budget.usd');
    expect(r.gate.missing.find((m) => m.id === 'evaluation')?.detail).toContain('drover workflows attach reviewer');
    // The shipped internal tier asks a human before `git push`: approvals are configured.
    expect(r.gate.items.find((i) => i.id === 'approvals')).toMatchObject({ ok: true });
    expect(r.gate.items.find((i) => i.id === 'approvals')?.detail).toContain('internal.approve-commands');

    const text = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'internal']);
    expect(text.code).toBe(8);
    expect(text.stdout).toContain('refused; missing: owner, caps, evaluation');
    expect(text.stdout).toMatch(/✗ caps: no caps/);

    // Bad input is exit 2 and stores nothing.
    const badTier = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'production', '--json']);
    expect(badTier.code).toBe(2);
    expect(lastJson(badTier.stdout)).toMatchObject({ error: { code: 'INVALID_TIER' } });
    const unknown = await p.drover(['workflows', 'promote', 'nobody', '--tier', 'internal', '--json']);
    expect(unknown.code).toBe(2);
    expect(lastJson(unknown.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const badSpec = write(p.dir, 'bad.yaml', 'assertions:\n  - name: x\n    expect: { count: ">= lots" }\n');
    const attachBad = await p.drover(['workflows', 'attach', 'reviewer', '--spec', badSpec, '--json']);
    expect(attachBad.code).toBe(2);
    expect(lastJson(attachBad.stdout)).toMatchObject({ error: { code: 'INVALID_SPEC' } });
    const attachNone = await p.drover(['workflows', 'attach', 'reviewer']);
    expect(attachNone.code).toBe(2);

    // The spec: two agents per run (v1 has one, so its run fails it).
    const spec = write(
      p.dir,
      'reviewer.spec.yaml',
      "assertions:\n  - name: two agents\n    select: { name: '/^invoke_agent/' }\n    expect: { count: '= 2' }\n  - name: structure\n    expect: { oneRootPerTrace: true, noOrphans: true }\n",
    );
    const attached = await p.drover(['workflows', 'attach', 'reviewer', '--spec', spec, '--json']);
    expect(attached.code, attached.stderr).toBe(0);
    expect(lastJson(attached.stdout)).toMatchObject({ workflow: { name: 'reviewer', specPath: spec, goldenPath: null, tier: null } });

    // v2: owner and caps in meta, two agents.
    writeFileSync(
      v1,
      "export const meta = { name: 'reviewer', description: 'reviews', owner: 'platform-team', budget: { usd: 5 } };\n" +
        "const a = await agent('review this', { label: 'reviewer' });\nconst b = await agent('check that', { label: 'checker' });\nreturn { a, b };\n",
    );
    const second = await p.run(v1);
    const onlyTwo = lastJson((await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'internal', '--json'])).stdout) as {
      granted: boolean;
      gate: Gate;
    };
    expect(onlyTwo.granted).toBe(false);
    expect(onlyTwo.gate.missing.map((m) => m.id)).toEqual(['evaluation']);
    expect(onlyTwo.gate.missing[0]?.detail).toContain('only 2 completed runs');

    const third = await p.run(v1);
    const failing = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'internal', '--json']);
    expect(failing.code).toBe(8);
    const f = lastJson(failing.stdout) as { gate: Gate };
    expect(f.gate.missing.map((m) => m.id)).toEqual(['evaluation']);
    expect(f.gate.missing[0]?.detail).toContain(`fails on 1 of the last 3 completed runs: ${first.runId}`);
    expect(f.gate.missing[0]?.detail).toContain('two agents');
    const evalRuns = f.gate.items.find((i) => i.id === 'evaluation')?.runs;
    expect(evalRuns).toEqual([
      { runId: third.runId, passed: true, failures: [] },
      { runId: second.runId, passed: true, failures: [] },
      { runId: first.runId, passed: false, failures: [expect.stringContaining('two agents')] },
    ]);

    const fourth = await p.run(v1);
    const granted = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'internal', '--json']);
    expect(granted.code, granted.stdout).toBe(0);
    const g = lastJson(granted.stdout) as { granted: boolean; from: string; to: string; gate: Gate; workflow: Record<string, unknown> };
    expect(g).toMatchObject({ granted: true, from: 'personal', to: 'internal', gate: { passed: true, missing: [] } });
    expect(g.workflow).toMatchObject({ name: 'reviewer', tier: 'internal', owner: 'platform-team', specPath: spec, promotedBy: 'alice' });
    expect(g.gate.items.find((i) => i.id === 'evaluation')?.runs?.map((x) => x.runId)).toEqual([fourth.runId, third.runId, second.runId]);

    // Only upward; the next gate (customer-facing: 5 runs) is what the inventory now shows.
    const down = await p.drover(['workflows', 'promote', 'reviewer', '--tier', 'team-beta', '--json']);
    expect(down.code).toBe(2);
    expect(lastJson(down.stdout)).toMatchObject({ error: { code: 'PROMOTION_NOT_UPWARD' } });
    const [entry] = await p.inventory();
    expect(entry).toMatchObject({ name: 'reviewer', tier: 'personal', promotedTier: 'internal', attached: { spec, golden: null } });
    expect(entry?.gate?.tier).toBe('customer-facing');
    expect(entry?.gate?.missing.map((m) => m.id)).toEqual(['evaluation']);
    expect(entry?.gate?.missing[0]?.detail).toContain('only 4 completed runs');

    // The audit log: every refusal, the attachment and the grant, by alice, in order.
    const log = await p.drover(['workflows', 'log', 'reviewer', '--json']);
    expect(log.code, log.stderr).toBe(0);
    const events = (lastJson(log.stdout) as { events: { kind: string; actor: string; details: Record<string, unknown> }[] }).events;
    expect(events.map((e) => e.kind)).toEqual(['refused', 'refused', 'attach', 'refused', 'refused', 'promote']);
    expect(events.every((e) => e.actor === 'alice')).toBe(true);
    expect(events[0]?.details).toMatchObject({
      from: 'personal',
      to: 'internal',
      missing: [{ id: 'owner' }, { id: 'caps' }, { id: 'evaluation' }],
    });
    expect(events[2]?.details).toEqual({ spec });
    expect(events[5]?.details).toEqual({ from: 'personal', to: 'internal', owner: 'platform-team' });
    // The same rows in the store's tables (schema v12).
    const db = new Database(p.env.DROVER_STORE, { readonly: true });
    expect(db.prepare('SELECT name, tier, owner, spec_path, golden_path, promoted_by FROM workflows').all()).toEqual([
      { name: 'reviewer', tier: 'internal', owner: 'platform-team', spec_path: spec, golden_path: null, promoted_by: 'alice' },
    ]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM workflow_events').get()).toEqual({ n: 6 });
    db.close();
  });

  it('team-beta needs only an owner; a golden trace is an evaluation too; approvals a project policy removed are a missing item', {
    timeout: 180_000,
  }, async () => {
    const p = project();
    const wf = p.script(
      'wf.js',
      "name: 'summarizer', description: 'summarizes', owner: 'docs-team', budget: { tokens: 10000 }",
      "return await agent('summarize', { label: 'summarizer' });",
    );
    const first = await p.run(wf);
    const beta = await p.drover(['workflows', 'promote', 'summarizer', '--tier', 'team-beta', '--json']);
    expect(beta.code, beta.stdout).toBe(0);
    expect(lastJson(beta.stdout)).toMatchObject({
      granted: true,
      from: 'personal',
      to: 'team-beta',
      gate: { items: [{ id: 'owner', ok: true }] },
    });

    const golden = join(p.dir, 'golden.json');
    const saved = await p.drover(['trace', 'golden', 'save', first.runId, golden]);
    expect(saved.code, saved.stderr).toBe(0);
    const att = await p.drover(['workflows', 'attach', 'summarizer', '--golden', golden, '--json']);
    expect(att.code, att.stderr).toBe(0);
    await p.run(wf);
    await p.run(wf);
    // A project policy that replaces the shipped approval rule with one that never applies.
    mkdirSync(join(p.dir, '.drover', 'policy'), { recursive: true });
    write(
      join(p.dir, '.drover', 'policy'),
      'no-approvals.cedar',
      '@id("internal.approve-commands")\npermit (principal, action == Action::"requireApproval", resource is Command)\nwhen { principal.tier == "internal" && resource.command like "never-run-this" };\n',
    );
    const [entry] = await p.inventory();
    expect(entry).toMatchObject({ promotedTier: 'team-beta', attached: { spec: null, golden } });
    expect(entry?.gate?.tier).toBe('internal');
    const items = Object.fromEntries((entry?.gate?.items ?? []).map((i) => [i.id, i]));
    expect(items.owner?.ok).toBe(true);
    expect(items.caps).toMatchObject({ ok: true, detail: 'run caps tokens 10000' });
    expect(items.evaluation?.ok).toBe(true);
    expect(items.evaluation?.runs?.length).toBe(3);
    expect(items.approvals?.ok).toBe(false);
    expect(items.approvals?.detail).toContain('requires no approval');

    const refused = await p.drover(['workflows', 'promote', 'summarizer', '--tier', 'internal', '--json']);
    expect(refused.code).toBe(8);
    expect((lastJson(refused.stdout) as { gate: Gate }).gate.missing.map((m) => m.id)).toEqual(['approvals']);
  });
});

describe('the inventory library (src/inventory)', () => {
  it('sums spend in windows ending at `now`, checks a gate without recording it, and records promotions under the given actor', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '.git'));
    const gw = await gateway("rules:\n  - turns: [{ text: 'done' }]\n");
    const { store } = tempStore(dir);
    const script = write(
      dir,
      'wf.js',
      "export const meta = { name: 'lib-wf', description: 'a test workflow', owner: 'me' };\nreturn await agent('go', { label: 'a' });\n",
    );
    const run = await runWorkflow({ store, script, gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF });
    expect(run.status).toBe('completed');
    const cost = run.usage.costUsd as number;
    expect(cost).toBeGreaterThan(0);

    const today = await workflowInventory(store);
    expect(today).toHaveLength(1);
    expect(today[0]?.spend.last7d.usd).toBeCloseTo(cost, 9);
    // Seen from 8 days later: outside the 7-day window, inside the 30-day one; 31 days later: in neither.
    const later = await workflowInventory(store, { now: Date.now() + 8 * DAY });
    expect(later[0]?.spend).toEqual({ last7d: { usd: 0, requests: 0 }, last30d: { usd: today[0]?.spend.last30d.usd, requests: 1 } });
    const muchLater = await workflowInventory(store, { now: Date.now() + 31 * DAY });
    expect(muchLater[0]?.spend.last30d).toEqual({ usd: 0, requests: 0 });

    const gate = await checkGate(store, 'lib-wf', 'team-beta');
    expect(gate).toMatchObject({ tier: 'team-beta', passed: true });
    expect(await store.workflows.events()).toEqual([]);
    const granted = await promoteWorkflow(store, 'lib-wf', 'team-beta', { actor: 'ci-bot', now: 1_800_000_000_000 });
    expect(granted).toMatchObject({
      granted: true,
      from: 'personal',
      to: 'team-beta',
      workflow: { tier: 'team-beta', owner: 'me', promotedBy: 'ci-bot', promotedAt: 1_800_000_000_000 },
    });
    const refused = await promoteWorkflow(store, 'lib-wf', 'customer-facing', { actor: 'ci-bot' });
    expect(refused.granted).toBe(false);
    expect(refused.gate.missing.map((m) => m.id)).toEqual(['caps', 'evaluation']);
    expect((await store.workflows.events('lib-wf')).map((e) => [e.kind, e.actor])).toEqual([
      ['promote', 'ci-bot'],
      ['refused', 'ci-bot'],
    ]);
    // A second script with another name is another workflow; a name with no run is not found.
    await runWorkflow({
      store,
      script: ccScript(dir, "return await agent('x');", 'other.js', 'other-wf'),
      gateway: gw.url,
      workdir: dir,
      backoff: FAST_BACKOFF,
    });
    expect((await workflowInventory(store)).map((e) => e.name)).toEqual(['lib-wf', 'other-wf']);
    await expect(checkGate(store, 'ghost', 'internal')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
