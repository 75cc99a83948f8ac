// A damaged store file (issue 10 §6): every command names the file and exits 7 with STORE_CORRUPT,
// a store known to be damaged is never written again (its bytes stay as they were), reads keep
// working where they can, and doctor marks the damage and clears the mark once a check is clean.
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, damageMarkPath, SQLITE_SCHEMA_VERSION, STORE_CORRUPT_EXIT_CODE, StoreCorruptError } from '../src/store/index.js';
import type { CallRecord } from '../src/store/types.js';
import { runWorkflow } from '../src/workflow/index.js';
import { bareRun, ccScript, cli, lastJson, tempDir, tempStore } from './helpers.js';

const PAGE = 4096;

/** A real store with one run of 2,000 finished calls (about 1.3 MB), closed (its WAL checked back in). */
async function bigStore(dir: string): Promise<string> {
  const path = join(dir, 'drover.db');
  const store = createStore(path);
  await bareRun(store, 'r1', dir);
  const calls: CallRecord[] = Array.from({ length: 2000 }, (_, i) => ({
    runId: 'r1',
    key: `k${i}`,
    kind: 'agent',
    label: `call ${i}`,
    phase: null,
    status: 'finished',
    inputs: { prompt: `${'p'.repeat(200)} ${i}` },
    result: `${'r'.repeat(300)} ${i}`,
    error: null,
    attempts: 1,
    startedAt: 1,
    finishedAt: 2,
    reusedFrom: null,
  }));
  await store.recordCalls(calls);
  await store.close();
  return path;
}

/** Overwrites `pages` pages in the middle of the file with garbage (a fixed byte pattern). */
function corruptMiddle(path: string, pages = 20): void {
  const size = readFileSync(path).length;
  const garbage = Buffer.alloc(pages * PAGE, 0);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
  const fd = openSync(path, 'r+');
  writeSync(fd, garbage, 0, garbage.length, Math.floor(size / 2 / PAGE) * PAGE);
  closeSync(fd);
}

const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every command that writes, refused with exit 7 naming the store, the file's bytes untouched. */
async function expectWritesRefused(dir: string, path: string): Promise<void> {
  const env = { DROVER_STORE: path };
  const before = digest(path);
  const script = ccScript(dir, 'return 1');
  for (const args of [
    ['run', script],
    ['run', script, '--run-id', 'fresh', '--json'],
    ['resume', 'r1'],
    ['tasks', 'add', 'Build api'],
    ['runs', 'prune', '--yes'],
    ['runs', 'prune', '--status', 'running', '--yes'],
    ['answer', 'r1', 'q1', 'yes'],
  ]) {
    const r = await cli(args, { cwd: dir, env });
    expect({ args, code: r.code }).toEqual({ args, code: STORE_CORRUPT_EXIT_CODE });
    expect(r.stderr).toContain(`store ${path} is marked damaged`);
    expect(r.stderr).toContain('drover doctor');
    expect(r.stderr).toContain('.recover');
    if (args.includes('--json')) expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'STORE_CORRUPT' } });
    expect(digest(path)).toBe(before);
  }
}

describe('a damaged store', () => {
  it('an operation that meets a damaged page names the file, exits 7 and marks it; later writes are refused, reads still work', async () => {
    const dir = tempDir();
    const path = await bigStore(dir);
    corruptMiddle(path);
    const env = { DROVER_STORE: path };
    // Before: `status` read the damaged calls and exited 70 with INTERNAL "database disk image is malformed".
    const status = await cli(['status', 'r1', '--json'], { cwd: dir, env });
    expect(status.code).toBe(7);
    expect(status.stderr).toContain(`store ${path} is damaged (database disk image is malformed)`);
    expect(lastJson(status.stdout)).toMatchObject({ error: { code: 'STORE_CORRUPT' } });
    expect(JSON.parse(readFileSync(damageMarkPath(path), 'utf8'))).toMatchObject({
      finding: 'database disk image is malformed',
      by: 'store.listCalls',
    });
    await expectWritesRefused(dir, path);
    // A read that does not touch the damaged pages still answers.
    const runs = await cli(['runs', '--json'], { cwd: dir, env });
    expect(runs.code).toBe(0);
    expect(JSON.parse(runs.stdout).map((r: { id: string }) => r.id)).toEqual(['r1']);
    expect((await cli(['tasks', 'list'], { cwd: dir, env })).code).toBe(0);
  });

  it('doctor on a store whose header is damaged says its schema version is unknown, and names this drover’s', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    await store.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(3000, 0xff), 0, 3000, 100);
    closeSync(fd);
    const doctor = await cli(['doctor', '--json'], { cwd: dir, env: { DROVER_STORE: path } });
    expect(doctor.code).toBe(1);
    expect(lastJson(doctor.stdout)).toMatchObject({
      store: { ok: false, schemaVersion: null, expectedSchemaVersion: SQLITE_SCHEMA_VERSION },
    });
    const text = await cli(['doctor'], { cwd: dir, env: { DROVER_STORE: path } });
    expect(text.stdout).toContain(`schema version unknown (the file could not be read) (this drover: ${SQLITE_SCHEMA_VERSION})`);
  });

  it('doctor marks a damaged store, writes are refused, and a clean check after a restore clears the mark', async () => {
    const dir = tempDir();
    const path = await bigStore(dir);
    const backup = join(dir, 'backup.db');
    copyFileSync(path, backup);
    corruptMiddle(path);
    const env = { DROVER_STORE: path };
    const doctor = await cli(['doctor', '--json'], { cwd: dir, env });
    expect(doctor.code).toBe(1);
    const report = lastJson(doctor.stdout) as { store: { ok: boolean; damage?: string; problems: string[] } };
    expect(report.store.ok).toBe(false);
    expect(report.store.damage).toMatch(/integrity check failed|malformed/);
    expect(existsSync(damageMarkPath(path))).toBe(true);
    expect((await cli(['doctor'], { cwd: dir, env })).stdout).toMatch(/damaged: commands that write refuse this store \(exit 7\)/);
    await expectWritesRefused(dir, path);
    copyFileSync(backup, path);
    // The mark outlives the restore until a check says the file is whole again.
    expect((await cli(['tasks', 'add', 'x'], { cwd: dir, env })).code).toBe(7);
    const clean = await cli(['doctor', '--json'], { cwd: dir, env });
    expect(clean.code).toBe(0);
    expect(lastJson(clean.stdout)).toMatchObject({ store: { ok: true } });
    expect(existsSync(damageMarkPath(path))).toBe(false);
    const added = await cli(['tasks', 'add', 'x'], { cwd: dir, env });
    expect(added.code).toBe(0);
  });

  it('a file that is not a database at all: exit 7 naming it, nothing written', async () => {
    const dir = tempDir();
    const path = await bigStore(dir);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(PAGE, 0x5a), 0, PAGE, 0); // the header page
    closeSync(fd);
    const before = digest(path);
    const r = await cli(['tasks', 'add', 'x', '--json'], { cwd: dir, env: { DROVER_STORE: path } });
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`store ${path} is damaged (file is not a database)`);
    expect(lastJson(r.stdout)).toMatchObject({ error: { code: 'STORE_CORRUPT' } });
    expect(digest(path)).toBe(before);
    expect((await cli(['resume', 'r1'], { cwd: dir, env: { DROVER_STORE: path } })).code).toBe(7);
    expect(digest(path)).toBe(before);
  });

  it('a damaged header byte (SQLite says "unsupported file format"): exit 7 naming the file, nothing written', async () => {
    const dir = tempDir();
    const path = await bigStore(dir);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0x40]), 0, 1, 47); // the schema-format number (found by the fuzz bench)
    closeSync(fd);
    const before = digest(path);
    for (const args of [['tasks', 'list'], ['tasks', 'add', 'x'], ['runs']]) {
      const r = await cli([...args, '--json'], { cwd: dir, env: { DROVER_STORE: path } });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(7);
      // The first command finds it and marks it; the others refuse on the mark.
      expect(r.stderr).toMatch(
        new RegExp(`store ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is (marked )?damaged \\(unsupported file format\\)`),
      );
    }
    expect(digest(path)).toBe(before);
  });

  it('in the library: the failing operation is StoreCorruptError, and the same store object refuses writes afterwards', async () => {
    const dir = tempDir();
    const path = await bigStore(dir);
    corruptMiddle(path);
    const store = createStore(path);
    try {
      const err = await store.listCalls('r1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreCorruptError);
      expect(err).toMatchObject({ code: 'STORE_CORRUPT', exitCode: 7, path });
      const before = digest(path);
      const write = await store.tasks.createTask('l', { subject: 's' }, { name: 't' }, Date.now()).catch((e: unknown) => e);
      expect(write).toMatchObject({ code: 'STORE_CORRUPT', message: expect.stringContaining('marked damaged') });
      const run = await store.updateRun('r1', { status: 'failed' }, Date.now()).catch((e: unknown) => e);
      expect(run).toBeInstanceOf(StoreCorruptError);
      expect(digest(path)).toBe(before);
      // Reads are still tried.
      expect((await store.getRun('r1'))?.id).toBe('r1');
    } finally {
      await store.close();
    }
    expect(() => createStore(path)).toThrow(StoreCorruptError);
    const reader = createStore(path, { access: 'read' });
    try {
      expect((await reader.listRuns()).map((r) => r.id)).toEqual(['r1']);
      await expect(reader.appendEvents([{ runId: 'r1', ts: 1, type: 'log', data: {} }])).rejects.toBeInstanceOf(StoreCorruptError);
    } finally {
      await reader.close();
    }
  });
});

describe('a store found damaged during a run', () => {
  it('ends the run with STORE_CORRUPT: a parallel item does not swallow it, and nothing after it runs', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    let injected = false;
    // The journal commit of the first finished sh meets a damaged page (as SQLite would report it).
    const faulty = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'recordCalls') return typeof value === 'function' ? value.bind(target) : value;
        return async (calls: CallRecord[], ...rest: unknown[]) => {
          if (!injected && calls.some((c) => c.kind === 'sh' && c.status === 'finished')) {
            injected = true;
            throw new StoreCorruptError(path, 'database disk image is malformed');
          }
          return (value as (...a: unknown[]) => Promise<void>).apply(target, [calls, ...rest]);
        };
      },
    });
    const script = ccScript(dir, "await parallel([() => sh('true'), () => sh('true && true')]);\nawait sh('touch after');\nreturn 1;");
    const summary = await runWorkflow({ store: faulty, workdir: dir, script });
    // (Here only that one commit failed, so the run's outcome could still be written.)
    expect(summary).toMatchObject({ status: 'failed', error: { code: 'STORE_CORRUPT' } });
    expect(summary.error?.message).toContain(`store ${path} is damaged`);
    expect(existsSync(join(dir, 'after'))).toBe(false);
  });
});
