/**
 * @module An AIMD concurrency limiter for one (upstream, model): how many requests may be in
 * flight at once, lowered when the upstream says "too many" and raised again while it does not.
 */

/** A granted slot. `release` is idempotent. */
export interface Slot {
  /** The limiter's decrease count when the slot was granted: a throttle seen by an older slot does not lower the limit again. */
  readonly epoch: number;
  release(): void;
}

/** What the live tree shows for one (upstream, model). */
export interface LimitSnapshot {
  upstream: string;
  model: string;
  /** Requests allowed in flight now. */
  limit: number;
  /** The configured maximum the limit returns to. */
  max: number;
  inFlight: number;
  /** Requests waiting for a slot (never dropped). */
  queued: number;
  /** Times the limit was lowered. */
  decreases: number;
  /** Throttled answers seen (429/529), retried or not. */
  throttled: number;
  /** Requests retried after a throttle or an outage. */
  retries: number;
  /** Until when (ms since the epoch) new requests wait because the upstream said so; null when not paused. */
  pausedUntil: number | null;
}

interface Waiter {
  ticket: number;
  grant: (slot: Slot) => void;
}

/** Options of one limiter. */
export interface LimiterOptions {
  /** Starting and highest limit (≥ 1). */
  max: number;
  /**
   * Windows of successes spent at the highest limit known to be safe before trying one more than
   * the limit that last failed. Default 8.
   */
  probeWindows?: number;
  /** Waits `ms`; injectable for tests. */
  delay: (ms: number) => Promise<void>;
  now: () => number;
}

/**
 * Additive increase, multiplicative decrease over a FIFO queue:
 * - `acquire(ticket)` resolves with a slot once fewer than `limit` slots are held and no pause is
 *   on; waiters are served in ticket order (a retried request keeps its first ticket, so it goes
 *   before requests that arrived after it). Nothing is ever dropped.
 * - `throttled(slot)` (a 429/529): limit ← max(1, ⌊min(limit, in flight) × 0.5⌋), once per
 *   generation of slots — halving what the upstream actually refused, so a limiter that starts
 *   with no practical limit finds the upstream's in one step, not log2(max) steps.
 * - `succeeded()`: after `limit` successes (one window) the limit rises by 1, up to `max`; it
 *   rises past the last limit that failed only after `probeWindows` windows without a throttle.
 * - `pause(ms)`: no new slots until then (a `retry-after` or an exhausted rate-limit class).
 */
export class AimdLimiter {
  limit: number;
  readonly max: number;
  private inFlight = 0;
  private readonly queue: Waiter[] = [];
  private epoch = 0;
  private successes = 0;
  private probeCredit = 0;
  /** The limit that last failed; climbing to it waits for `probeWindows` quiet windows. */
  private ceiling = Number.POSITIVE_INFINITY;
  private readonly probeWindows: number;
  private pausedUntil: number | null = null;
  private pauseToken = 0;
  decreases = 0;
  throttledCount = 0;
  retries = 0;

  constructor(private readonly options: LimiterOptions) {
    this.max = Math.max(1, Math.floor(options.max));
    this.limit = this.max;
    this.probeWindows = options.probeWindows ?? 8;
  }

  /** Resolves with a slot in ticket order; rejects with `signal.reason` when the signal aborts first. */
  acquire(ticket: number, signal?: AbortSignal): Promise<Slot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        ticket,
        grant: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let at = this.queue.length;
      while (at > 0 && (this.queue[at - 1] as Waiter).ticket > ticket) at--;
      this.queue.splice(at, 0, waiter);
      this.pump();
    });
  }

  /** A throttled answer on `slot`: halves the limit unless this generation already did. */
  throttled(slot: Slot): void {
    this.throttledCount++;
    if (slot.epoch !== this.epoch) return;
    // The level that failed: what was in flight (the throttled request's slot is still held).
    const failed = Math.max(1, Math.min(this.limit, this.inFlight));
    const next = Math.max(1, Math.floor(failed * 0.5));
    if (next < this.limit) this.decreases++;
    this.ceiling = failed;
    this.limit = next;
    this.epoch++;
    this.successes = 0;
    this.probeCredit = 0;
  }

  /** A successful answer: counts toward the next additive increase. */
  succeeded(): void {
    if (++this.successes < this.limit) return;
    this.successes = 0;
    if (this.limit >= this.max) return;
    if (this.limit + 1 < this.ceiling || ++this.probeCredit >= this.probeWindows) {
      this.limit++;
      this.probeCredit = 0;
      if (this.limit >= this.ceiling) this.ceiling = Number.POSITIVE_INFINITY;
      this.pump();
    }
  }

  /** Holds new slots for `ms` (extends, never shortens, a pause already on). */
  pause(ms: number): void {
    if (!(ms > 0)) return;
    const until = this.options.now() + ms;
    if (this.pausedUntil !== null && this.pausedUntil >= until) return;
    this.pausedUntil = until;
    const token = ++this.pauseToken;
    void this.options.delay(ms).then(() => {
      if (token !== this.pauseToken) return;
      this.pausedUntil = null;
      this.pump();
    });
  }

  snapshot(upstream: string, model: string): LimitSnapshot {
    return {
      upstream,
      model,
      limit: this.limit,
      max: this.max,
      inFlight: this.inFlight,
      queued: this.queue.length,
      decreases: this.decreases,
      throttled: this.throttledCount,
      retries: this.retries,
      pausedUntil: this.pausedUntil,
    };
  }

  private pump(): void {
    while (this.pausedUntil === null && this.inFlight < this.limit && this.queue.length > 0) {
      const waiter = this.queue.shift() as Waiter;
      this.inFlight++;
      let released = false;
      waiter.grant({
        epoch: this.epoch,
        release: () => {
          if (released) return;
          released = true;
          this.inFlight--;
          this.pump();
        },
      });
    }
  }
}
