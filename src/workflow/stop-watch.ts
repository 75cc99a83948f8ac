/**
 * @module A driver's ear for stop requests from other processes (`drover stop`, the dashboard): it
 * polls the store's change mark (a constant-cost check) and reads the run's stop request only when
 * something was committed, so a request is noticed within one interval (200 ms by default, well
 * under the second promised in docs/cli.md#run-control).
 */
import { type Fence, STOPPED_ERROR, type Store, type StoredError } from '../store/index.js';

/** How often the change mark is polled, ms. */
export const STOP_POLL_MS = 200;

/** The reason the run's abort signal carries when a stop request ended it. */
export const STOP_REASON = 'stopped on request (drover stop)';

export class StopWatch {
  /** When the honoured request was made (ms since the epoch); null until one is seen. */
  requestedAt: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private mark = '';
  private busy = false;

  private constructor(
    private readonly store: Store,
    private readonly fence: Fence,
    private readonly onStop: () => void,
  ) {}

  /**
   * Drops a request left from before this execution (a driver that died before honouring it), then
   * watches. `onStop` is called once, when a request arrives.
   */
  static async start(store: Store, fence: Fence, onStop: () => void, intervalMs = STOP_POLL_MS): Promise<StopWatch> {
    const watch = new StopWatch(store, fence, onStop);
    await store.control.clearStop(fence.runId, fence);
    watch.mark = await store.changeMark();
    watch.timer = setInterval(() => void watch.tick(), intervalMs);
    watch.timer.unref();
    return watch;
  }

  private async tick(): Promise<void> {
    if (this.busy || this.requestedAt !== null) return;
    this.busy = true;
    try {
      const mark = await this.store.changeMark();
      if (mark === this.mark) return;
      this.mark = mark;
      const at = await this.store.control.stopRequestedAt(this.fence.runId);
      if (at !== null && this.requestedAt === null) {
        this.requestedAt = at;
        this.close();
        this.onStop();
      }
    } catch {
      // A busy or closing store: the next tick asks again.
    } finally {
      this.busy = false;
    }
  }

  /** Whether the run is ending because a stop was requested. */
  get stopped(): boolean {
    return this.requestedAt !== null;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Ends a run that stopped on request: status `stopped` with error `STOPPED` (resumable: its
 * unfinished calls run again, finished ones are served from the journal) and the request dropped,
 * in one fenced update.
 */
export async function stoppedEnd(store: Store, fence: Fence, now: number): Promise<{ error: StoredError }> {
  const error: StoredError = { ...STOPPED_ERROR };
  await store.updateRun(fence.runId, { status: 'stopped', error, finishedAt: now }, now, fence);
  await store.control.clearStop(fence.runId, fence);
  return { error };
}
