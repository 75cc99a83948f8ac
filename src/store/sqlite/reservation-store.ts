import type Database from 'better-sqlite3';
import type { Cap, CapState } from '../../budget/caps-types.js';
import type { LedgerEntry } from '../../budget/ledger-types.js';
import { BILLED_ROWS, capSpendArgs } from '../cap-keys.js';
import type { HoldRequest, HoldVerdict, ReservationStore } from '../reservation-types.js';
import { LEDGER_INSERT, ledgerParams } from './ledger-store.js';

export { utcDayRange } from '../cap-keys.js';

interface Sums {
  usd: number;
  tokens: number;
}

/**
 * SQLite side of the reservation engine. Spent per scope comes from the v7 `ledger` table
 * (cost_usd, output_tokens); held from the v8 `reservations` table.
 */
export class SqliteReservationStore implements ReservationStore {
  private readonly spent: Record<Cap['scope'], Database.Statement>;
  private readonly held;
  private readonly insert;
  private readonly remove;
  private readonly insertLedger;
  private readonly extend;
  private readonly expire;

  constructor(private readonly db: Database.Database) {
    const sums = 'SELECT COALESCE(SUM(cost_usd), 0) AS usd, COALESCE(SUM(output_tokens), 0) AS tokens FROM ledger';
    this.spent = {
      run: db.prepare(`${sums} WHERE run_id = ?`),
      phase: db.prepare(`${sums} WHERE run_id = ? AND phase = ?`),
      call: db.prepare(`${sums} WHERE run_id = ? AND call_key = ?`),
      // Daily caps are money: rows of sim and replay gateways (nobody billed) are not counted.
      'workflow-day': db.prepare(`${sums} WHERE workflow = ? AND ended_at >= ? AND ended_at < ? AND ${BILLED_ROWS}`),
      'store-day': db.prepare(`${sums} WHERE ended_at >= ? AND ended_at < ? AND ${BILLED_ROWS}`),
    };
    this.held = db.prepare(
      'SELECT COALESCE(SUM(usd), 0) AS usd, COALESCE(SUM(tokens), 0) AS tokens FROM reservations WHERE scope = ? AND cap_key = ? AND expires_at > ?',
    );
    this.insert = db.prepare(
      `INSERT INTO reservations (id, scope, cap_key, usd, tokens, run_id, call_key, model, created_at, expires_at)
       VALUES (@id, @scope, @capKey, @usd, @tokens, @runId, @callKey, @model, @createdAt, @expiresAt)`,
    );
    this.remove = db.prepare('DELETE FROM reservations WHERE id = ?');
    this.insertLedger = db.prepare(LEDGER_INSERT);
    this.extend = db.prepare('UPDATE reservations SET expires_at = ? WHERE id = ?');
    this.expire = db.prepare('DELETE FROM reservations WHERE expires_at <= ?');
  }

  private spentFor(cap: Cap): Sums {
    return this.spent[cap.scope].get(...capSpendArgs(cap)) as Sums;
  }

  private states(caps: readonly Cap[], now: number): CapState[] {
    return caps.map((cap) => {
      const spent = this.spentFor(cap);
      const held = this.held.get(cap.scope, cap.key, now) as Sums;
      return { cap, spentUsd: spent.usd, spentTokens: spent.tokens, reservedUsd: held.usd, reservedTokens: held.tokens };
    });
  }

  async holdIf<T>(request: HoldRequest, now: number, judge: (states: CapState[]) => HoldVerdict<T>): Promise<HoldVerdict<T>> {
    return this.db
      .transaction((): HoldVerdict<T> => {
        const verdict = judge(this.states(request.caps, now));
        if (!verdict.hold) return verdict;
        for (const cap of request.caps) {
          this.insert.run({
            id: request.id,
            scope: cap.scope,
            capKey: cap.key,
            usd: request.usd,
            tokens: request.tokens,
            runId: request.runId,
            callKey: request.callKey,
            model: request.model,
            createdAt: request.createdAt,
            expiresAt: request.expiresAt,
          });
        }
        return verdict;
      })
      .immediate();
  }

  async release(id: string): Promise<boolean> {
    return this.remove.run(id).changes > 0;
  }

  async releaseAndRecord(id: string, entry: LedgerEntry): Promise<number> {
    return this.db
      .transaction(() => {
        this.remove.run(id);
        return Number(this.insertLedger.run(ledgerParams(entry)).lastInsertRowid);
      })
      .immediate();
  }

  async renew(id: string, expiresAt: number): Promise<boolean> {
    return this.extend.run(expiresAt, id).changes > 0;
  }

  async capStates(caps: readonly Cap[], now: number): Promise<CapState[]> {
    return this.db.transaction(() => this.states(caps, now))();
  }

  async sweep(now: number): Promise<number> {
    return this.expire.run(now).changes;
  }
}
