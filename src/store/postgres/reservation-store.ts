/** @module PostgreSQL side of the reservation engine (port of src/store/sqlite/reservation-store.ts). */
import type { Cap, CapState } from '../../budget/caps-types.js';
import type { LedgerEntry } from '../../budget/ledger-types.js';
import { BILLED_ROWS, capSpendArgs } from '../cap-keys.js';
import type { HoldRequest, HoldVerdict, ReservationStore } from '../reservation-types.js';
import type { PgDb, Queryable } from './db.js';
import { insertLedgerEntry } from './ledger-store.js';

/** Each scope's ledger filter; `$n` placeholders numbered from 1 in `capSpendArgs` order. */
const SPENT_WHERE: Record<Cap['scope'], string> = {
  run: 'run_id = $1',
  phase: 'run_id = $1 AND phase = $2',
  call: 'run_id = $1 AND call_key = $2',
  // Daily caps are money: rows of sim and replay gateways (nobody billed) are not counted.
  'workflow-day': `workflow = $1 AND ended_at >= $2 AND ended_at < $3 AND ${BILLED_ROWS}`,
  'store-day': `ended_at >= $1 AND ended_at < $2 AND ${BILLED_ROWS}`,
};

/** Renumbers `$1…` of a fragment to start after `offset` parameters. */
const shift = (sql: string, offset: number) => sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);

/**
 * The advisory lock key's first half: says the lock is a cap's (the second half hashes the cap).
 * Transaction-scoped locks only (`pg_advisory_xact_lock`), released at commit or rollback.
 */
const CAP_LOCK_CLASS = 0x64726f76; // "drov"

interface StateRow {
  i: number;
  spent_usd: number;
  spent_tokens: number;
  held_usd: number;
  held_tokens: number;
}

/**
 * The state of every cap in ONE statement, so from one snapshot: under READ COMMITTED each
 * statement sees the commits before it started, and `releaseAndRecord` turns a hold into a ledger
 * row in one commit — read in two statements, a request settling in between would be counted
 * neither as held nor as spent.
 */
async function readStates(q: Queryable, caps: readonly Cap[], now: number): Promise<CapState[]> {
  if (caps.length === 0) return [];
  const params: unknown[] = [now];
  const parts = caps.map((cap, i) => {
    const args = capSpendArgs(cap);
    const where = shift(SPENT_WHERE[cap.scope], params.length);
    params.push(...args);
    params.push(cap.scope, cap.key);
    const scope = `$${params.length - 1}`;
    const key = `$${params.length}`;
    return `SELECT ${i} AS i,
      (SELECT COALESCE(SUM(cost_usd), 0) FROM ledger WHERE ${where}) AS spent_usd,
      (SELECT COALESCE(SUM(output_tokens), 0) FROM ledger WHERE ${where}) AS spent_tokens,
      (SELECT COALESCE(SUM(usd), 0) FROM reservations WHERE scope = ${scope} AND cap_key = ${key} AND expires_at > $1) AS held_usd,
      (SELECT COALESCE(SUM(tokens), 0) FROM reservations WHERE scope = ${scope} AND cap_key = ${key} AND expires_at > $1) AS held_tokens`;
  });
  const rows = (await q.query<StateRow>(parts.join('\nUNION ALL\n'), params)).rows;
  const byIndex = new Map(rows.map((r) => [r.i, r]));
  return caps.map((cap, i) => {
    const r = byIndex.get(i) as StateRow;
    return { cap, spentUsd: r.spent_usd, spentTokens: r.spent_tokens, reservedUsd: r.held_usd, reservedTokens: r.held_tokens };
  });
}

/**
 * PostgreSQL side of the reservation engine: spent per scope from the `ledger` table (cost_usd,
 * output_tokens), held from the `reservations` table — the same tables and figures as SQLite's.
 *
 * Atomicity across processes and connections: SQLite's `BEGIN IMMEDIATE` serialises every writer;
 * here `holdIf` takes a transaction-scoped advisory lock per cap (hash of the store's schema, scope
 * and key; all of a request's locks in one statement, in hash order, so two requests sharing caps
 * cannot deadlock) before it reads the caps' states. Two holds against one cap therefore run one
 * after the other, and the second reads (in a statement that starts after the first committed)
 * the first one's hold. Settling needs no cap lock: it moves a request from held to spent in one
 * commit, which a reader sees entirely or not at all (see `readStates`).
 */
export class PgReservationStore implements ReservationStore {
  constructor(private readonly db: PgDb) {}

  async holdIf<T>(request: HoldRequest, now: number, judge: (states: CapState[]) => HoldVerdict<T>): Promise<HoldVerdict<T>> {
    return this.db.tx(async (q) => {
      const caps = request.caps;
      if (caps.length > 0) {
        await q.query(
          `SELECT pg_advisory_xact_lock(${CAP_LOCK_CLASS}, h) FROM (
             SELECT DISTINCT hashtext(current_schema() || E'\\n' || scope || E'\\n' || cap_key) AS h
             FROM unnest($1::text[], $2::text[]) AS c(scope, cap_key) ORDER BY h
           ) AS locks`,
          [caps.map((c) => c.scope), caps.map((c) => c.key)],
        );
      }
      const verdict = judge(await readStates(q, caps, now));
      if (!verdict.hold || caps.length === 0) return verdict;
      const params: unknown[] = [
        request.id,
        request.usd,
        request.tokens,
        request.runId,
        request.callKey,
        request.model,
        request.createdAt,
        request.expiresAt,
      ];
      const tuples = caps.map((cap) => {
        params.push(cap.scope, cap.key);
        return `($1, $${params.length - 1}, $${params.length}, $2, $3, $4, $5, $6, $7, $8)`;
      });
      await q.query(
        `INSERT INTO reservations (id, scope, cap_key, usd, tokens, run_id, call_key, model, created_at, expires_at) VALUES ${tuples.join(', ')}`,
        params,
      );
      return verdict;
    });
  }

  async release(id: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM reservations WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async releaseAndRecord(id: string, entry: LedgerEntry): Promise<number> {
    return this.db.tx(async (q) => {
      await q.query('DELETE FROM reservations WHERE id = $1', [id]);
      return insertLedgerEntry(q, entry);
    });
  }

  async renew(id: string, expiresAt: number): Promise<boolean> {
    return ((await this.db.query('UPDATE reservations SET expires_at = $1 WHERE id = $2', [expiresAt, id])).rowCount ?? 0) > 0;
  }

  async capStates(caps: readonly Cap[], now: number): Promise<CapState[]> {
    return readStates(this.db, caps, now);
  }

  async sweep(now: number): Promise<number> {
    return (await this.db.query('DELETE FROM reservations WHERE expires_at <= $1', [now])).rowCount ?? 0;
  }
}
