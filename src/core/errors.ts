/**
 * Every error drover raises on purpose is a DroverError with a stable `code`,
 * so the CLI can map it to an exit code and tools can match on it.
 */
export class DroverError extends Error {
  readonly code: string;
  /** Exit code the CLI uses when this error ends a command. */
  readonly exitCode: number;
  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad input from outside: CLI flags, files, scripts, HTTP bodies. Exit code 2. */
export class InputError extends DroverError {
  constructor(message: string, code = 'INVALID_INPUT') {
    super(code, message, { exitCode: 2 });
  }
}

export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/**
 * A syntax or runtime error inside a workflow script, with where it happened. Thrown by itself
 * only when a script does not load — before any run exists — so its exit code is 2 (bad input);
 * a run that fails at runtime exits 1 from its summary.
 */
export class ScriptError extends DroverError {
  readonly position: SourcePosition | undefined;
  constructor(message: string, position?: SourcePosition, code = 'SCRIPT_ERROR') {
    super(code, position ? `${position.file}:${position.line}:${position.column}: ${message}` : message, {
      exitCode: 2,
    });
    this.position = position;
  }
}

/** Another live process is driving the run. Exit code 5. */
export class RunLeaseError extends DroverError {
  constructor(message: string) {
    super('RUN_BUSY', message, { exitCode: 5 });
  }
}

/**
 * A write by a driver that no longer holds the run's lease (another process took the run over):
 * refused in the same transaction that would have written. Code `LEASE_LOST`, exit code 5.
 */
export class LeaseLostError extends DroverError {
  constructor(runId: string) {
    super('LEASE_LOST', `run ${runId}: this process lost the run's lease to another driver; its writes are refused`, { exitCode: 5 });
  }
}

export class NotFoundError extends DroverError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`, { exitCode: 2 });
  }
}

/** A limit of the workflow runtime was hit (agent backstop, items per call, budget). */
export class WorkflowLimitError extends DroverError {}

/**
 * Exit code of an internal error: a bug in drover, not a failed run or assertion (1) nor bad
 * input (2). 70 is `EX_SOFTWARE` of BSD sysexits(3).
 */
export const INTERNAL_EXIT_CODE = 70;

/**
 * Something went wrong inside drover itself (an exception no code path expected). Exit code 70
 * (`INTERNAL_EXIT_CODE`), never 1, which for `drover assert` means "an assertion failed".
 * `code` is `INTERNAL`; `cause` keeps the original error (its stack is printed with DROVER_DEBUG=1).
 */
export class InternalError extends DroverError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { exitCode: INTERNAL_EXIT_CODE, cause });
  }
}

/** Errors thrown inside a script's V8 context are not `instanceof Error` here; this checks by shape. */
export function isErrorLike(err: unknown): err is { name: string; message: string; stack?: string } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { message?: unknown }).message === 'string' &&
    typeof (err as { name?: unknown }).name === 'string'
  );
}

export function errorMessage(err: unknown): string {
  return isErrorLike(err) ? err.message : String(err);
}
