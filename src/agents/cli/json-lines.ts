import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CliRunOptions {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Called with each parsed JSON line of stdout; non-JSON lines go to `onText`. */
  onJson(value: Record<string, unknown>): void;
  onText?(line: string): void;
}

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process could not be started (ENOENT, EACCES). */
  spawnError?: NodeJS.ErrnoException;
  stderrTail: string;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

const STDERR_TAIL = 4000;

/**
 * Runs an agent CLI with stdin closed, reading JSON Lines from stdout as they
 * come. The process gets its own group so a timeout or abort ends its children too.
 */
export function runJsonLines(o: CliRunOptions): Promise<CliExit> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(o.command, o.args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    let aborted = false;
    let settled = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL);
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const trimmed = line.trim();
      if (!trimmed) return;
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch {
        o.onText?.(trimmed);
        return;
      }
      if (value && typeof value === 'object' && !Array.isArray(value)) o.onJson(value as Record<string, unknown>);
    });
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* gone */
      }
    };
    const stop = () => {
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 3000).unref();
    };
    const timer = o.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, o.timeoutMs)
      : undefined;
    const onAbort = () => {
      aborted = true;
      stop();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (exit: Omit<CliExit, 'stderrTail' | 'timedOut' | 'aborted' | 'durationMs'>) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      resolve({ ...exit, stderrTail: stderr.trim(), timedOut, aborted, durationMs: Date.now() - started });
    };
    child.on('error', (err: NodeJS.ErrnoException) => finish({ code: null, signal: null, spawnError: err }));
    // 'close' waits for stdout to drain, so every line has been read.
    child.on('close', (code, signal) => finish({ code, signal }));
  });
}
