// `drover store migrate` on a big store (issue 15): an SQLite store with SPANS spans (OTLP-shaped rows,
// ~600 bytes of attributes each), SPANS/5 ledger rows and SPANS/20 events, copied SQLite → PostgreSQL →
// SQLite by the CLI, verification included. Run by itself: `npm run build && node bench/store-migrate.mjs [spans]`
// (default 200,000). Prints rows/s of each hop and the copy's peak RSS.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createStore } from '../dist/index.js';
import { startPgServer } from '../scripts/pg-server.mjs';
import { CLI, run, tempDir } from './lib.mjs';

const SPANS = Number(process.argv[2] ?? 200_000);

/** Fills a new store at `path`; returns its row count. */
export async function fill(path, spans = SPANS) {
  await createStore(path).close();
  const db = new Database(path);
  const now = Date.now();
  db.prepare(
    `INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, created_at, updated_at)
     VALUES ('big', 'big', '', 'wf.js', '', '', 'claude-code', 'null', '{}', 'completed', ?, ?)`,
  ).run(now, now);
  const span = db.prepare(
    `INSERT INTO spans (trace_key, trace_id, span_id, parent_span_id, name, kind, service, scope, start_us, end_us, status_code, run_id, attributes_json, resource_json)
     VALUES (?, ?, ?, ?, ?, 1, 'drover', 'drover', ?, ?, 0, 'big', ?, '{"service.name":"drover"}')`,
  );
  const ledger = db.prepare(
    `INSERT INTO ledger (run_id, call_key, provider, wire, mode, model, status, input_tokens, cache_read_tokens, cache_write_5m_tokens,
       cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_usd, price_flag, started_at, ended_at)
     VALUES ('big', ?, 'anthropic', 'anthropic', 'sim', 'claude-sonnet-4-5', 200, ?, 0, 0, 0, ?, 0, ?, 'priced', ?, ?)`,
  );
  const event = db.prepare("INSERT INTO events (run_id, ts, type, data_json) VALUES ('big', ?, 'log', ?)");
  const attrs = JSON.stringify({ 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'claude-sonnet-4-5', prompt: 'p'.repeat(480) });
  db.transaction(() => {
    for (let i = 0; i < spans; i++) {
      const t = (now + i) * 1000;
      span.run(i >> 4, `trace${i >> 4}`, `span${i}`, i % 16 ? `span${i - 1}` : null, `chat ${i % 7}`, t, t + 500, attrs);
      if (i % 5 === 0) ledger.run(`agent:${i}`, 1000 + (i % 97), 50 + (i % 13), (i % 1000) / 7919, now + i, now + i + 30);
      if (i % 20 === 0) event.run(now + i, JSON.stringify({ message: `event ${i}` }));
    }
  })();
  db.close();
  return Math.floor(spans + spans / 5 + spans / 20 + 1);
}

async function hop(from, to) {
  const t = performance.now();
  const r = await run('/usr/bin/time', ['-f', '%M', process.execPath, CLI, 'store', 'migrate', '--from', from, '--to', to, '--json']);
  const ms = performance.now() - t;
  if (r.code !== 0) throw new Error(`migrate failed (${r.code}): ${r.stderr}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  const rssKb = Number(r.stderr.trim().split('\n').pop());
  return { ms, report, rssMb: rssKb / 1024 };
}

export async function benchStoreMigrate() {
  const dir = tempDir();
  const pg = await startPgServer();
  try {
    const src = join(dir, 'src.db');
    const rows = await fill(src);
    const url = `${pg.url}?schema=bench_migrate`;
    const there = await hop(src, url);
    const back = await hop(url, join(dir, 'back.db'));
    const line = (name, h) =>
      `${name}: ${h.report.rows.toLocaleString('en-US')} rows in ${(h.ms / 1000).toFixed(1)} s (${Math.round(h.report.rows / (h.ms / 1000)).toLocaleString('en-US')} rows/s, copy + verify, whole process), peak RSS ${Math.round(h.rssMb)} MB, ok=${h.report.ok}`;
    console.log(`store with ${rows.toLocaleString('en-US')} rows (${SPANS.toLocaleString('en-US')} spans)`);
    console.log(line('SQLite → PostgreSQL', there));
    console.log(line('PostgreSQL → SQLite', back));
    return { rows, sqliteToPg: there, pgToSqlite: back };
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStoreMigrate();
