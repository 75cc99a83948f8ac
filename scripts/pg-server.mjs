// A throwaway PostgreSQL server for tests and benchmarks: initdb into a temporary folder, start
// `postgres` on 127.0.0.1 at a free port, and remove everything on stop. It uses the server
// binaries of Debian's `postgresql` package (found by pg_config, /usr/lib/postgresql/*/bin or
// PATH; `.ci/run` installs it). As root, PostgreSQL refuses to run, so the server runs as the
// `postgres` user the package creates.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The folder holding initdb and postgres, or null when no PostgreSQL server is installed. */
export function findPgBin() {
  if (process.env.DROVER_PG_BIN) return process.env.DROVER_PG_BIN;
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {}
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** spawn options that run a command as the `postgres` user when we are root. */
function asPostgres(uid) {
  if (uid !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts a server. Resolves `{ url, port, dir, stop() }`; `url` names the `postgres` database as the
 * superuser `drover` (trust auth on loopback only). `options.durable` keeps fsync on (benchmarks of
 * commit costs); tests turn it off.
 */
export async function startPgServer(options = {}) {
  const bin = findPgBin();
  if (!bin) throw new Error('no PostgreSQL server binaries found (install Debian package postgresql, or set DROVER_PG_BIN)');
  const uid = process.getuid?.() ?? 1000;
  const dir = mkdtempSync(join(tmpdir(), 'drover-pg-'));
  const data = join(dir, 'data');
  const user = asPostgres(uid);
  if (user.uid !== undefined) {
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'drover', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    stdio: 'pipe',
    ...user,
  });
  const port = options.port ?? (await freePort());
  const settings = [
    '-h', '127.0.0.1', '-p', String(port), '-k', dir,
    '-c', `max_connections=${options.maxConnections ?? 300}`,
    '-c', 'shared_buffers=64MB',
    ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  const child = spawn(join(bin, 'postgres'), ['-D', data, ...settings], { stdio: ['ignore', 'ignore', 'pipe'], ...user });
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
  });
  await new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`postgres exited (${code}) before it was ready:\n${log}`));
    child.once('exit', onExit);
    const check = () => {
      if (/ready to accept connections/.test(log)) {
        child.off('exit', onExit);
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve();
      }
    };
    child.stderr.on('data', check);
  });
  const url = `postgres://drover@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    url,
    port,
    dir,
    pid: child.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        // SIGQUIT: immediate shutdown, the data folder is thrown away anyway.
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
