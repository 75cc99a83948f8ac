import { CLAIM_CANDIDATES, isClaimable, type RunClaim, type RunClaimRequest, type RunQueue } from '../queue-types.js';
import { type RunRow, runFromRow } from '../rows.js';
import type { PgDb, Queryable } from './db.js';
import type { PgNotifier } from './notify.js';

/**
 * The run queue on PostgreSQL. A claim locks the oldest candidates with FOR UPDATE SKIP LOCKED —
 * racing workers skip each other's rows instead of queueing behind them — and takes the first
 * one the worker may drive. A queued or re-queued run is announced with NOTIFY, so idle workers
 * on every machine wake at once; a lapsed lease has no announcement, which the workers' polling finds.
 */
export class PgRunQueue implements RunQueue {
  constructor(
    private readonly db: PgDb,
    private readonly notifier: PgNotifier,
  ) {}

  get channel(): string {
    return this.notifier.channel('drover_runs');
  }

  /** Announces work in `pool` when `q`'s transaction commits. */
  announce(q: Queryable, pool: string): Promise<void> {
    return this.notifier.notify(q, this.channel, pool);
  }

  async claimRun(req: RunClaimRequest): Promise<RunClaim | null> {
    return this.db.tx(async (q): Promise<RunClaim | null> => {
      const rows = await q.query<RunRow>(
        `SELECT * FROM runs WHERE pool = $1 AND status IN ('queued', 'running')
           AND (lease_token IS NULL OR lease_expires_at <= $2 OR lease_host = $3)
         ORDER BY NOT (status = 'queued' OR lease_expires_at <= $2), created_at, id LIMIT ${CLAIM_CANDIDATES} FOR UPDATE SKIP LOCKED`,
        [req.pool, req.now, req.holder.host],
      );
      const run = rows.rows.map(runFromRow).find((r) => isClaimable(r, req));
      if (!run) return null;
      const expiresAt = req.now + req.ttlMs;
      await q.query(
        `UPDATE runs SET status = 'running', error_json = NULL, finished_at = NULL, updated_at = $2,
           lease_token = $3, lease_pid = $4, lease_host = $5, lease_expires_at = $6 WHERE id = $1`,
        [run.id, req.now, req.holder.token, req.holder.pid, req.holder.host, expiresAt],
      );
      return {
        run: { ...run, status: 'running', error: null, finishedAt: null, updatedAt: req.now, lease: { ...req.holder, expiresAt } },
        tookOverFrom: run.lease,
      };
    });
  }

  async requeue(runId: string, token: string, now: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      const info = await q.query<{ pool: string }>(
        `UPDATE runs SET status = 'queued', error_json = NULL, finished_at = NULL, updated_at = $1,
           lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_expires_at = NULL
         WHERE id = $2 AND lease_token = $3 AND pool IS NOT NULL RETURNING pool`,
        [now, runId, token],
      );
      const pool = info.rows[0]?.pool;
      if (pool) await this.announce(q, pool);
      return pool !== undefined;
    });
  }

  waitForWork(pool: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void> {
    return this.notifier.wait(this.channel, timeoutMs, signal, (payload) => payload === pool || payload === '', since);
  }
}
