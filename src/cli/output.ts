import { DroverError, INTERNAL_EXIT_CODE, InternalError, ScriptError } from '../core/errors.js';
import { stringifyJson } from '../core/json.js';

const useColor = () => process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';

export const color = {
  red: (s: string) => (useColor() ? `\x1b[31m${s}\x1b[0m` : s),
  green: (s: string) => (useColor() ? `\x1b[32m${s}\x1b[0m` : s),
  yellow: (s: string) => (useColor() ? `\x1b[33m${s}\x1b[0m` : s),
  dim: (s: string) => (useColor() ? `\x1b[2m${s}\x1b[0m` : s),
  bold: (s: string) => (useColor() ? `\x1b[1m${s}\x1b[0m` : s),
};

export function printJson(value: unknown): void {
  process.stdout.write(`${stringifyJson(value)}\n`); // any depth: a span tree of a deep chain
}

/**
 * Exit codes (docs/cli.md): 0 ok, 1 run failed, 2 bad input (flag errors too), 3 nothing ready to claim,
 * 4 waiting for an answer, 5 run busy, 6 task conflict, 7 store damaged (`StoreCorruptError`),
 * 8 a promotion gate refused (`drover workflows promote`),
 * 70 internal error (`fail`), 130 interrupted.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  input: 2,
  nothingReady: 3,
  waiting: 4,
  busy: 5,
  conflict: 6,
  storeCorrupt: 7,
  gateRefused: 8,
  interrupted: 130,
} as const;

/** Node's errors from the system or argument checks: `code` ERR_SOCKET_BAD_PORT, EADDRINUSE, ENOENT... with a syscall. */
function isSystemError(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return (
    typeof e?.code === 'string' &&
    (typeof e.syscall === 'string' || ['ERR_SOCKET_BAD_PORT', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_VALUE'].includes(e.code))
  );
}

export function fail(err: unknown, json: boolean): never {
  // Anything not raised on purpose is a bug in drover: exit 70, never 1 (a failed run or assertion).
  // What the system refused (a port in use, a path that cannot be written, a host that does not
  // resolve, a port out of range) is the user's input or environment: exit 2, not a drover bug.
  const system = !(err instanceof DroverError) && isSystemError(err);
  const code = err instanceof DroverError ? err.exitCode : system ? 2 : INTERNAL_EXIT_CODE;
  const errorCode = err instanceof DroverError ? err.code : system ? (err as { code: string }).code : 'INTERNAL';
  const raw = err instanceof Error ? err.message : String(err);
  const message = err instanceof DroverError || system ? raw : `internal error (DROVER_DEBUG=1 prints the stack): ${raw}`;
  const position = err instanceof ScriptError && err.position ? err.position : {};
  if (json) printJson({ error: { code: errorCode, message, ...position } });
  process.stderr.write(`${color.red('error')}: ${message}\n`);
  const bug = err instanceof InternalError ? err.cause : err instanceof DroverError ? undefined : err;
  if (process.env.DROVER_DEBUG && bug instanceof Error) process.stderr.write(`${bug.stack}\n`);
  process.exit(code);
}

export function formatTokens(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${(ms / 1000).toFixed(1)}s`;
}
