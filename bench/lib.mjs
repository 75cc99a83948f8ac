import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export function tempDir(prefix = 'drover-bench-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Instant answers with fixed usage, so the gateway costs the same for every client. */
export const INSTANT_SCENARIO = `
rules:
  - name: instant
    usage: { input_tokens: 20, output_tokens: 5 }
    turns: [{ text: ok }]
`;

/** `drover gateway --mode sim` in its own process (its CPU is not charged to the client). */
export async function startGatewayProcess(dir, scenario = INSTANT_SCENARIO) {
  const file = join(dir, 'scenario.yaml');
  writeFileSync(file, scenario);
  const child = spawn(process.execPath, [CLI, 'gateway', '--mode', 'sim', '--scenario', file, '--port', '0', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its ledger goes to a store of its own, not one in the working directory.
    env: { ...process.env, DROVER_STORE: join(dir, 'gateway.db') },
  });
  const url = await new Promise((res, rej) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) res(JSON.parse(buf.split('\n')[0]).url);
    });
    child.on('exit', (code) => rej(new Error(`gateway exited ${code}`)));
  });
  return {
    url,
    pid: child.pid,
    stats: async () => (await fetch(`${url}/_drover/stats`)).json(),
    reset: () => fetch(`${url}/_drover/reset`, { method: 'POST' }),
    stop: () => child.kill('SIGTERM'),
  };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values) {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function run(cmd, args, env = {}) {
  return new Promise((res) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}
