/**
 * @module Run control from outside the driving process (schema v10): a stop request stored on the
 * run, which the driver notices (src/workflow/stop-watch.ts) and honours by ending the run `stopped`.
 */
import type { Fence, LeaseInfo, RunStatus } from './types.js';

/** The error a run marked `stopped` without a driver carries (a driver writes the same code when it stops). */
export const STOPPED_ERROR = { code: 'STOPPED', message: 'stopped on request (drover stop); drover resume continues it' };

/**
 * What `ControlStore.requestStop` did:
 * - `requested`: a live driver holds the run; the request is stored and the driver ends the run `stopped`;
 * - `stopped`: nobody drives the run (its driver is gone, or it waits for an answer): marked `stopped` at once;
 * - `already-stopped`: it was `stopped` already (nothing changed);
 * - `ended`: it had finished (`completed`, `failed`, `budget_exceeded`): nothing to stop.
 */
export type StopOutcome =
  | { kind: 'requested'; requestedAt: number; driver: LeaseInfo }
  | { kind: 'stopped' }
  | { kind: 'already-stopped' }
  | { kind: 'ended'; status: RunStatus };

export interface StopRequest {
  runId: string;
  /** ms since the epoch. */
  now: number;
  /** Decides whether a live-looking lease belongs to a holder that is gone (dead PID), as leases do. */
  isHolderGone: (lease: LeaseInfo) => boolean;
}

export interface ControlStore {
  /**
   * Asks that a run stop, atomically against its lease (see StopOutcome).
   * @throws NotFoundError (`NOT_FOUND`) for an unknown run
   */
  requestStop(request: StopRequest): Promise<StopOutcome>;
  /** When a stop of the run was requested and not yet honoured (ms since the epoch); null when none is pending. */
  stopRequestedAt(runId: string): Promise<number | null>;
  /** Drops a pending stop request (a driver starting or ending the run); fenced like every driver write. */
  clearStop(runId: string, fence?: Fence): Promise<void>;
}
