import type { Cap, CapState } from '../budget/caps-types.js';
import type { LedgerEntry } from '../budget/ledger-types.js';

/**
 * The `reservations` table (schema v8): budget held by requests in flight, one row per
 * (reservation, cap). The engine that decides what to hold is src/budget/reservations.ts; this
 * is the part that must be atomic across every process sharing the store.
 */

/** One request's worst case, to hold against each of `caps`. */
export interface HoldRequest {
  id: string;
  caps: readonly Cap[];
  /** Worst-case USD; null for an unpriced model (then no USD cap may apply: the engine refuses first). */
  usd: number | null;
  /** Worst-case output tokens (the request's max_tokens). */
  tokens: number;
  runId: string | null;
  callKey: string | null;
  model: string;
  /** ms since the epoch. */
  createdAt: number;
  /** ms since the epoch: after this the hold no longer counts (its holder is presumed dead). */
  expiresAt: number;
}

/**
 * What the engine decides from the caps' states, read inside the store's write transaction:
 * `hold` inserts the reservation; anything else is returned as it is and nothing is written.
 */
export type HoldVerdict<T> = { hold: true } | { hold: false; why: T };

export interface ReservationStore {
  /**
   * In ONE write transaction (SQLite `BEGIN IMMEDIATE`, so no other process can hold or record
   * in between; PostgreSQL: an advisory lock per cap, so no other hold against these caps runs in
   * between, and every cap's state read in one statement): reads each cap's state at `now` (ledger
   * sums + unexpired holds), asks `judge`, and inserts the hold when it says so. `judge` may be
   * called more than once (a transaction retried after a deadlock); it must not have side effects.
   */
  holdIf<T>(request: HoldRequest, now: number, judge: (states: CapState[]) => HoldVerdict<T>): Promise<HoldVerdict<T>>;
  /** Deletes a hold; false when it was not there (settled already, or expired and swept). */
  release(id: string): Promise<boolean>;
  /**
   * Deletes the hold and inserts the request's ledger row in one transaction, so that at no
   * moment the request counts neither as held nor as spent. Resolves with the row id.
   */
  releaseAndRecord(id: string, entry: LedgerEntry): Promise<number>;
  /** Moves the expiry of a live hold; false when it is gone. */
  renew(id: string, expiresAt: number): Promise<boolean>;
  /** The state of each cap at `now` (ledger sums and unexpired holds). */
  capStates(caps: readonly Cap[], now: number): Promise<CapState[]>;
  /** Deletes holds expired at `now`; resolves with how many. */
  sweep(now: number): Promise<number>;
}
