import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { canonicalValue, migrateStore, type StoreComparison, verifyStores } from '../src/store/migrate.js';
import { PG_SCHEMA_VERSION } from '../src/store/postgres/migrations.js';
import { cli, lastJson, onCleanup, pgStoreUrl, ROOT, tempDir, write } from './helpers.js';

/**
 * `drover store migrate` / `store verify` (src/store/migrate.ts) and `drover doctor` on PostgreSQL,
 * through the built CLI (npm run build first) against the test run's PostgreSQL server (test/pg-global.ts).
 */

/** Every table a populated store has rows in (reservations are held only while a request is in flight). */
const FILLED = [
  'runs',
  'calls',
  'events',
  'ledger',
  'spans',
  'transcripts',
  'questions',
  'deletions',
  'task_lists',
  'tasks',
  'task_deps',
  'task_events',
  'workflows',
  'workflow_events',
];

const EXAMPLE = resolve(ROOT, 'examples', 'triage-failures');

interface Source {
  dir: string;
  path: string;
  runId: string;
  waitingRunId: string;
  env: Record<string, string>;
}

/** A store filled by real CLI processes: two sim runs (one deleted), a waiting ask, tasks with a dependency, an attached spec. */
async function populate(): Promise<Source> {
  // Kept for the whole file (tempDir's are removed after each test): afterAll removes it.
  const dir = mkdtempSync(join(tmpdir(), 'drover-migrate-'));
  mkdirSync(join(dir, '.git'));
  const path = join(dir, 'source.db');
  const env = { DROVER_STORE: path, DROVER_TRACE_CONTENT: '1', DROVER_TASK_LIST: 'migrate-list', DROVER_USER: 'alice' };
  const drover = async (args: string[], code = 0) => {
    const r = await cli(args, { env, cwd: dir });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
    return r;
  };
  const sim = ['--sim', join(EXAMPLE, 'scenario.yaml')];
  const run = await drover(['run', join(EXAMPLE, 'workflow.js'), ...sim, '--json']);
  const runId = (lastJson(run.stdout) as { runId: string }).runId;
  await drover(['run', join(EXAMPLE, 'workflow.js'), ...sim, '--run-id', 'doomed', '--json']);
  await drover(['runs', 'delete', 'doomed', '--yes']);
  const askScenario = write(dir, 'ask.yaml', "rules:\n  - turns: [{ text: 'a plan' }]\n");
  const askScript = write(
    dir,
    'ask.js',
    "export const meta = { name: 'asker', description: 'asks' };\nconst plan = await agent('plan it');\nreturn await ask('Ship ' + plan + '?', { choices: ['yes', 'no'] });\n",
  );
  await drover(['run', askScript, '--sim', askScenario, '--run-id', 'asking', '--json'], 4);
  const first = lastJson((await drover(['tasks', 'add', 'first', '--json'])).stdout) as { id: string };
  await drover(['tasks', 'add', 'second', '--blocked-by', first.id, '--json']);
  await drover(['tasks', 'claim', '--owner', 'bob', '--json']);
  const spec = write(dir, 'triage.spec.yaml', 'assertions:\n  - name: structure\n    expect: { oneRootPerTrace: true }\n');
  await drover(['workflows', 'attach', 'triage-failures', '--spec', spec, '--json']);
  return { dir, path, runId, waitingRunId: 'asking', env };
}

/** Row counts of every table of an SQLite store, read directly. */
function sqliteCounts(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
    return Object.fromEntries(tables.map((t) => [t, Number(db.prepare(`SELECT COUNT(*) FROM "${t}"`).pluck().get())]));
  } finally {
    db.close();
  }
}

/** Every row of every table, in primary-key order, as SQLite returns them. */
function sqliteRows(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, unknown[]> = {};
    for (const t of Object.keys(sqliteCounts(path)).sort()) {
      const pk = (db.prepare('SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk').pluck().all(t) as string[]).map(
        (c) => `"${c}"`,
      );
      out[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY ${pk.join(', ')}`).all();
    }
    return out;
  } finally {
    db.close();
  }
}

/** A client on the schema of a store URL, for reading and tampering behind drover's back. */
async function pgClient(url: string): Promise<pg.Client> {
  const u = new URL(url);
  const schema = u.searchParams.get('schema') as string;
  u.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: u.toString(), options: `-c search_path=${schema}` });
  await client.connect();
  onCleanup(() => client.end());
  return client;
}

async function pgCounts(url: string, tables: string[]): Promise<Record<string, number>> {
  const c = await pgClient(url);
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await c.query(`SELECT COUNT(*) AS n FROM "${t}"`)).rows[0].n);
  return out;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const byTable = (r: StoreComparison) => Object.fromEntries(r.tables.map((t) => [t.table, t]));

let source: Source;
beforeAll(async () => {
  source = await populate();
}, 120_000);
afterAll(() => {
  if (source) rmSync(source.dir, { recursive: true, force: true });
});

describe('drover store migrate: SQLite → PostgreSQL → SQLite', () => {
  it('copies every table both ways with equal counts and checksums; the SQLite copy reads as the original', async () => {
    const counts = sqliteCounts(source.path);
    for (const t of FILLED) expect(counts[t], `table ${t} of the populated store`).toBeGreaterThan(0);
    const url = pgStoreUrl();

    // Small pages: every table takes several pages, composite keys included.
    const there = await cli(['store', 'migrate', '--to', url, '--batch-size', '7', '--json'], { env: source.env, cwd: source.dir });
    expect(there.code, there.stderr).toBe(0);
    const out = lastJson(there.stdout) as unknown as StoreComparison;
    expect(out).toMatchObject({ ok: true, mismatched: [], fromKind: 'sqlite', toKind: 'postgres', from: source.path });
    expect(Object.keys(byTable(out)).sort()).toEqual(Object.keys(counts).sort());
    for (const t of out.tables) {
      expect([t.table, t.sourceRows, t.targetRows]).toEqual([t.table, counts[t.table], counts[t.table]]);
      expect(t.targetChecksum).toBe(t.sourceChecksum);
    }
    expect(await pgCounts(url, Object.keys(counts))).toEqual(counts);

    const back = join(tempDir(), 'nested', 'back.db');
    const home = await cli(['store', 'migrate', '--from', url, '--to', back, '--batch-size', '5', '--json']);
    expect(home.code, home.stderr).toBe(0);
    const returned = lastJson(home.stdout) as unknown as StoreComparison;
    expect(returned).toMatchObject({ ok: true, fromKind: 'postgres', toKind: 'sqlite' });
    // The same checksums as the original's: the content survived both hops.
    for (const t of returned.tables)
      expect([t.table, t.targetChecksum, t.targetRows]).toEqual([t.table, byTable(out)[t.table]?.sourceChecksum, counts[t.table]]);
    // Row for row, value for value (types included: integers stay integers, reals reals).
    expect(sqliteRows(back)).toEqual(sqliteRows(source.path));

    // What people read from the store is the same.
    for (const args of [
      ['status', source.runId],
      ['status', source.waitingRunId, '--json'],
      ['cost', source.runId, '--by', 'agent'],
      ['cost', source.runId, '--by', 'request', '--json'],
      ['runs', '--json'],
      ['runs', 'deletions', '--json'],
      ['tasks', 'list', '--json'],
      ['workflows', 'log', '--json'],
      ['agent', source.runId, 'summary', '--json'],
    ]) {
      const a = await cli([...args, '--store', source.path], { env: source.env, cwd: source.dir });
      const b = await cli([...args, '--store', back], { env: source.env, cwd: source.dir });
      expect(a.code, `${args.join(' ')}: ${a.stderr}`).toBe(0);
      expect([args.join(' '), b.code, b.stdout]).toEqual([args.join(' '), 0, a.stdout]);
    }
  });

  it('resets PostgreSQL identity sequences past the copied ids, so later inserts do not collide', async () => {
    const url = pgStoreUrl();
    const r = await migrateStore({ from: source.path, to: url });
    expect(r.ok).toBe(true);
    const c = await pgClient(url);
    for (const [table, cols, values] of [
      ['events', 'run_id, ts, type, data_json', `'${source.runId}', 1, 'x', '{}'`],
      ['deletions', 'run_id, kind, at, actor, counts_json', "'r', 'delete', 1, 'me', '{}'"],
      [
        'ledger',
        'provider, wire, mode, model, status, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, price_flag, started_at, ended_at',
        "'anthropic', 'anthropic', 'sim', 'm', 200, 0, 0, 0, 0, 0, 0, 'priced', 1, 1",
      ],
    ] as const) {
      const max = Number((await c.query(`SELECT MAX(id) AS m FROM ${table}`)).rows[0].m);
      const id = Number((await c.query(`INSERT INTO ${table} (${cols}) VALUES (${values}) RETURNING id`)).rows[0].id);
      expect([table, id]).toEqual([table, max + 1]);
    }
  });

  it('copies the source as it was at one instant: rows written during the copy are not in it, and it still verifies', async () => {
    // A copy of the populated store to write into while it is being copied.
    const live = join(tempDir(), 'live.db');
    expect((await migrateStore({ from: source.path, to: live })).ok).toBe(true);
    const spans = sqliteCounts(live).spans as number;
    const url = pgStoreUrl();
    let wrote = false;
    const there = await migrateStore({
      from: live,
      to: url,
      batchSize: 5,
      onProgress: ({ table }) => {
        if (table !== 'calls' || wrote) return;
        wrote = true;
        const w = new Database(live);
        w.prepare(
          "INSERT INTO spans (trace_key, trace_id, span_id, name, kind, start_us, end_us, status_code, attributes_json, resource_json) VALUES (1, 't', 's', 'late', 1, 1, 2, 0, '{}', '{}')",
        ).run();
        w.close();
      },
    });
    expect(wrote).toBe(true);
    expect(there.ok).toBe(true);
    expect(byTable(there).spans?.targetRows).toBe(spans);
    expect(sqliteCounts(live).spans).toBe(spans + 1);
    // The same from PostgreSQL (REPEATABLE READ): a span inserted mid-copy stays out.
    const c = await pgClient(url);
    let wrotePg = false;
    const back = await migrateStore({
      from: url,
      to: join(tempDir(), 'back.db'),
      batchSize: 5,
      onProgress: async ({ table }) => {
        if (table !== 'calls' || wrotePg) return;
        wrotePg = true;
        await c.query(
          "INSERT INTO spans (trace_key, trace_id, span_id, name, kind, start_us, end_us, status_code, attributes_json, resource_json) VALUES (1, 't', 's', 'late', 1, 1, 2, 0, '{}', '{}')",
        );
      },
    });
    expect(wrotePg).toBe(true);
    expect(back.ok).toBe(true);
    expect(byTable(back).spans?.targetRows).toBe(spans);
  });

  it('copies PostgreSQL → PostgreSQL and SQLite → SQLite too', async () => {
    const pgA = pgStoreUrl();
    const pgB = pgStoreUrl();
    expect((await migrateStore({ from: source.path, to: pgA, batchSize: 3 })).ok).toBe(true);
    const pp = await migrateStore({ from: pgA, to: pgB, batchSize: 4 });
    expect(pp).toMatchObject({ ok: true, fromKind: 'postgres', toKind: 'postgres' });
    const copy = join(tempDir(), 'copy.db');
    const ss = await migrateStore({ from: source.path, to: copy });
    expect(ss).toMatchObject({ ok: true, fromKind: 'sqlite', toKind: 'sqlite' });
    expect(ss.tables.map((t) => t.targetChecksum)).toEqual(pp.tables.map((t) => t.targetChecksum));
    expect(sqliteRows(copy)).toEqual(sqliteRows(source.path));
  });
});

describe('values that are easy to mangle', () => {
  it('survive SQLite → PostgreSQL → SQLite exactly: quotes, backslashes, braces, "NULL", unicode, empty vs NULL, extreme numbers', async () => {
    const dir = tempDir();
    const src = join(dir, 'odd.db');
    await createStore(src).close();
    const db = new Database(src);
    const odd = [
      '',
      'NULL',
      'null',
      '"quoted"',
      "it's",
      'back\\slash',
      '{a,b}',
      '{"json": [1, "two"]}',
      'tab\there\nnewline',
      'ünïcödé ✓ 🚀',
      ' padded ',
    ];
    const run = db.prepare(
      `INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, created_at, updated_at, lease_pid)
       VALUES (?, ?, ?, 'wf.js', ?, 'h', 'claude-code', 'null', '{}', 'completed', ?, ?, ?)`,
    );
    odd.forEach((v, i) => {
      // lease_pid past 2^53 (as a BigInt): copied exactly, not through a JS number.
      run.run(`r${i}-${v}`, v, v, v, 2 ** 53 - 1 - i, -i, i === 0 ? null : 2n ** 62n + BigInt(i));
    });
    const ledger = db.prepare(
      `INSERT INTO ledger (run_id, call_key, provider, wire, mode, model, status, input_tokens, cache_read_tokens, cache_write_5m_tokens,
         cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_usd, price_flag, started_at, ended_at)
       VALUES (?, ?, 'anthropic', 'anthropic', 'sim', 'm', 200, ?, 0, 0, 0, 0, 0, ?, 'priced', 1, 2)`,
    );
    const reals = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0, 0, 123456789.12345679, null];
    reals.forEach((usd, i) => {
      ledger.run(i % 2 ? null : odd[i % odd.length], odd[(i + 3) % odd.length], 9007199254740991 - i, usd);
    });
    db.close();
    const url = pgStoreUrl();
    expect((await migrateStore({ from: src, to: url, batchSize: 3 })).ok).toBe(true);
    const back = join(dir, 'back.db');
    expect((await migrateStore({ from: url, to: back, batchSize: 2 })).ok).toBe(true);
    expect(sqliteRows(back)).toEqual(sqliteRows(src));
    const typed = (path: string) => {
      const d = new Database(path, { readonly: true });
      try {
        return d.prepare('SELECT id, typeof(cost_usd) AS t, typeof(input_tokens) AS i FROM ledger ORDER BY id').all();
      } finally {
        d.close();
      }
    };
    expect(typed(back)).toEqual(typed(src));
    const pids = (path: string) => {
      const d = new Database(path, { readonly: true });
      try {
        return d.prepare('SELECT CAST(lease_pid AS TEXT) FROM runs ORDER BY id').pluck().all();
      } finally {
        d.close();
      }
    };
    expect(pids(back)).toEqual(pids(src));
    expect(pids(src)).toContain('4611686018427387905');
  });

  it('U+0000 in text, which PostgreSQL cannot store, is written as U+FFFD (as the PostgreSQL store does), counted, and verifies equal', async () => {
    const dir = tempDir();
    const src = join(dir, 'nul.db');
    await createStore(src).close();
    const db = new Database(src);
    db.prepare(
      `INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, created_at, updated_at)
       VALUES ('r', 'n', '', 'wf.js', '', 'h', 'claude-code', 'null', '{}', 'completed', 1, 1)`,
    ).run();
    db.prepare("INSERT INTO events (run_id, ts, type, data_json) VALUES ('r', 1, ?, '{}')").run('bad\u0000type');
    db.close();
    const url = pgStoreUrl();
    const r = await cli(['store', 'migrate', '--from', src, '--to', url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 text value held U+0000, which PostgreSQL cannot store: written with U+FFFD in its place');
    const c = await pgClient(url);
    expect((await c.query('SELECT type FROM events')).rows).toEqual([{ type: 'bad\uFFFDtype' }]);
  });

  it('a row PostgreSQL refuses fails the copy with COPY_FAILED and leaves the target empty', async () => {
    const dir = tempDir();
    const src = join(dir, 'bad.db');
    await createStore(src).close();
    const db = new Database(src);
    db.prepare(
      `INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, created_at, updated_at)
       VALUES ('r', 'n', '', 'wf.js', '', 'h', 'claude-code', 'null', '{}', 'completed', 1, 1)`,
    ).run();
    // SQLite keeps text that does not look like a number in an INTEGER column; PostgreSQL's BIGINT refuses it.
    const insert = db.prepare("INSERT INTO events (run_id, ts, type, data_json) VALUES ('r', ?, 'log', '{}')");
    for (let i = 0; i < 10; i++) insert.run(i === 7 ? 'soon' : i);
    db.close();
    const url = pgStoreUrl();
    const r = await cli(['store', 'migrate', '--from', src, '--to', url, '--batch-size', '4', '--json']);
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'COPY_FAILED' } });
    expect(r.stderr).toMatch(/copying table events into .* failed: invalid input syntax for type bigint: "soon"; nothing was written/);
    // One transaction: the runs copied before events are gone too.
    expect(await pgCounts(url, ['runs', 'events'])).toEqual({ runs: 0, events: 0 });
  });
});

describe('drover store migrate refuses and touches nothing', () => {
  it('refuses a non-empty SQLite target (exit 2, TARGET_NOT_EMPTY naming the tables); the file is unchanged', async () => {
    const dir = tempDir();
    const target = join(dir, 'busy.db');
    const add = await cli(['tasks', 'add', 'keep me', '--store', target], { env: { DROVER_TASK_LIST: 'l' }, cwd: dir });
    expect(add.code, add.stderr).toBe(0);
    const before = sha(target);
    const r = await cli(['store', 'migrate', '--from', source.path, '--to', target, '--json']);
    expect(r.code).toBe(2);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'TARGET_NOT_EMPTY' } });
    expect(r.stderr).toMatch(/target store .*busy\.db is not empty: task_events \(1\), task_lists \(1\), tasks \(1\)/);
    expect(sha(target)).toBe(before);
    expect(sqliteCounts(target)).toMatchObject({ tasks: 1, runs: 0, spans: 0 });
  });

  it('refuses a non-empty PostgreSQL target; a second migrate into the same schema writes nothing', async () => {
    const url = pgStoreUrl();
    expect((await migrateStore({ from: source.path, to: url })).ok).toBe(true);
    const counts = await pgCounts(url, FILLED);
    const r = await cli(['store', 'migrate', '--from', source.path, '--to', url, '--json']);
    expect(r.code).toBe(2);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'TARGET_NOT_EMPTY' } });
    expect(r.stderr).toContain('runs (');
    expect(await pgCounts(url, FILLED)).toEqual(counts);
  });

  it('refuses the same store, a missing source and an unreachable server (exit 2), never printing a password', async () => {
    const same = await cli(['store', 'migrate', '--from', source.path, '--to', source.path, '--json']);
    expect([same.code, lastJson(same.stdout).error]).toMatchObject([2, { code: 'SAME_STORE' }]);
    const dir = tempDir();
    const missing = await cli(['store', 'migrate', '--from', join(dir, 'none.db'), '--to', join(dir, 'out.db'), '--json']);
    expect([missing.code, lastJson(missing.stdout).error]).toMatchObject([2, { code: 'NO_STORE' }]);
    expect(existsSync(join(dir, 'out.db'))).toBe(false);
    const down = await cli([
      'store',
      'migrate',
      '--from',
      source.path,
      '--to',
      'postgres://drover:s3cret-pw@127.0.0.1:1/postgres',
      '--json',
    ]);
    expect([down.code, lastJson(down.stdout).error]).toMatchObject([2, { code: 'STORE_UNREACHABLE' }]);
    expect(down.stderr).toContain('postgres://drover:***@127.0.0.1:1/postgres');
    expect(down.stdout + down.stderr).not.toContain('s3cret-pw');
  });

  it('prints a URL with its password redacted, in text and JSON', async () => {
    const url = pgStoreUrl().replace('://drover@', '://drover:s3cret-pw@');
    expect(url).toContain('s3cret-pw');
    const json = await cli(['store', 'migrate', '--from', source.path, '--to', url, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(lastJson(json.stdout).to).toMatch(/^postgres:\/\/drover:\*\*\*@/);
    const text = await cli(['store', 'verify', '--from', source.path, '--to', url]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('drover:***@');
    for (const r of [json, text]) expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
  });
});

describe('verification finds a table that differs', () => {
  it('a row changed in the target between copy and verify: migrate reports that table, and only it', async () => {
    const url = pgStoreUrl();
    const r = await migrateStore({
      from: source.path,
      to: url,
      beforeVerify: async () => {
        const c = await pgClient(url);
        await c.query('UPDATE ledger SET output_tokens = output_tokens + 1 WHERE id = (SELECT MIN(id) FROM ledger)');
      },
    });
    expect(r.ok).toBe(false);
    expect(r.mismatched).toEqual(['ledger']);
    const ledger = byTable(r).ledger;
    expect(ledger?.targetRows).toBe(ledger?.sourceRows);
    expect(ledger?.targetChecksum).not.toBe(ledger?.sourceChecksum);
  });

  it('drover store verify: a missing span and a changed text differ (exit 1 naming those tables); a number rewritten as text does not', async () => {
    const copy = join(tempDir(), 'copy.db');
    expect((await migrateStore({ from: source.path, to: copy })).ok).toBe(true);
    const db = new Database(copy);
    db.prepare('DELETE FROM spans WHERE id = (SELECT MAX(id) FROM spans)').run();
    // '12' in an INTEGER column of SQLite is stored as the integer 12: the same value, so no difference.
    db.prepare('UPDATE task_lists SET high_water = CAST(high_water AS TEXT)').run();
    // A text column holding the same digits as before but with a changed type is a different value.
    db.prepare("UPDATE runs SET status = status || ' ' WHERE id = ?").run(source.runId);
    db.close();
    const r = await cli(['store', 'verify', '--from', source.path, '--to', copy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/table runs, table spans differ between/);
    expect(r.stdout).toMatch(/spans\s+(\d+)\s+(\d+)\s+\S+ ≠ \S+\s+differs/);
    const json = await cli(['store', 'verify', '--from', source.path, '--to', copy, '--json']);
    expect(json.code).toBe(1);
    const report = lastJson(json.stdout) as unknown as StoreComparison;
    expect(report.mismatched).toEqual(['runs', 'spans']);
    expect((byTable(report).spans?.sourceRows ?? 0) - (byTable(report).spans?.targetRows ?? 0)).toBe(1);
  });

  it('verifyStores on equal stores of both kinds agrees', async () => {
    const url = pgStoreUrl();
    await migrateStore({ from: source.path, to: url });
    const r = await verifyStores({ from: url, to: source.path, batchSize: 2 });
    expect(r).toMatchObject({ ok: true, mismatched: [], fromKind: 'postgres', toKind: 'sqlite' });
  });
});

describe('checksum encoding', () => {
  it('normalises numbers whatever type the driver returns, and keeps NULL, empty and text apart', () => {
    expect(
      new Set([canonicalValue(5, 'int'), canonicalValue(5n, 'int'), canonicalValue('5', 'int'), canonicalValue(5.0, 'real')]).size,
    ).toBe(1);
    expect(canonicalValue(9007199254740993n, 'int')).toBe(canonicalValue('9007199254740993', 'int'));
    expect(canonicalValue(0.1, 'real')).toBe(canonicalValue('0.1', 'real'));
    expect(canonicalValue(0.1, 'real')).not.toBe(canonicalValue(0.1000001, 'real'));
    const distinct = [
      canonicalValue(null, 'text'),
      canonicalValue('', 'text'),
      canonicalValue('null', 'text'),
      canonicalValue('N', 'text'),
    ];
    expect(new Set(distinct).size).toBe(4);
  });
});

describe('drover doctor on a PostgreSQL store', () => {
  it('reports connection, server version and schema version; the password never printed', async () => {
    const url = pgStoreUrl();
    await migrateStore({ from: source.path, to: url });
    const withPassword = url.replace('://drover@', '://drover:s3cret-pw@');
    const text = await cli(['doctor', '--store', withPassword]);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(/store postgres:\/\/drover:\*\*\*@127\.0\.0\.1:\d+\/postgres\?schema=\w+: ok/);
    expect(text.stdout).toMatch(new RegExp(`schema version ${PG_SCHEMA_VERSION} \\(this drover: ${PG_SCHEMA_VERSION}\\)`));
    expect(text.stdout).toMatch(/serverVersion: \d+/);
    const json = await cli(['doctor', '--store', withPassword, '--json']);
    expect(lastJson(json.stdout).store).toMatchObject({ ok: true, kind: 'postgres', schemaVersion: PG_SCHEMA_VERSION, exists: true });
    for (const r of [text, json]) expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
  });

  it('a database without drover tables yet is "none yet", not a failure, and says how to move a store there', async () => {
    const url = pgStoreUrl();
    const r = await cli(['doctor', '--store', url, '--json']);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).store).toMatchObject({ exists: false, kind: 'postgres' });
    const text = await cli(['doctor', '--store', url]);
    expect(text.stdout).toContain(
      `: none yet (drover run or drover tasks add creates it)\n  to move an existing store here: drover store migrate --to '${url}'`,
    );
  });

  it('an unreachable server is a problem line and exit 1', async () => {
    const r = await cli(['doctor', '--store', 'postgres://drover:s3cret-pw@127.0.0.1:1/postgres']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/store postgres:\/\/drover:\*\*\*@127\.0\.0\.1:1\/postgres: problem/);
    expect(r.stdout).toMatch(/✗ cannot use postgres:\/\/drover:\*\*\*@127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/);
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
  });
});
