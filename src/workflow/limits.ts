import { availableParallelism } from 'node:os';
import { envInt } from '../config/env.js';

/** Same limits as Claude Code's workflow runtime, except where drover says otherwise. */
/**
 * Largest result a run may return, as JSON (bytes), from `DROVER_MAX_RESULT_BYTES` (default 10 MiB);
 * bigger ones fail the run with RESULT_TOO_LARGE. Throws InputError (exit 2) for a value that is not
 * a whole number from 1 to 2^29.
 */
export function maxResultBytes(env: NodeJS.ProcessEnv = process.env): number {
  return envInt('DROVER_MAX_RESULT_BYTES', env);
}

/** Longest log line kept (characters); longer lines are cut with a note. */
export const MAX_LOG_CHARS = 64 * 1024;

/** Node timers overflow past this many ms (they fire after 1 ms): long sleeps wait in chunks. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const MAX_ITEMS_PER_CALL = 4096;
export const DEFAULT_MAX_AGENTS = 1000;

/**
 * Claude Code allows min(16, cores - 2) agents at once, which is 0 on a 2-core
 * machine. drover's agents mostly wait on the network, so it keeps at least 4.
 */
export function defaultConcurrency(): number {
  return Math.min(16, Math.max(4, availableParallelism() - 2));
}
