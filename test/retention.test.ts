import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ccScript, cli, lastJson, tempDir, write } from './helpers.js';

const DAY = 86_400_000;

/** A project dir (with .git so drover.config.json there is the project's) and a finished sim run per tier asked. */
async function project(config: Record<string, unknown> = {}) {
  const dir = tempDir();
  mkdirSync(join(dir, '.git'));
  write(dir, 'drover.config.json', JSON.stringify({ traceContent: true, ...config }));
  const scenario = write(dir, 'scenario.yaml', "rules:\n  - turns: [{ text: 'the answer text' }]\n");
  const script = ccScript(dir, `log('a log line'); const a = await agent('the prompt text', { label: 'reviewer' }); return { a };`);
  const env = { DROVER_STORE: join(dir, 'drover.db') };
  const run = async (extra: string[] = []) => {
    const r = await cli(['run', script, '--sim', scenario, '--json', ...extra], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    return String(lastJson(r.stdout).runId);
  };
  const db = () => new Database(env.DROVER_STORE);
  /** What the policy helper's `meta.tier` would store, and an age (the test cannot wait days). */
  const classify = (runId: string, tier: string | null, ageDays: number) => {
    const d = db();
    const at = Date.now() - ageDays * DAY;
    if (tier) d.prepare("UPDATE runs SET settings_json = json_set(settings_json, '$.tier', ?) WHERE id = ?").run(tier, runId);
    d.prepare('UPDATE runs SET finished_at = ?, updated_at = ? WHERE id = ?').run(at, at, runId);
    d.close();
  };
  return { dir, env, run, db, classify, cli: (args: string[]) => cli(args, { env, cwd: dir }) };
}

type Row = Record<string, unknown>;
function snapshot(d: Database.Database, runId: string) {
  const all = (sql: string) => d.prepare(sql).all(runId) as Row[];
  return {
    run: d.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as Row | undefined,
    calls: all('SELECT * FROM calls WHERE run_id = ?'),
    spans: all('SELECT * FROM spans WHERE run_id = ?'),
    logs: all("SELECT * FROM events WHERE run_id = ? AND type = 'log'"),
    ledger: all('SELECT * FROM ledger WHERE run_id = ?'),
    deletions: all('SELECT * FROM deletions WHERE run_id = ?'),
  };
}

describe('drover gc: retention per tier', () => {
  it('drops content past contentDays, deletes runs past runsDays, keeps the ledger figures, obeys config overrides, and --dry-run changes nothing', async () => {
    const p = await project({ retention: { internal: { contentDays: 10 } } });
    const [young, oldContent, tooOld, customer, internal] = [await p.run(), await p.run(), await p.run(), await p.run(), await p.run()];
    p.classify(young, null, 5); // personal: content 30 d, runs 90 d
    p.classify(oldContent, null, 40);
    p.classify(tooOld, 'personal', 100);
    p.classify(customer, 'customer-facing', 20); // content 14 d
    p.classify(internal, 'internal', 20); // config: content 10 d (default 90)
    let d = p.db();
    const before = Object.fromEntries([young, oldContent, tooOld, customer, internal].map((id) => [id, snapshot(d, id)]));
    d.close();
    for (const id of [oldContent, customer, internal]) {
      expect(before[id]?.calls[0]?.result_json).toContain('the answer text');
      expect(before[id]?.spans.some((s) => String(s.attributes_json).includes('the prompt text'))).toBe(true);
      expect(before[id]?.logs.length).toBe(1);
    }

    const dry = await p.cli(['gc', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = lastJson(dry.stdout) as { runs: { runId: string; action: string; tier: string }[] };
    expect(plan.runs.map((r) => [r.runId, r.action, r.tier]).sort()).toEqual(
      [
        [oldContent, 'drop-content', 'personal'],
        [tooOld, 'delete', 'personal'],
        [customer, 'drop-content', 'customer-facing'],
        [internal, 'drop-content', 'internal'],
      ].sort(),
    );
    d = p.db();
    for (const id of [young, oldContent, tooOld, customer, internal]) expect(snapshot(d, id)).toEqual(before[id]);
    d.close();

    const gc = await p.cli(['gc', '--json']);
    expect(gc.code, gc.stderr).toBe(0);
    d = p.db();
    const after = Object.fromEntries([young, oldContent, tooOld, customer, internal].map((id) => [id, snapshot(d, id)]));
    d.close();
    // Untouched: young.
    expect(after[young]).toEqual(before[young]);
    // Content dropped: no inputs, results, prompts, answers, logs; the run, its calls, spans and ledger figures stay.
    for (const id of [oldContent, customer, internal]) {
      const a = after[id];
      expect(a?.run?.content_dropped_at).toBeTypeOf('number');
      expect(a?.run?.result_json).toBeNull();
      expect(a?.calls.length).toBe(before[id]?.calls.length);
      for (const c of a?.calls ?? []) expect([c.inputs_json, c.result_json, c.detail_json]).toEqual([null, null, null]);
      expect(a?.spans.length).toBe(before[id]?.spans.length);
      for (const s of a?.spans ?? []) {
        expect(String(s.attributes_json)).not.toContain('the prompt text');
        expect(String(s.attributes_json)).not.toContain('the answer text');
      }
      expect(a?.logs).toEqual([]);
      expect(a?.ledger).toEqual(before[id]?.ledger);
      expect(a?.deletions.map((x) => [x.kind, x.actor])).toEqual([['gc-content', userInfo().username]]);
    }
    // Deleted: nothing of the run but its ledger figures, labels cleared; the deletion recorded.
    const gone = after[tooOld];
    expect([gone?.run, gone?.calls, gone?.spans, gone?.logs]).toEqual([undefined, [], [], []]);
    expect(gone?.ledger.map((r) => [r.cost_usd, r.input_tokens, r.call_key, r.agent_label])).toEqual(
      before[tooOld]?.ledger.map((r) => [r.cost_usd, r.input_tokens, null, null]),
    );
    expect(gone?.deletions.map((x) => x.kind)).toEqual(['gc-run']);
    // status of a content-dropped run still answers (figures, structure).
    const status = await p.cli(['status', oldContent, '--json']);
    expect(status.code, status.stderr).toBe(0);
    // Its calls have no results any more: resuming it, or reusing it with --from, is refused.
    const resume = await p.cli(['resume', oldContent]);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toContain('its content was dropped by retention');
    // A second gc has nothing left to do.
    const again = await p.cli(['gc', '--json']);
    expect((lastJson(again.stdout) as { runs: unknown[] }).runs).toEqual([]);
  });

  it('removes recorded cassettes past cassettesDays and keeps younger ones', async () => {
    const p = await project({ retention: { personal: { cassettesDays: 7 } } });
    const cassettes = join(p.dir, 'cassettes');
    await p.run(['--record', cassettes]);
    const files = readdirSync(cassettes).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(1);
    // A second, older recording in the same directory (its recordedAt set back 10 days).
    const old = JSON.parse(readFileSync(join(cassettes, files[0] as string), 'utf8'));
    old.recordedAt = new Date(Date.now() - 10 * DAY).toISOString();
    writeFileSync(join(cassettes, 'older-0.json'), JSON.stringify(old));
    writeFileSync(join(cassettes, 'notes.json'), '{"not":"a cassette"}');
    const gc = await p.cli(['gc', '--json']);
    expect(gc.code, gc.stderr).toBe(0);
    expect((lastJson(gc.stdout) as { cassettes: string[] }).cassettes).toEqual([join(cassettes, 'older-0.json')]);
    expect(readdirSync(cassettes).sort()).toEqual([...files, 'notes.json'].sort());
  });

  it.each([
    [{ retention: { production: { runsDays: 1 } } }, 'retention: production: unknown tier'],
    [{ retention: { personal: { contentDays: -1 } } }, 'retention: personal.contentDays: expected a whole number of days'],
    [{ retention: { personal: { keepDays: 1 } } }, 'retention: personal.keepDays: unknown key'],
    [{ retention: { internal: { contentDays: 400 } } }, 'retention: internal: contentDays (400) is longer than runsDays (365)'],
  ])('refuses bad retention config %j (exit 2, nothing changed)', async (config, message) => {
    const p = await project();
    const id = await p.run();
    p.classify(id, null, 400);
    write(p.dir, 'drover.config.json', JSON.stringify(config));
    const gc = await p.cli(['gc']);
    expect(gc.code).toBe(2);
    expect(gc.stderr).toContain(message);
    const d = p.db();
    expect(snapshot(d, id).run).toBeDefined();
    d.close();
  });
});

describe('drover runs delete', () => {
  it('says what it would delete, then deletes the run entirely, keeps ledger figures, and records who and what', async () => {
    const p = await project();
    const keep = await p.run();
    const target = await p.run();
    let d = p.db();
    const before = snapshot(d, target);
    const keepBefore = snapshot(d, keep);
    d.close();
    expect(before.calls.length).toBeGreaterThan(0);
    expect(before.spans.length).toBeGreaterThan(0);

    const dry = await p.cli(['runs', 'delete', target, '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(lastJson(dry.stdout)).toMatchObject({ deleted: false, calls: before.calls.length, spans: before.spans.length });
    d = p.db();
    expect(snapshot(d, target)).toEqual(before);
    d.close();

    const del = await p.cli(['runs', 'delete', target, '--yes', '--json']);
    expect(del.code, del.stderr).toBe(0);
    d = p.db();
    const after = snapshot(d, target);
    const tables = d.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    // No row of any table but the ledger (figures) and the deletions log names the run.
    for (const t of tables) {
      const cols = (d.prepare(`PRAGMA table_info("${t}")`).all() as { name: string }[])
        .map((c) => c.name)
        .filter((c) => c === 'run_id' || (t === 'runs' && c === 'id'));
      for (const c of cols) {
        const n = d.prepare(`SELECT COUNT(*) FROM "${t}" WHERE "${c}" = ?`).pluck().get(target) as number;
        if (t === 'ledger' || t === 'deletions') expect(n, t).toBeGreaterThan(0);
        else expect(n, `${t}.${c}`).toBe(0);
      }
    }
    expect(after.ledger.map((r) => [r.cost_usd, r.output_tokens, r.call_key, r.agent_label, r.phase])).toEqual(
      before.ledger.map((r) => [r.cost_usd, r.output_tokens, null, null, null]),
    );
    const log = after.deletions[0] as Row;
    expect([log.kind, log.actor]).toEqual(['delete', userInfo().username]);
    expect(JSON.parse(String(log.counts_json))).toMatchObject({ runs: 1, calls: before.calls.length, spans: before.spans.length });
    expect(snapshot(d, keep)).toEqual(keepBefore);
    d.close();

    const listed = await p.cli(['runs', 'deletions', '--json']);
    expect((lastJson(listed.stdout) as unknown as { runId: string; kind: string }[]).map((x) => [x.runId, x.kind])).toEqual([
      [target, 'delete'],
    ]);
    const twice = await p.cli(['runs', 'delete', target, '--yes']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(`run ${target} not found`);
  });
});
