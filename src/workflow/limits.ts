import { availableParallelism } from 'node:os';

/** Same limits as Claude Code's workflow runtime, except where drover says otherwise. */
export const MAX_ITEMS_PER_CALL = 4096;
export const DEFAULT_MAX_AGENTS = 1000;

/**
 * Claude Code allows min(16, cores - 2) agents at once, which is 0 on a 2-core
 * machine. drover's agents mostly wait on the network, so it keeps at least 4.
 */
export function defaultConcurrency(): number {
  return Math.min(16, Math.max(4, availableParallelism() - 2));
}
