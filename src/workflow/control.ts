/**
 * @module Run control from outside the driving process: `drover stop`, the dashboard's stop
 * buttons and the MCP/HTTP APIs all go through `stopRun`. The request is stored (schema v10); the
 * driver notices it within a second (stop-watch.ts) and ends the run `stopped`.
 */
import type { RunStatus, StopOutcome, Store } from '../store/index.js';
import { isHolderGone } from './lease.js';

/** What stopping one run came to. */
export interface StopResult {
  runId: string;
  /**
   * `stopped`: the run is `stopped` now (its driver ended it, or nobody drove it); `requested`: a
   * driver holds it and has not ended it yet (not waited for, or the wait ran out);
   * `already-stopped`; `ended`: it had finished, nothing to stop (`status` says how).
   */
  outcome: 'stopped' | 'requested' | 'already-stopped' | 'ended';
  status: RunStatus;
  /** The driver asked to stop (pid, host), when one held the run. */
  driver?: { pid: number; host: string };
}

export interface StopOptions {
  /** Wait for the driver to end the run, at most this long (ms); 0 returns at once. Default 0. */
  waitMs?: number;
}

/**
 * Asks run `runId` to stop and (with `waitMs`) waits until its driver has ended it.
 * @throws NotFoundError (`NOT_FOUND`, exit 2) for an unknown run
 */
export async function stopRun(store: Store, runId: string, options: StopOptions = {}): Promise<StopResult> {
  const outcome: StopOutcome = await store.control.requestStop({ runId, now: Date.now(), isHolderGone });
  if (outcome.kind === 'ended') return { runId, outcome: 'ended', status: outcome.status };
  if (outcome.kind !== 'requested') return { runId, outcome: outcome.kind, status: 'stopped' };
  const driver = { pid: outcome.driver.pid, host: outcome.driver.host };
  const requested: StopResult = { runId, outcome: 'requested', status: 'running', driver };
  const deadline = Date.now() + (options.waitMs ?? 0);
  let mark = '';
  while (Date.now() < deadline) {
    const now = await store.changeMark();
    if (now !== mark) {
      mark = now;
      const run = await store.getRun(runId);
      if (!run) return requested;
      if (run.status === 'stopped') return { runId, outcome: 'stopped', status: 'stopped', driver };
      // It finished before the driver looked: nothing left to stop.
      if (run.status !== 'running' && run.status !== 'waiting') return { runId, outcome: 'ended', status: run.status, driver };
      const gone = !run.lease || run.lease.token !== outcome.driver.token || isHolderGone(run.lease);
      if (gone) {
        // Its driver went away without honouring the request (it died, or stopped to wait for an
        // answer): nobody drives the run, so asking again marks it at once.
        const again = await store.control.requestStop({ runId, now: Date.now(), isHolderGone });
        if (again.kind === 'ended') return { runId, outcome: 'ended', status: again.status, driver };
        if (again.kind !== 'requested') return { runId, outcome: 'stopped', status: 'stopped', driver };
        return { ...requested, driver: { pid: again.driver.pid, host: again.driver.host } };
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return requested;
}
