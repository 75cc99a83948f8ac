/** The wait behind `TaskStore.watchTasks`, shared by the SQLite and PostgreSQL task stores. */
import type { TaskWake, TaskWatch } from './task-types.js';

/** setTimeout's longest delay (2^31−1 ms); longer waits are cut to it and simply wake early. */
const MAX_DELAY = 2_147_483_647;

export interface TaskWatcherSource {
  /** The list's change mark now: any committed change moves it (compared for equality only). */
  readMark(): Promise<string>;
  /** When the earliest lease of the list's claimed tasks runs out (ms since the epoch), or null. */
  nextLeaseAt(): Promise<number | null>;
  /** The poll interval now, ms (PostgreSQL polls slowly while LISTEN works, quickly when it does not). */
  pollMs(): number;
  /** Called once by `close`. */
  onClose?(): Promise<void> | void;
}

/**
 * One list's watch: polls the change mark every `pollMs()`, wakes at the earliest lease expiry, and
 * takes `notify()` from a LISTEN connection. A wake that comes while nobody waits is kept for the
 * next `next()`, so a change between two waits is never lost.
 */
export class TaskWatcher implements TaskWatch {
  private pending: TaskWake | null = null;
  private wake: ((w: TaskWake) => void) | null = null;
  private closed = false;

  private constructor(
    private readonly source: TaskWatcherSource,
    private mark: string,
  ) {}

  /** Starts a watch whose baseline is the list's mark now. */
  static async start(source: TaskWatcherSource): Promise<TaskWatcher> {
    return new TaskWatcher(source, await source.readMark());
  }

  /** True while a `next()` waits (its first look found nothing): what a test waits for before making a change. */
  get waiting(): boolean {
    return this.wake !== null;
  }

  /** A committed change was announced (PostgreSQL NOTIFY). */
  notify(): void {
    if (this.wake) this.wake('notify');
    else this.pending ??= 'notify';
  }

  async next(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TaskWake> {
    if (this.closed) throw new Error('task watch is closed');
    if (options.signal?.aborted) return 'aborted';
    const early = await this.settled();
    if (early) return early;
    const leaseAt = await this.source.nextLeaseAt();
    const late = await this.settled(false);
    if (late) return late;
    return new Promise<TaskWake>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      let done = false;
      const finish = (w: TaskWake) => {
        if (done) return;
        done = true;
        for (const t of timers) clearTimeout(t);
        options.signal?.removeEventListener('abort', onAbort);
        this.wake = null;
        // The mark as of the wake: what the caller looks at next includes every change it covers.
        if (w === 'notify') {
          this.source.readMark().then(
            (m) => {
              this.mark = m;
              resolve(w);
            },
            () => resolve(w),
          );
        } else resolve(w);
      };
      const onAbort = () => finish('aborted');
      this.wake = finish;
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const poll = () => {
        timers.push(
          setTimeout(
            async () => {
              if (done) return;
              const m = await this.source.readMark().catch(() => this.mark);
              if (done) return;
              if (m !== this.mark) {
                this.mark = m;
                finish('poll');
              } else poll();
            },
            Math.min(this.source.pollMs(), MAX_DELAY),
          ),
        );
      };
      poll();
      if (leaseAt !== null) {
        // A lease already past is for the caller's next look to expire; wake after one poll interval, not in a loop.
        const delay = leaseAt > Date.now() ? leaseAt - Date.now() + 1 : this.source.pollMs();
        timers.push(setTimeout(() => finish('lease'), Math.min(delay, MAX_DELAY)));
      }
      if (options.timeoutMs !== undefined)
        timers.push(setTimeout(() => finish('timeout'), Math.min(Math.max(0, options.timeoutMs), MAX_DELAY)));
    });
  }

  /** A wake already due: one kept from before, or (when `check`) a mark that moved. */
  private async settled(check = true): Promise<TaskWake | null> {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      this.mark = await this.source.readMark().catch(() => this.mark);
      return p;
    }
    if (!check) return null;
    const m = await this.source.readMark();
    if (m !== this.mark) {
      this.mark = m;
      return 'poll';
    }
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.('aborted');
    await this.source.onClose?.();
  }
}
