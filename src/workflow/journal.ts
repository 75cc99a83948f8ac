import type { CallRecord, Store, UsageRecord } from '../store/types.js';

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

  /** A finished result for this key, copying it over when it comes from the `--from` run. */
  async reuse(key: string): Promise<CallRecord | undefined> {
    const mine = this.own.get(key);
    if (mine?.status === 'finished') return mine;
    const theirs = this.borrowed.get(key);
    if (!theirs) return undefined;
    const copy: CallRecord = { ...theirs, runId: this.runId, reusedFrom: theirs.reusedFrom ?? theirs.runId };
    this.pending.push(copy);
    this.own.set(key, copy);
    return copy;
  }

  /** Synchronous lookup for values the script needs at once (Date.now, Math.random). */
  reuseValueSync(key: string): CallRecord | undefined {
    const mine = this.own.get(key);
    if (mine?.status === 'finished') return mine;
    const theirs = this.borrowed.get(key);
    if (!theirs) return undefined;
    const copy: CallRecord = { ...theirs, runId: this.runId, reusedFrom: theirs.reusedFrom ?? theirs.runId };
    this.pending.push(copy);
    this.own.set(key, copy);
    return copy;
  }

  /** Records a value now in memory; it is committed with the next call outcome or flush. */
  addValue(call: CallRecord): void {
    this.own.set(call.key, call);
    this.pending.push(call);
  }

  async started(call: CallRecord): Promise<void> {
    this.own.set(call.key, call);
    await this.store.recordCallStarted(call);
  }

  /** Result, usage and pending values land in one transaction. */
  async finish(call: CallRecord, usage: UsageRecord[]): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    try {
      await this.store.recordCallOutcome(call, usage, pending);
    } catch (err) {
      this.pending = pending.concat(this.pending);
      throw err;
    }
    this.own.set(call.key, call);
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    await this.store.recordCalls(pending);
  }

  /** Marks an entry as answered without a store write (the answer is already stored). */
  remember(call: CallRecord): void {
    this.own.set(call.key, call);
  }
}
