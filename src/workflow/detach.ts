/**
 * @module `drover resume <run> --detach` and the dashboard's resume button: the run's driver as a
 * detached child process (its own session, stdin closed, stdout and stderr appended to
 * `<store folder>/logs/<run>.log`, or `.drover/logs/<run>.log` under the working directory for a
 * PostgreSQL store), so it outlives the command or page that started it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError, NotFoundError, RunLeaseError } from '../core/index.js';
import { isPostgresUrl, type Store } from '../store/index.js';
import { runState } from './inspect.js';

/** The built CLI this module ships with (dist/cli/main.js). */
const CLI_MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** A detached driver that started. */
export interface DetachedDriver {
  runId: string;
  /** The child's process id. */
  pid: number;
  /** Where its output goes (absolute path). */
  log: string;
  /** `driving`: it holds the run's lease; `finished`: it already ended (exit 0 or 4, a run with nothing left to do). */
  state: 'driving' | 'finished';
}

/** The detached driver exited before it held the run (bad flags, a busy run...). Code `DETACHED_FAILED`, the child's exit code. */
export class DetachedStartError extends DroverError {
  constructor(message: string, exitCode: number) {
    super('DETACHED_FAILED', message, { exitCode });
  }
}

export interface DetachOptions {
  store: Store;
  runId: string;
  /** The CLI arguments of the child (`resume <run> ...`), without `--detach`; the store is added. */
  argv: string[];
  /**
   * The store as configured, password included (default: `store.location`, which has any password
   * redacted). A PostgreSQL URL reaches the child in its environment (DROVER_STORE), never in its
   * arguments, which other users of the machine can list.
   */
  storeLocation?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Longest wait for the child to hold the run's lease, ms (default 60000): then its pid is returned anyway. */
  waitMs?: number;
}

/**
 * The log file of a run's detached drivers: `<store folder>/logs/<run>.log`; for a PostgreSQL store
 * (no folder) `<cwd>/.drover/logs/<run>.log`.
 */
export function detachedLogPath(storeLocation: string, runId: string, cwd = process.cwd()): string {
  const folder = isPostgresUrl(storeLocation) ? resolve(cwd, '.drover') : dirname(resolve(storeLocation));
  return join(folder, 'logs', `${runId.replace(/[^\w.@-]/g, '_')}.log`);
}

/**
 * Starts `drover <argv>` detached and returns once it drives the run (its pid holds the lease) or
 * has finished. Refused before anything starts when the run is unknown (NotFoundError, exit 2) or
 * another process drives it (RunLeaseError, `RUN_BUSY`, exit 5).
 * @throws DetachedStartError when the child exits with a failure before it holds the run (the log's last lines in the message)
 */
export async function startDetached(options: DetachOptions): Promise<DetachedDriver> {
  const { store, runId } = options;
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  if (runState(run) === 'running' && run.lease) {
    throw new RunLeaseError(
      `run ${runId} is being driven by pid ${run.lease.pid} on ${run.lease.host}; stop it first (drover stop ${runId})`,
    );
  }
  if (store.location === ':memory:')
    throw new DroverError('NO_STORE_FILE', 'a detached driver needs a store file, not :memory:', { exitCode: 2 });
  const location = options.storeLocation ?? store.location;
  const cwd = options.cwd ?? process.cwd();
  const onPostgres = isPostgresUrl(location);
  const log = detachedLogPath(location, runId, cwd);
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'a');
  const main = existsSync(CLI_MAIN) ? CLI_MAIN : (process.argv[1] ?? CLI_MAIN);
  const args = [main, ...options.argv, ...(onPostgres ? [] : ['--store', resolve(location)])];
  writeSync(fd, `\n--- ${new Date().toISOString()} drover ${options.argv.join(' ')}\n`);
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...(options.env ?? process.env), ...(onPostgres ? { DROVER_STORE: location } : {}), CI: '1' },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number>((done) => child.once('exit', (code, signal) => done(code ?? (signal ? 128 : 1))));
  child.once('error', () => {});
  const pid = child.pid;
  if (pid === undefined) throw new DetachedStartError(`could not start ${process.execPath}: see ${log}`, 1);
  try {
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    let code: number | undefined;
    void exited.then((c) => {
      code = c;
    });
    for (;;) {
      if (code !== undefined) {
        if (code === 0 || code === 4) return { runId, pid, log, state: 'finished' };
        throw new DetachedStartError(`the detached driver exited ${code}: ${tail(log)}`, code);
      }
      const now = await store.getRun(runId);
      if (now?.lease?.pid === pid) return { runId, pid, log, state: 'driving' };
      if (Date.now() > deadline) return { runId, pid, log, state: 'driving' };
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.unref();
  }
}

/** The last lines of a log, for an error message. */
function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}
