import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { splitSchema } from '../src/store/postgres/db.js';
import { PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { onCleanup, pgStoreUrl, tempDir } from './helpers.js';

/**
 * Stores written before refusals had a column of their own: on upgrade, a 402 with no answer and
 * no tokens is marked a cap refusal (no provider answers 402); a 403 may be the provider's, so it
 * stays a request that was sent.
 */
const OLD_ROWS: [status: number, requestId: string | null, outputTokens: number, ttfbMs: number | null][] = [
  [200, 'msg_1', 10, 150],
  [402, null, 0, null],
  [402, null, 5, null],
  // An upstream's own 402 (OpenRouter's "insufficient credits"; quota.ts reads 402 as a provider
  // status) was answered, so its row has a time to first byte; a refusal never has one.
  [402, null, 0, 180],
  [403, null, 0, null],
];
const EXPECTED = [
  [200, null],
  [402, 'budget'],
  [402, null],
  [402, null],
  [403, null],
];
const INSERT = `INSERT INTO ledger (run_id, provider, wire, mode, model, request_id, status, input_tokens, cache_read_tokens,
  cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, cost_usd, price_flag, started_at, ended_at, ttfb_ms)
  VALUES ('old', 'anthropic', 'anthropic', 'proxy', 'claude-sonnet-5', $1, $2, 0, 0, 0, 0, $3, 0, 0, 'priced', 1, 2, $4)`;

describe('upgrading a store from before refusals were marked', () => {
  it('SQLite (schema 14 → 15)', async () => {
    const path = join(tempDir(), 'old.db');
    const db = new Database(path);
    for (const sql of SQLITE_MIGRATIONS.slice(0, 14)) db.exec(sql);
    db.pragma('user_version = 14');
    for (const [status, requestId, out, ttfb] of OLD_ROWS) db.prepare(INSERT.replace(/\$\d/g, '?')).run(requestId, status, out, ttfb);
    db.close();
    const store = createStore(path);
    onCleanup(() => store.close());
    const rows = await store.ledger.listByRun('old');
    expect(rows.map((r) => [r.status, r.refusedBy])).toEqual(EXPECTED);
    expect((await store.ledger.sumsByRun('old', 'model'))[0]).toMatchObject({ requests: 5, refusedRequests: 1 });
  });

  it('PostgreSQL (schema 1 → 2)', async () => {
    const url = pgStoreUrl();
    const { url: server, schema } = splitSchema(url);
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
      await client.query(PG_MIGRATIONS[0] as string);
      await client.query('CREATE TABLE drover_schema (version BIGINT NOT NULL); INSERT INTO drover_schema VALUES (1)');
      for (const [status, requestId, out, ttfb] of OLD_ROWS) await client.query(INSERT, [requestId, status, out, ttfb]);
    } finally {
      await client.end();
    }
    const store = createStore(url);
    onCleanup(() => store.close());
    const rows = await store.ledger.listByRun('old');
    expect(rows.map((r) => [r.status, r.refusedBy])).toEqual(EXPECTED);
    expect((await store.ledger.sumsByRun('old', 'model'))[0]).toMatchObject({ requests: 5, refusedRequests: 1 });
  });
});
