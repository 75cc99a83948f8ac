import { DroverError } from '../core/index.js';

/**
 * A task-board rule refused a change. Exit codes: 2 for a change that would
 * break the board (cycle, missing task), 3 when nothing is ready to claim,
 * 6 for a conflict with someone else's work (blocked, already claimed, not owner).
 */
export class TaskRuleError extends DroverError {
  constructor(code: 'CYCLE' | 'MISSING_TASK' | 'HAS_DEPENDENTS' | 'INVALID_TASK', message: string);
  constructor(code: 'NOTHING_READY', message: string);
  constructor(code: 'BLOCKED' | 'ALREADY_CLAIMED' | 'NOT_OWNER' | 'NOT_CLAIMABLE', message: string);
  constructor(code: string, message: string) {
    super(code, message, {
      exitCode: code === 'NOTHING_READY' ? 3 : ['BLOCKED', 'ALREADY_CLAIMED', 'NOT_OWNER', 'NOT_CLAIMABLE'].includes(code) ? 6 : 2,
    });
  }
}
