import { DroverError } from '../core/index.js';

/** Codes of conflicts with someone else's work: exit 6. */
const CONFLICT_CODES = ['BLOCKED', 'ALREADY_CLAIMED', 'NOT_OWNER', 'LEASE_EXPIRED', 'NOT_CLAIMABLE'];

/**
 * A task-board rule refused a change. Exit codes: 2 for a change that would
 * break the board (cycle, missing task), 3 when nothing is ready to claim,
 * 6 for a conflict with someone else's work (blocked, already claimed, not the
 * holder of the claim — `NOT_OWNER` — or a claim whose lease ran out — `LEASE_EXPIRED`).
 */
export class TaskRuleError extends DroverError {
  constructor(code: 'CYCLE' | 'MISSING_TASK' | 'HAS_DEPENDENTS' | 'INVALID_TASK', message: string);
  constructor(code: 'NOTHING_READY', message: string);
  constructor(code: 'BLOCKED' | 'ALREADY_CLAIMED' | 'NOT_OWNER' | 'LEASE_EXPIRED' | 'NOT_CLAIMABLE', message: string);
  constructor(code: string, message: string) {
    super(code, message, {
      exitCode: code === 'NOTHING_READY' ? 3 : CONFLICT_CODES.includes(code) ? 6 : 2,
    });
  }
}
