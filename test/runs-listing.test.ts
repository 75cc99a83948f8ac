// Listing runs never reads their results (issue 10 §3): `drover runs` over runs with big results
// reads only the listing's columns. Proven without timing: the results' pages are overwritten with
// garbage, and the listing still answers, while reading one result does not.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { bareRun, cli, lastJson, tempDir } from './helpers.js';

const RESULT_CHARS = 2 * 1024 * 1024;

async function storeWithBigResults(dir: string, runs: number): Promise<string> {
  const path = join(dir, 'drover.db');
  const store = createStore(path);
  for (let i = 0; i < runs; i++) {
    await bareRun(store, `r${i}`, dir);
    await store.updateRun(
      `r${i}`,
      { status: 'completed', result: { text: 'é'.repeat(RESULT_CHARS / 2) }, finishedAt: Date.now() },
      Date.now(),
    );
  }
  await store.close();
  return path;
}

/** Overwrites every overflow page of the runs table (where the big results live) with 0xFF. */
function ruinResultPages(path: string): number {
  const db = new Database(path, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = (db.prepare("SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'overflow'").all() as { pageno: number }[]).map(
    (r) => r.pageno,
  );
  db.close();
  const fd = openSync(path, 'r+');
  const garbage = Buffer.alloc(pageSize, 0xff);
  for (const p of pages) writeSync(fd, garbage, 0, pageSize, (p - 1) * pageSize);
  closeSync(fd);
  return pages.length;
}

describe('listing runs reads no result', () => {
  it('drover runs (and runs prune) answer from the listing columns; the results are not read', async () => {
    const dir = tempDir();
    const path = await storeWithBigResults(dir, 5);
    // Each result is ~2 MB of JSON: hundreds of overflow pages per run.
    expect(ruinResultPages(path)).toBeGreaterThan(5 * 400);
    const env = { DROVER_STORE: path };
    const runs = await cli(['runs', '--json'], { cwd: dir, env });
    expect(runs.code, runs.stderr).toBe(0);
    const rows = JSON.parse(runs.stdout) as { id: string; status: string; resultBytes: number }[];
    expect(rows.map((r) => r.id)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
    // The size of the result's JSON text in UTF-8 bytes ({"text":"éé…"}: 2 bytes per é), read from the row header.
    expect(rows.map((r) => r.resultBytes)).toEqual(new Array(5).fill(RESULT_CHARS + '{"text":""}'.length));
    expect(rows.map((r) => r.status)).toEqual(new Array(5).fill('completed'));
    expect(runs.stdout.length).toBeLessThan(5_000);
    expect((await cli(['runs'], { cwd: dir, env })).stdout).toMatch(/^r4 {2}completed/);
    const prune = await cli(['runs', 'prune', '--status', 'completed', '--json'], { cwd: dir, env });
    expect(prune.code, prune.stderr).toBe(0);
    expect(lastJson(prune.stdout)).toEqual({ wouldDelete: ['r4', 'r3', 'r2', 'r1', 'r0'], live: [] });
    // The control: reading one result meets the ruined pages.
    const status = await cli(['status', 'r0', '--json'], { cwd: dir, env });
    expect(status.code).toBe(7);
    expect(lastJson(status.stdout)).toMatchObject({ error: { code: 'STORE_CORRUPT' } });
  });

  it('Store.listRuns gives listings: no script, args, result or error, the result size instead', async () => {
    const dir = tempDir();
    const path = await storeWithBigResults(dir, 2);
    const store = createStore(path);
    try {
      const listed = await store.listRuns({ status: 'completed' });
      expect(listed).toEqual([
        {
          id: 'r1',
          name: 'r1',
          description: 'a bare run for a store-level test',
          settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
          status: 'completed',
          createdAt: expect.any(Number),
          updatedAt: expect.any(Number),
          finishedAt: expect.any(Number),
          lease: null,
          resultBytes: RESULT_CHARS + 11,
        },
        {
          id: 'r0',
          name: 'r0',
          description: 'a bare run for a store-level test',
          settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
          status: 'completed',
          createdAt: expect.any(Number),
          updatedAt: expect.any(Number),
          finishedAt: expect.any(Number),
          lease: null,
          resultBytes: RESULT_CHARS + 11,
        },
      ]);
      await bareRun(store, 'fresh', dir);
      expect((await store.listRuns({ limit: 1 }))[0]).toMatchObject({ id: 'fresh', status: 'running', resultBytes: 0 });
    } finally {
      await store.close();
    }
  });
});
