/**
 * @module
 * What every command's `register(program)` shares: the action wrapper that turns a handler's
 * exit code (or thrown error) into the process's, and the flag parsers. Loads only commander
 * and output.ts, so declaring a command costs nothing; handlers are imported when they run.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { fail } from './output.js';

/** Parsed flags of a command and its parents (`optsWithGlobals()`). */
export type Flags = Record<string, unknown>;

/**
 * Wraps a handler for `.action()`: passes the positional arguments and the flags (with the global
 * `--store`), sets `process.exitCode` to the number the handler returns, and ends the process
 * through `fail` (exit code from the DroverError, else 1) when it throws.
 */
export function action<A extends unknown[]>(fn: (...args: [...A, Flags]) => Promise<number>) {
  return async (...raw: unknown[]) => {
    const cmd = raw[raw.length - 1] as Command;
    const args = raw.slice(0, -2) as A;
    const flags = cmd.optsWithGlobals() as Flags;
    try {
      process.exitCode = await fn(...args, flags);
    } catch (err) {
      fail(err, flags.json === true);
    }
  };
}

/**
 * A flag parser for whole numbers from `min` to `max`, written as plain digits (`1e3`, `0x10`, `2.0`
 * and numbers past 2^53 are refused); anything else is commander's invalid argument (exit 2) naming
 * the flag and the accepted range.
 */
export const int =
  (name: string, min = 1, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `${name} must be a whole number ≥ ${min}`
          : `${name} must be a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };

/** A repeatable flag: each use appends to the list. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A flag parser that accepts only `choices`, naming them when refused (exit 2). */
export const oneOf =
  (name: string, choices: readonly string[]) =>
  (value: string): string => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}`);
    return value;
  };
