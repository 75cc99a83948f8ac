import type Database from 'better-sqlite3';
import { CLAIM_CANDIDATES, isClaimable, type RunClaim, type RunClaimRequest, type RunQueue } from '../queue-types.js';
import { type RunRow, runFromRow } from '../rows.js';
import { sleepUnlessAborted } from './job-store.js';

/** The run queue on SQLite: claims in an IMMEDIATE transaction (one writer at a time); waiting polls. */
export class SqliteRunQueue implements RunQueue {
  private readonly candidates;
  private readonly take;
  private readonly back;

  constructor(private readonly db: Database.Database) {
    this.candidates = db.prepare(
      `SELECT * FROM runs WHERE pool = @pool AND status IN ('queued', 'running')
         AND (lease_token IS NULL OR lease_expires_at <= @now OR lease_host = @host)
       ORDER BY NOT (status = 'queued' OR lease_expires_at <= @now), created_at, id LIMIT ${CLAIM_CANDIDATES}`,
    );
    this.take = db.prepare(
      `UPDATE runs SET status = 'running', error_json = NULL, finished_at = NULL, updated_at = @now,
         lease_token = @token, lease_pid = @pid, lease_host = @host, lease_expires_at = @expiresAt WHERE id = @id`,
    );
    this.back = db.prepare(
      `UPDATE runs SET status = 'queued', error_json = NULL, finished_at = NULL, updated_at = ?,
         lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_expires_at = NULL
       WHERE id = ? AND lease_token = ? AND pool IS NOT NULL`,
    );
  }

  async claimRun(req: RunClaimRequest): Promise<RunClaim | null> {
    return this.db
      .transaction((): RunClaim | null => {
        const rows = this.candidates.all({ pool: req.pool, now: req.now, host: req.holder.host }) as RunRow[];
        const run = rows.map(runFromRow).find((r) => isClaimable(r, req));
        if (!run) return null;
        const expiresAt = req.now + req.ttlMs;
        this.take.run({ id: run.id, now: req.now, ...req.holder, expiresAt });
        const lease = { ...req.holder, expiresAt };
        return {
          run: { ...run, status: 'running', error: null, finishedAt: null, updatedAt: req.now, lease },
          tookOverFrom: run.lease,
        };
      })
      .immediate();
  }

  async requeue(runId: string, token: string, now: number): Promise<boolean> {
    return this.back.run(now, runId, token).changes === 1;
  }

  waitForWork(_pool: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return sleepUnlessAborted(timeoutMs, signal);
  }
}
