/** @module The journal: what a run already did, and the matching of new calls against it. */
import type { CallKind, CallRecord, CallRekey, Fence, Store, StoredSpan, UsageRecord } from '../store/index.js';
import { type CallIds, VALUE_KINDS, WORLD_KINDS } from './identity.js';

/** Why a call runs instead of being served from the journal (shown by `--plan`). */
export type ExecuteReason =
  /** No journal entry has this call's position or content. */
  | 'new'
  /** The same call at the same place ran before, but an earlier call in its branch changed (sh, step, task, clock...). */
  | 'earlier-call-changed'
  /** It ran before and failed. */
  | 'failed-before'
  /** It was started before and never finished (crash, stop). */
  | 'unfinished';

/** How a call was matched to a journal entry. */
export type ReuseVia =
  /** Same place, same inputs (and for world-dependent kinds, the same calls before it). */
  | 'exact'
  /** An agent (or ask) with the same inputs found elsewhere in the script: it moved. */
  | 'moved'
  /** A journal written by an earlier drover, matched by its keys (issue order). */
  | 'legacy'
  /** Copied from the `--from` run. */
  | 'from';

export type Match = { reuse: CallRecord; via: ReuseVia } | { reuse?: undefined; reason: ExecuteReason };

/**
 * The journal boundary: everything with a side effect passes through here.
 * Entries of the run (and the finished ones of a `--from` run) are loaded once, so a
 * lookup is a map read and a fully reused run makes no per-call queries.
 */
export class Journal {
  private readonly own = new Map<string, CallRecord>();
  private readonly borrowed = new Map<string, CallRecord>();
  /** Entries by position, own before borrowed (for `--plan`'s reasons). */
  private readonly byPosition = new Map<string, CallRecord>();
  /** Finished agent/ask entries by content, own before borrowed, oldest first. */
  private readonly byContent = new Map<string, CallRecord[]>();
  /** Entries already serving a call of this execution. */
  private readonly claimed = new Set<CallRecord>();
  /** Own entries written by drover before structural identity. */
  readonly legacyEntries: number;
  private pending: CallRecord[] = [];
  private pendingUsage: UsageRecord[] = [];
  private pendingSpans: StoredSpan[] = [];
  private pendingReplacing: StoredSpan[] = [];
  private pendingRekeys: CallRekey[] = [];
  private nextCommit: Promise<void> | undefined;
  /** A commit that failed with nobody awaiting it: surfaced on the next awaited write. */
  private failure: unknown;
  /** Calls of this execution: looked up, served, run to an outcome. Values (clock, random, budget) are not calls. */
  readonly counts = { total: 0, executed: 0, reused: 0, failed: 0, moved: 0 };

  private constructor(
    private readonly store: Store,
    readonly runId: string,
    own: CallRecord[],
    borrowed: CallRecord[],
    /** The driver's lease: every commit is refused (LEASE_LOST) once another process holds the run. */
    readonly fence: Fence | undefined,
  ) {
    let legacy = 0;
    for (const call of own) {
      this.own.set(call.key, call);
      if (call.positionKey) this.byPosition.set(call.positionKey, call);
      else legacy++;
    }
    this.legacyEntries = legacy;
    for (const call of borrowed) {
      if (call.status !== 'finished') continue;
      this.borrowed.set(call.key, call);
      if (call.positionKey && !this.byPosition.has(call.positionKey)) this.byPosition.set(call.positionKey, call);
    }
    for (const call of [...own, ...borrowed].sort((a, b) => a.startedAt - b.startedAt)) {
      if (call.status !== 'finished' || !call.contentKey || WORLD_KINDS.has(call.kind)) continue;
      const list = this.byContent.get(call.contentKey);
      if (list) list.push(call);
      else this.byContent.set(call.contentKey, [call]);
    }
  }

  /** Loads the run's entries (and the finished ones of `fromRunId`); `fence` guards every commit. */
  static async open(store: Store, runId: string, fromRunId: string | null, fence?: Fence): Promise<Journal> {
    return new Journal(store, runId, await store.listCalls(runId), fromRunId ? await store.listCalls(fromRunId) : [], fence);
  }

  /** An existing entry of this run, finished or not (for sleep deadlines, asks). */
  entry(key: string): CallRecord | undefined {
    return this.own.get(key);
  }

  /**
   * Matches a call against the journal (no I/O; synchronous so clock and random values can use it).
   * A served entry found under another key (moved, legacy, `--from`) is re-keyed or copied to this
   * call's key with the next commit, so the next resume finds it in its place.
   */
  match(kind: CallKind, ids: CallIds): Match {
    const mine = this.own.get(ids.key);
    if (mine?.status === 'finished') return this.serve(mine, ids, 'exact');
    const theirs = this.borrowed.get(ids.key);
    if (theirs && !this.claimed.has(theirs)) return this.serve(theirs, ids, 'from');
    if (ids.legacyKey) {
      const old = this.own.get(ids.legacyKey);
      if (old && !old.positionKey && old.kind === kind && old.status === 'finished' && !this.claimed.has(old))
        return this.serve(old, ids, 'legacy');
    }
    if (!WORLD_KINDS.has(kind)) {
      const candidate = this.byContent.get(ids.contentKey)?.find((c) => !this.claimed.has(c));
      if (candidate) return this.serve(candidate, ids, candidate.runId === this.runId ? 'moved' : 'from');
    }
    if (mine) return { reason: mine.status === 'failed' ? 'failed-before' : 'unfinished' };
    if (WORLD_KINDS.has(kind) && this.byPosition.has(ids.positionKey)) return { reason: 'earlier-call-changed' };
    return { reason: 'new' };
  }

  /** Counts a call of this execution that will run. */
  countExecuting(kind: CallKind): void {
    if (!VALUE_KINDS.has(kind)) this.counts.total++;
  }

  private serve(entry: CallRecord, ids: CallIds, via: ReuseVia): Match {
    this.claimed.add(entry);
    let served = entry;
    if (entry.key !== ids.key || entry.runId !== this.runId || !entry.positionKey) {
      served = {
        ...entry,
        runId: this.runId,
        key: ids.key,
        positionKey: ids.positionKey,
        contentKey: ids.contentKey,
        reusedFrom: entry.runId === this.runId ? entry.reusedFrom : (entry.reusedFrom ?? entry.runId),
      };
      // Own entries move (with their usage rows); another run's are copied.
      if (entry.runId === this.runId && entry.key !== ids.key) {
        this.pendingRekeys.push({ from: entry.key, to: ids.key });
        this.own.delete(entry.key);
      }
      this.pending.push(served);
      this.own.set(ids.key, served);
      this.claimed.add(served);
    }
    if (!VALUE_KINDS.has(entry.kind)) {
      this.counts.total++;
      this.counts.reused++;
      if (via === 'moved') this.counts.moved++;
    }
    return { reuse: served, via };
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
    this.scheduleCommit().catch((err) => this.fail(err));
  }

  /**
   * Commits the call's outcome with its usage (and everything queued before it)
   * in one transaction; resolves once it is durable. Counts it as executed or failed
   * (an unfinished entry — a stopped call — counts as neither); with `reused`, a finished call as
   * reused — its outcome was produced by an earlier execution that never journaled it (a pooled
   * job a worker finished while the driver was down).
   * Rejects with the commit's error, or with an earlier failure nobody awaited (see `fail`): once a
   * write of the run was lost, no later write reports success (`flush` reports it at the end).
   */
  finish(call: CallRecord, usage: UsageRecord[], reused = false): Promise<void> {
    this.pending.push(call);
    this.pendingUsage.push(...usage);
    this.own.set(call.key, call);
    if (!VALUE_KINDS.has(call.kind)) {
      if (call.status === 'finished') this.counts[reused ? 'reused' : 'executed']++;
      else if (call.status === 'failed') this.counts.failed++;
    }
    return this.scheduleCommit().then(() => {
      if (this.failure !== undefined) throw this.failure;
    });
  }

  /**
   * Records the failure of a write whose caller cannot go on reporting it (an answered ask, a
   * `started` entry): every later `finish` rejects with it, and `flush` throws it, so the run ends
   * failed (LEASE_LOST for a lost lease) instead of going on as if it had been written.
   */
  fail(err: unknown): void {
    this.failure ??= err;
  }

  /** Throws the failure recorded by `fail` (kept for `flush`): a call about to run must not start after a lost write. */
  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * A span to commit with the next write (a call's span lands with its result). `replace`: drover
   * writes this span id again (root, phase, execution, a closed interrupted call), and the new
   * record replaces the earlier one in the same transaction.
   */
  addSpan(span: StoredSpan, replace = false): void {
    if (replace) this.pendingReplacing.push(span);
    else this.pendingSpans.push(span);
  }

  /** Writes everything queued; rejects with an earlier commit's failure nobody awaited. */
  async flush(): Promise<void> {
    await this.scheduleCommit();
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
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
          const rekeys = this.pendingRekeys;
          const replacing = this.pendingReplacing;
          this.pendingReplacing = [];
          this.pending = [];
          this.pendingUsage = [];
          this.pendingSpans = [];
          this.pendingRekeys = [];
          this.nextCommit = undefined;
          this.store.recordCalls(calls, usage, spans, rekeys, this.fence, replacing).then(resolve, (err) => {
            // Keep the writes for the next attempt; the caller sees the failure.
            this.pending = calls.concat(this.pending);
            this.pendingUsage = usage.concat(this.pendingUsage);
            this.pendingSpans = spans.concat(this.pendingSpans);
            this.pendingRekeys = rekeys.concat(this.pendingRekeys);
            this.pendingReplacing = replacing.concat(this.pendingReplacing);
            reject(err);
          });
        });
      });
    }
    return this.nextCommit;
  }

  /** Entries of this run that no call of this execution has matched (for `--plan`: no longer called). */
  unmatched(): CallRecord[] {
    return [...this.own.values()].filter((c) => !this.claimed.has(c) && !VALUE_KINDS.has(c.kind));
  }
}
