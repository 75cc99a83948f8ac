/**
 * @module
 * The whole-number DROVER_* environment variables: one table of their ranges and defaults, one
 * reader. Every command checks them all when it resolves its config (`checkNumericEnv`), so a
 * typo is refused with exit 2 before anything is opened; each module reads its own with `envInt`.
 */
import { InputError } from '../core/errors.js';

/** The accepted range (inclusive), the default when unset or empty, and the unit named in errors. */
export interface IntEnvSpec {
  min: number;
  max: number;
  default: number | undefined;
  unit: string;
}

/** Node timers overflow past this many ms (they fire after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every whole-number DROVER_* variable. */
export const NUMERIC_ENV = {
  /** Agents at once (the config file's `concurrency` has the same range). */
  DROVER_CONCURRENCY: { min: 1, max: 256, default: undefined, unit: 'agents' },
  /** A run lease's length; heartbeats renew it every third of it (src/workflow/lease.ts). */
  DROVER_LEASE_TTL_MS: { min: 100, max: MAX_TIMER_MS, default: 30_000, unit: 'milliseconds' },
  /** Largest run result, as JSON (src/workflow/limits.ts). V8 strings stop near 2^29 characters. */
  DROVER_MAX_RESULT_BYTES: { min: 1, max: 2 ** 29, default: 10 * 1024 * 1024, unit: 'bytes' },
  /** Longest synchronous stretch of script code (src/workflow/watchdog.ts); a vm timeout is a timer. */
  DROVER_SCRIPT_CPU_MS: { min: 1, max: MAX_TIMER_MS, default: 10_000, unit: 'milliseconds' },
} as const satisfies Record<string, IntEnvSpec>;

export type NumericEnvName = keyof typeof NUMERIC_ENV;

/**
 * The value of a whole-number DROVER_* variable: its default when unset or blank, else the number.
 * Throws InputError (`INVALID_INPUT`, exit 2) naming the variable and the accepted form when it is
 * not plain digits or is out of range (`1e3`, `-5`, `10s`, `0x10` are refused).
 */
export function envInt<N extends NumericEnvName>(
  name: N,
  env: NodeJS.ProcessEnv = process.env,
): (typeof NUMERIC_ENV)[N]['default'] extends number ? number : number | undefined {
  const spec: IntEnvSpec = NUMERIC_ENV[name];
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return spec.default as number;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
    throw new InputError(`${name}: must be a whole number of ${spec.unit} from ${spec.min} to ${spec.max}, got "${raw}"`);
  }
  return n;
}

/** Checks every whole-number DROVER_* variable (see `envInt`); throws InputError on the first bad one. */
export function checkNumericEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of Object.keys(NUMERIC_ENV) as NumericEnvName[]) envInt(name, env);
}
