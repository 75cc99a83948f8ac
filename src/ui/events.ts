/**
 * @module Live updates: one timer per server polls the store's change mark (`Store.changeMark`,
 * a constant-cost check, no table read) and tells every open page when it moved; pages then
 * re-read what they show. A run driven from any process shows live this way.
 */
import type { Store } from '../store/index.js';

export class ChangeWatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(mark: string) => void>();
  /** The last mark seen. */
  mark = '';

  constructor(
    private readonly store: Store,
    /** Poll interval, ms. */
    private readonly intervalMs: number,
  ) {}

  async start(): Promise<void> {
    this.mark = await this.store.changeMark();
    const tick = async () => {
      try {
        const mark = await this.store.changeMark();
        if (mark !== this.mark) {
          this.mark = mark;
          for (const fn of this.listeners) fn(mark);
        }
      } catch {
        // A closed or busy store: try again next tick.
      }
      if (this.timer) {
        this.timer = setTimeout(tick, this.intervalMs);
        this.timer.unref();
      }
    };
    this.timer = setTimeout(tick, this.intervalMs);
    this.timer.unref();
  }

  /** Calls `fn` with each new mark; returns the unsubscribe function. */
  subscribe(fn: (mark: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
