/** @module PostgreSQL side of run control (`runs.stop_requested_at`) and agent transcripts (port of src/store/sqlite/control-store.ts). */
import { LeaseLostError, NotFoundError } from '../../core/index.js';
import { type ControlStore, STOPPED_ERROR, type StopOutcome, type StopRequest } from '../control-types.js';
import { leaseFromRow } from '../rows.js';
import { type TranscriptRow, transcriptFromRow } from '../transcript-rows.js';
import type { TranscriptRecord, TranscriptStore } from '../transcript-types.js';
import type { Fence, RunStatus } from '../types.js';
import { PG_UNIQUE_VIOLATION, type PgDb } from './db.js';

interface StopRow {
  status: RunStatus;
  lease_token: string | null;
  lease_pid: number | null;
  lease_host: string | null;
  lease_expires_at: number | null;
}

export class PgControlStore implements ControlStore {
  constructor(private readonly db: PgDb) {}

  /**
   * The run's row is locked (FOR UPDATE) from the read to the write, so a driver taking or
   * releasing the lease meanwhile waits, and the outcome matches the lease it was decided on.
   */
  async requestStop(req: StopRequest): Promise<StopOutcome> {
    return this.db.tx(async (q): Promise<StopOutcome> => {
      const row = (
        await q.query<StopRow>('SELECT status, lease_token, lease_pid, lease_host, lease_expires_at FROM runs WHERE id = $1 FOR UPDATE', [
          req.runId,
        ])
      ).rows[0];
      if (!row) throw new NotFoundError(`run ${req.runId}`);
      if (row.status === 'stopped') return { kind: 'already-stopped' };
      // A queued run (no driver yet) is stopped at once: no worker will take it.
      if (row.status !== 'running' && row.status !== 'waiting' && row.status !== 'queued') return { kind: 'ended', status: row.status };
      const lease = leaseFromRow(row);
      if (lease && lease.expiresAt > req.now && !req.isHolderGone(lease)) {
        await q.query('UPDATE runs SET stop_requested_at = $1 WHERE id = $2', [req.now, req.runId]);
        return { kind: 'requested', requestedAt: req.now, driver: lease };
      }
      await q.query(
        "UPDATE runs SET status = 'stopped', error_json = $1, finished_at = $2, updated_at = $2, stop_requested_at = NULL WHERE id = $3",
        [JSON.stringify(STOPPED_ERROR), req.now, req.runId],
      );
      return { kind: 'stopped' };
    });
  }

  async stopRequestedAt(runId: string): Promise<number | null> {
    const row = (await this.db.rows<{ at: number | null }>('SELECT stop_requested_at AS at FROM runs WHERE id = $1', [runId]))[0];
    return row?.at ?? null;
  }

  /** @throws LeaseLostError (`LEASE_LOST`) when `fence` no longer holds the run's lease */
  async clearStop(runId: string, fence?: Fence): Promise<void> {
    await this.db.tx(async (q) => {
      if (fence) {
        const row = (await q.query<{ lease_token: string | null }>('SELECT lease_token FROM runs WHERE id = $1 FOR SHARE', [fence.runId]))
          .rows[0];
        if (row?.lease_token !== fence.token) throw new LeaseLostError(fence.runId);
      }
      await q.query('UPDATE runs SET stop_requested_at = NULL WHERE id = $1 AND stop_requested_at IS NOT NULL', [runId]);
    });
  }
}

/** Tries of `save` when a racing save of the same call took the attempt number first. */
const SAVE_TRIES = 20;

export class PgTranscriptStore implements TranscriptStore {
  constructor(private readonly db: PgDb) {}

  /**
   * Numbers the attempt as the SQLite store does (one more than the call's last). Two saves of one
   * call racing on separate connections may pick the same number under READ COMMITTED: the
   * primary key refuses the second, which takes the next number.
   */
  async save(record: Omit<TranscriptRecord, 'attempt'>): Promise<TranscriptRecord> {
    const json = JSON.stringify(record.transcript);
    for (let tries = 1; ; tries++) {
      try {
        const row = (
          await this.db.rows<{ attempt: number }>(
            `INSERT INTO transcripts (run_id, call_key, attempt, label, created_at, transcript_json)
             VALUES ($1, $2, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM transcripts WHERE run_id = $1 AND call_key = $2), $3, $4, $5)
             RETURNING attempt`,
            [record.runId, record.callKey, record.label, record.createdAt, json],
          )
        )[0] as { attempt: number };
        return { ...record, attempt: row.attempt };
      } catch (err) {
        if ((err as { code?: string }).code !== PG_UNIQUE_VIOLATION || tries >= SAVE_TRIES) throw err;
      }
    }
  }

  async forCall(runId: string, callKey: string): Promise<TranscriptRecord[]> {
    return (
      await this.db.rows<TranscriptRow>('SELECT * FROM transcripts WHERE run_id = $1 AND call_key = $2 ORDER BY attempt', [runId, callKey])
    ).map(transcriptFromRow);
  }

  async callsWithTranscripts(runId: string): Promise<Map<string, number>> {
    const rows = await this.db.rows<{ call_key: string; n: number }>(
      'SELECT call_key, COUNT(*) AS n FROM transcripts WHERE run_id = $1 GROUP BY call_key',
      [runId],
    );
    return new Map(rows.map((r) => [r.call_key, r.n]));
  }
}
