/**
 * Store locations that cannot be used: each gives one clear error naming the store (never its
 * password), a non-zero exit, and creates nothing. Against the test run's PostgreSQL server and a
 * closed port on 127.0.0.1.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { cli, lastJson, tempDir } from './helpers.js';

const SECRET = 'pw-Kq93zT7';

describe('store URLs that cannot be used', () => {
  it('a server nobody listens on: STORE_UNREACHABLE, exit 2, the store named with its password masked', async () => {
    const dir = tempDir();
    const url = `postgres://drover:${SECRET}@127.0.0.1:1/postgres`;
    for (const args of [['runs'], ['runs', '--json'], ['tasks', 'add', 'x'], ['worker', '--once']]) {
      const r = await cli(['--store', url, ...args], { cwd: dir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stderr).toContain('postgres://drover:***@127.0.0.1:1/postgres');
      expect(r.stderr).toMatch(/STORE_UNREACHABLE|cannot use store/);
      expect(r.stderr).toContain('is the server running');
    }
    const json = await cli(['--store', url, 'runs', '--json'], { cwd: dir });
    expect(lastJson(json.stdout)).toMatchObject({ error: { code: 'STORE_UNREACHABLE' } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a database the server does not have: STORE_UNREACHABLE naming it', async () => {
    const dir = tempDir();
    const url = inject('pgUrl').replace(/\/postgres$/, '/no_such_db');
    const r = await cli(['--store', url, 'runs'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('database "no_such_db" does not exist');
  });

  it('a mistyped scheme or a malformed URL is refused, never made into a file', async () => {
    const dir = tempDir();
    const typo = await cli(['--store', 'postgress://drover@127.0.0.1:5432/postgres', 'tasks', 'add', 'hello'], { cwd: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('"postgress://" is not a store drover can use');
    const bad = await cli(['--store', 'postgres://drover@/postgres', 'runs'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a valid URL');
    const port = await cli(['--store', 'postgres://drover@127.0.0.1:99999/postgres', 'runs', '--json'], { cwd: dir });
    expect(port.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(dir, 'postgress:'))).toBe(false);
    expect(lastJson(port.stdout)).toMatchObject({ error: { code: 'BAD_STORE' } });
    // A mistyped parameter would be ignored by node-postgres (the runs would land in `public`): refused, naming it.
    const param = await cli(['--store', 'postgres://drover:pw@127.0.0.1:5432/postgres?shema=team_a', 'runs'], { cwd: dir });
    expect(param.code).toBe(2);
    expect(param.stderr).toContain('unknown parameter "shema" (drover takes schema;');
    expect(param.stderr).not.toContain(':pw@');
  });
});
