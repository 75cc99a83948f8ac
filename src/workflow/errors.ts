/** @module Errors a workflow script sees from drover's globals. */
import { DroverError, LeaseLostError } from '../core/index.js';

/** Raised inside the script when the run is stopped (Ctrl-C, lost lease). Code `INTERRUPTED`. */
export class RunAbortedError extends DroverError {
  constructor(reason: string) {
    super('INTERRUPTED', reason);
  }
}

/** A script passed something a global does not accept. Code `BAD_CALL`. */
export class ScriptUsageError extends DroverError {
  constructor(message: string) {
    super('BAD_CALL', message);
  }
}

/**
 * A failure of the run's set-up that no script code can work around (no model endpoint for
 * an agent): `parallel` and `pipeline` pass it on instead of turning it into null, so the run
 * fails with it. Code as given (`NO_ENDPOINT`).
 */
export class RunSetupError extends DroverError {}

/**
 * The model account behind the run has no money or quota left (an agent got the provider's
 * spend-limit / insufficient-quota answer): no later call can succeed, so the run stops with the
 * provider's words. Code `QUOTA_EXHAUSTED`; a resume continues once credit is added.
 */
export class QuotaGoneError extends DroverError {
  constructor(message: string) {
    super('QUOTA_EXHAUSTED', message);
  }
}

/**
 * Errors that end the run whatever the script does (stop, set-up, lost lease, quota gone, a damaged
 * store — `StoreCorruptError`, code `STORE_CORRUPT`): combinators never swallow them.
 */
export function endsRun(err: unknown): boolean {
  return (
    err instanceof RunAbortedError ||
    err instanceof RunSetupError ||
    err instanceof LeaseLostError ||
    err instanceof QuotaGoneError ||
    (err instanceof DroverError && err.code === 'STORE_CORRUPT')
  );
}
