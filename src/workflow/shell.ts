import { spawn } from 'node:child_process';
import { childEnv } from '../core/index.js';
import { type SandboxSpec, sandboxCommand } from '../sandbox/index.js';

export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ShellOptions {
  cwd: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /** When enabled, the command runs inside bubblewrap (src/sandbox); refused when it cannot be. */
  sandbox?: SandboxSpec;
}

const DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024;

/**
 * Runs `command` with /bin/sh in its own process group, so a timeout or abort
 * ends the whole tree. A timeout exits 124 (as timeout(1) does). With an enabled
 * `sandbox`, /bin/sh runs inside bubblewrap (a timeout or abort kills bwrap, whose
 * pid namespace then ends every process inside).
 * @throws SandboxError (`SANDBOX_UNAVAILABLE`, `SANDBOX_INVALID`) when the spec asks for a sandbox
 *   that cannot be made: the command is not run
 */
export async function runShell(command: string, options: ShellOptions): Promise<ShellResult> {
  const argv = ['/bin/sh', '-c', command];
  const { file, args } = options.sandbox?.enabled
    ? await sandboxCommand(options.sandbox, argv, options.cwd)
    : { file: '/bin/sh', args: argv.slice(1) };
  return spawnShell(file, args, options);
}

function spawnShell(file: string, args: string[], options: ShellOptions): Promise<ShellResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      // One rule for every process drover starts (sh steps and the builtin agent's bash tool): see childEnv.
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    let truncated = false;
    let timedOut = false;
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      if (outSize < max) out.push(d);
      else truncated = true;
      outSize += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errSize < max) err.push(d);
      else truncated = true;
      errSize += d.length;
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs)
      : undefined;
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      let stderr = Buffer.concat(err).toString('utf8').slice(0, max);
      if (timedOut) stderr += `\n[drover] command timed out after ${options.timeoutMs} ms`;
      if (truncated) stderr += `\n[drover] output truncated at ${max} bytes`;
      resolve({
        exitCode: timedOut ? 124 : (code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : 1)),
        stdout: Buffer.concat(out).toString('utf8').slice(0, max),
        stderr,
      });
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[signal];
}
