/** @module The errors of the policy module. */
import { DroverError, InputError } from '../core/errors.js';

/**
 * An action the workflow's policy forbids, refused where the agent acts (spawn, gateway, tool,
 * file, sh). Code `POLICY_DENIED`, exit code 1 when it ends a run. In a script it rejects the
 * call like any failure (catchable; `parallel` turns it into null).
 */
export class PolicyDeniedError extends DroverError {
  /** The `@id`s of the policies that decided (a forbid that matched, or `default-deny` when no permit did). */
  readonly ruleIds: string[];
  /** What was attempted, in words: `useModel claude-opus-4-8 (backend builtin)`. */
  readonly attempted: string;
  constructor(attempted: string, ruleIds: string[], detail?: string) {
    super(
      'POLICY_DENIED',
      `policy denied ${attempted} (rule${ruleIds.length === 1 ? '' : 's'} ${ruleIds.join(', ')})${detail ? `: ${detail}` : ''}`,
    );
    this.ruleIds = ruleIds;
    this.attempted = attempted;
  }
}

/**
 * A policy file drover cannot use: a Cedar syntax or validation error, a YAML knob with a bad
 * value, a policy without `@id`, two policies with one id. Refused when a command starts, with
 * file, line and column and the validator's message. Code `POLICY_INVALID`, exit code 2.
 */
export class PolicyFileError extends InputError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, message: string) {
    super(`${file}:${line}:${column}: ${message}`, 'POLICY_INVALID');
    this.file = file;
    this.line = line;
    this.column = column;
  }
}
