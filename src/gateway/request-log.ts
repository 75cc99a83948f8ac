/**
 * @module The rows a gateway keeps in memory: the latest ones (for `/_drover/stats?log=1`) and
 * each agent call's (for `/_drover/usage?tag=<call>`, which a CLI agent reads once its process
 * ends). Both are bounded, so a `drover gateway` that runs for weeks does not grow with every
 * request it ever answered; the store keeps every row.
 */
import type { LedgerEntry } from '../budget/ledger-types.js';

export interface RequestLogLimits {
  /** Latest rows kept for the stats log. Default 2000. */
  recentRows?: number;
  /**
   * Rows kept across all calls' lists. Past it, the calls whose latest row is oldest are dropped
   * whole (never one still in flight). Default 50 000 (about 30 MB): hours of a busy fleet, while
   * a call's rows are read seconds after it ends.
   */
  callRows?: number;
  /**
   * Calls whose rows were dropped, remembered so `/_drover/usage` can say "no longer known" rather
   * than "made no requests" (a CLI agent then falls back to its own usage report instead of
   * recording zero). Default 100 000 keys (a few MB); past it the earliest dropped are forgotten.
   */
  droppedCalls?: number;
}

export class RequestLog {
  private readonly recent: LedgerEntry[] = [];
  /** In order of each call's latest row: the front is the call idle longest. */
  private readonly byCall = new Map<string, LedgerEntry[]>();
  /** Calls whose rows were dropped, earliest first (a Set keeps insertion order). */
  private readonly dropped = new Set<string>();
  private callRows = 0;
  private readonly recentLimit: number;
  private readonly callLimit: number;
  private readonly droppedLimit: number;

  /** `busy(callKey)`: whether a call still has requests in flight (its rows are never dropped). */
  constructor(
    private readonly busy: (callKey: string) => boolean,
    limits: RequestLogLimits = {},
  ) {
    this.recentLimit = limits.recentRows ?? 2000;
    this.callLimit = limits.callRows ?? 50_000;
    this.droppedLimit = limits.droppedCalls ?? 100_000;
  }

  add(entry: LedgerEntry): void {
    this.recent.push(entry);
    // Dropped in blocks, not one at a time: a shift per request moves the whole array each time.
    if (this.recent.length >= 2 * this.recentLimit) this.recent.splice(0, this.recent.length - this.recentLimit);
    // A dropped call's later rows are not kept either: a partial list would read as its whole usage.
    if (!entry.callKey || this.dropped.has(entry.callKey)) return;
    // Moved to the back on each row: the front is the call idle longest, not the one that began
    // first (a long agent call between two of its requests is not in flight, yet still running).
    const list = this.byCall.get(entry.callKey);
    if (list) {
      list.push(entry);
      this.byCall.delete(entry.callKey);
      this.byCall.set(entry.callKey, list);
    } else this.byCall.set(entry.callKey, [entry]);
    this.callRows++;
    if (this.callRows > this.callLimit) this.dropOldestCalls();
  }

  /** The latest rows, oldest first (at most `recentRows`). */
  latest(): LedgerEntry[] {
    return this.recent.slice(-this.recentLimit);
  }

  /**
   * A call's rows in order: empty when it made none here, null when they were dropped (the store
   * still has them; this log no longer knows them all).
   */
  forCall(callKey: string): LedgerEntry[] | null {
    if (this.dropped.has(callKey)) return null;
    return [...(this.byCall.get(callKey) ?? [])];
  }

  private dropOldestCalls(): void {
    for (const [callKey, list] of this.byCall) {
      if (this.callRows <= this.callLimit) return;
      if (this.busy(callKey)) continue;
      this.byCall.delete(callKey);
      this.callRows -= list.length;
      this.dropped.add(callKey);
      if (this.dropped.size > this.droppedLimit) {
        const earliest = this.dropped.values().next();
        if (!earliest.done) this.dropped.delete(earliest.value);
      }
    }
  }
}
