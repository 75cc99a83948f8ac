import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, inject } from 'vitest';
import { parseScenario } from '../src/gateway/scenario.js';
import { type RunningGateway, startSimGateway } from '../src/gateway/sim-server.js';
import { createStore } from '../src/store/index.js';
import type { RunRecord, Store } from '../src/store/types.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

export function tempDir(prefix = 'drover-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function write(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

export async function gateway(yaml: string): Promise<RunningGateway> {
  const gw = await startSimGateway({ scenario: parseScenario(yaml, 'test-scenario.yaml') });
  onCleanup(() => gw.close());
  return gw;
}

let schemas = 0;
/**
 * A URL of a fresh, empty schema on the test run's PostgreSQL server (test/pg-global.ts): every
 * call names a new schema, so tests never see each other's rows.
 */
export function pgStoreUrl(): string {
  const schema = `t${process.pid}_${++schemas}_${Math.random().toString(36).slice(2, 8)}`;
  return `${inject('pgUrl')}?schema=${schema}`;
}

/** True when this test file runs in the PostgreSQL conformance project (vitest.config.ts). */
export const ON_POSTGRES = process.env.DROVER_TEST_STORE === 'postgres';

/**
 * A new store: an SQLite file in `dir`, or — in the PostgreSQL conformance project — a fresh schema
 * on the test server. `path` is what `--store` takes for either.
 */
export function tempStore(dir = tempDir()): { store: Store; path: string } {
  const path = ON_POSTGRES ? pgStoreUrl() : join(dir, 'drover.db');
  const store = createStore(path);
  onCleanup(() => store.close());
  return { store, path };
}

/** Fast retries for tests; real runs keep the default backoff. */
export const FAST_BACKOFF = { baseDelayMs: 5, maxDelayMs: 20 };

/** A Claude-Code-format script from a body. */
export function ccScript(dir: string, body: string, name = 'wf.js', metaName = 'test-workflow'): string {
  return write(dir, name, `export const meta = { name: '${metaName}', description: 'a test workflow' };\n${body}\n`);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string);
}

export function spawnCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): ChildProcess & { done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, CI: '1', NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolveDone) => {
    child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr }));
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return Object.assign(child, { done });
}

export function cli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return spawnCli(args, options).done;
}

/** Starts `drover gateway --mode sim` as its own process and returns its URL. */
export async function gatewayProcess(
  scenarioFile: string,
): Promise<{ url: string; stats(): Promise<{ requests: number; log: { prompt: string; status: number }[] }> }> {
  // Its ledger goes to a store of its own, never to one in the working directory.
  const child = spawnCli(['gateway', '--mode', 'sim', '--scenario', scenarioFile, '--port', '0', '--json'], {
    env: { DROVER_STORE: join(tempDir('drover-gw-store-'), 'drover.db') },
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buf = '';
    child.stdout?.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolveUrl(JSON.parse(line).url);
    });
    child.done.then((r) => reject(new Error(`gateway exited: ${r.stderr}`)));
  });
  return {
    url,
    stats: async () =>
      (await fetch(`${url}/_drover/stats?log=1`)).json() as Promise<{ requests: number; log: { prompt: string; status: number }[] }>,
  };
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');

/** Runs the real claude CLI offline against a gateway; async so an in-process gateway keeps answering. */
export function runClaude(
  args: string[],
  options: { gatewayUrl: string; home: string; cwd?: string; env?: Record<string, string> },
): Promise<{ status: number | null; stdout: string; stderr: string; lines: Record<string, unknown>[] }> {
  return new Promise((resolveRun) => {
    const child = spawn(CLAUDE, ['--output-format', 'stream-json', '--verbose', ...args], {
      cwd: options.cwd ?? options.home,
      env: {
        ...process.env,
        HOME: options.home,
        ANTHROPIC_BASE_URL: options.gatewayUrl,
        ANTHROPIC_API_KEY: 'sim',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      const lines = stdout
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolveRun({ status, stdout, stderr, lines });
    });
  });
}

/** A bare run row (no script behind it) for store-level tests: leases, fencing, states. */
export async function bareRun(store: Store, id: string, dir: string): Promise<RunRecord> {
  return store.createRun(
    {
      id,
      name: id,
      description: 'a bare run for a store-level test',
      scriptPath: join(dir, 'wf.js'),
      scriptSource: '',
      scriptHash: '',
      scriptForm: 'claude-code',
      args: null,
      settings: { backend: 'builtin', model: 'm', concurrency: 1, maxAgents: 1 },
      fromRunId: null,
    },
    Date.now(),
  );
}
