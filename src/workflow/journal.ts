import type { CallRecord, Store, StoredSpan, UsageRecord } from '../store/index.js';

/**
 * The journal boundary: everything with a side effect passes through here.
 * Finished entries of the run (and of a `--from` run) are loaded once, so a
 * lookup is a map read and a fully reused run makes no per-call queries.
 */
export class Journal {
  private readonly own = new Map<string, CallRecord>();
  private readonly borrowed = new Map<string, CallRecord>();
  /** Deterministic values (clock, random) waiting to ride along with the next commit. */
  private pending: CallRecord[] = [];
  private pendingUsage: UsageRecord[] = [];
  private pendingSpans: StoredSpan[] = [];
  private nextCommit: Promise<void> | undefined;
  readonly counts = { total: 0, executed: 0, reused: 0 };

  private constructor(
    private readonly store: Store,
    readonly runId: string,
  ) {}

  static async open(store: Store, runId: string, fromRunId: string | null): Promise<Journal> {
    const journal = new Journal(store, runId);
    for (const call of await store.listCalls(runId)) journal.own.set(call.key, call);
    if (fromRunId) {
      for (const call of await store.listCalls(fromRunId)) {
        if (call.status === 'finished') journal.borrowed.set(call.key, call);
      }
    }
    return journal;
  }

  /** An existing entry of this run, finished or not (for sleep deadlines, asks). */
  entry(key: string): CallRecord | undefined {
    return this.own.get(key);
  }

  /**
   * A finished result for this key, copying it over when it comes from the
   * `--from` run. Synchronous, so Date.now()/Math.random() can use it too.
   */
  reuse(key: string): CallRecord | undefined {
    const mine = this.own.get(key);
    if (mine?.status === 'finished') return mine;
    const theirs = this.borrowed.get(key);
    if (!theirs) return undefined;
    const copy: CallRecord = { ...theirs, runId: this.runId, reusedFrom: theirs.reusedFrom ?? theirs.runId };
    this.pending.push(copy);
    this.own.set(key, copy);
    return copy;
  }

  /** Records a value now in memory; it is committed with the next write. */
  addValue(call: CallRecord): void {
    this.own.set(call.key, call);
    this.pending.push(call);
  }

  /** Marks a call as started. Not awaited by callers: it rides along with the next commit. */
  started(call: CallRecord): void {
    this.own.set(call.key, call);
    this.pending.push(call);
    this.scheduleCommit();
  }

  /**
   * Commits the call's outcome with its usage (and everything queued before it)
   * in one transaction; resolves once it is durable.
   */
  finish(call: CallRecord, usage: UsageRecord[]): Promise<void> {
    this.pending.push(call);
    this.pendingUsage.push(...usage);
    this.own.set(call.key, call);
    return this.scheduleCommit();
  }

  /** A span to commit with the next write (a call's span lands with its result). */
  addSpan(span: StoredSpan): void {
    this.pendingSpans.push(span);
  }

  async flush(): Promise<void> {
    await this.scheduleCommit();
  }

  /**
   * Group commit: writes queued in the same event-loop turn share one
   * transaction. Concurrent agents finishing together pay for one commit.
   */
  private scheduleCommit(): Promise<void> {
    if (!this.nextCommit) {
      this.nextCommit = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          const calls = this.pending;
          const usage = this.pendingUsage;
          const spans = this.pendingSpans;
          this.pending = [];
          this.pendingUsage = [];
          this.pendingSpans = [];
          this.nextCommit = undefined;
          this.store.recordCalls(calls, usage, spans).then(resolve, (err) => {
            // Keep the writes for the next attempt; the caller sees the failure.
            this.pending = calls.concat(this.pending);
            this.pendingUsage = usage.concat(this.pendingUsage);
            this.pendingSpans = spans.concat(this.pendingSpans);
            reject(err);
          });
        });
      });
    }
    return this.nextCommit;
  }

  /** Marks an entry as answered without a store write (the answer is already stored). */
  remember(call: CallRecord): void {
    this.own.set(call.key, call);
  }
}
