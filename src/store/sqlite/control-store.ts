/** @module SQLite side of run control (schema v10 `runs.stop_requested_at`) and agent transcripts (v10 `transcripts`). */
import type Database from 'better-sqlite3';
import { LeaseLostError, NotFoundError } from '../../core/index.js';
import { type ControlStore, STOPPED_ERROR, type StopOutcome, type StopRequest } from '../control-types.js';
import { leaseFromRow } from '../rows.js';
import { type TranscriptRow, transcriptFromRow } from '../transcript-rows.js';
import type { TranscriptRecord, TranscriptStore } from '../transcript-types.js';
import type { Fence, RunStatus } from '../types.js';

interface StopRow {
  status: RunStatus;
  lease_token: string | null;
  lease_pid: number | null;
  lease_host: string | null;
  lease_expires_at: number | null;
}

export { STOPPED_ERROR };

export class SqliteControlStore implements ControlStore {
  private readonly read;
  private readonly request;
  private readonly markStopped;
  private readonly pending;
  private readonly clear;

  constructor(private readonly db: Database.Database) {
    this.read = db.prepare('SELECT status, lease_token, lease_pid, lease_host, lease_expires_at FROM runs WHERE id = ?');
    this.request = db.prepare('UPDATE runs SET stop_requested_at = ? WHERE id = ?');
    this.markStopped = db.prepare(
      "UPDATE runs SET status = 'stopped', error_json = ?, finished_at = ?, updated_at = ?, stop_requested_at = NULL WHERE id = ?",
    );
    this.pending = db.prepare('SELECT stop_requested_at FROM runs WHERE id = ?').pluck();
    this.clear = db.prepare('UPDATE runs SET stop_requested_at = NULL WHERE id = ? AND stop_requested_at IS NOT NULL');
  }

  async requestStop(req: StopRequest): Promise<StopOutcome> {
    return this.db
      .transaction((): StopOutcome => {
        const row = this.read.get(req.runId) as StopRow | undefined;
        if (!row) throw new NotFoundError(`run ${req.runId}`);
        if (row.status === 'stopped') return { kind: 'already-stopped' };
        // A queued run (no driver yet) is stopped at once: no worker will take it.
        if (row.status !== 'running' && row.status !== 'waiting' && row.status !== 'queued') return { kind: 'ended', status: row.status };
        const lease = leaseFromRow(row);
        if (lease && lease.expiresAt > req.now && !req.isHolderGone(lease)) {
          this.request.run(req.now, req.runId);
          return { kind: 'requested', requestedAt: req.now, driver: lease };
        }
        this.markStopped.run(JSON.stringify(STOPPED_ERROR), req.now, req.now, req.runId);
        return { kind: 'stopped' };
      })
      .immediate();
  }

  async stopRequestedAt(runId: string): Promise<number | null> {
    return (this.pending.get(runId) as number | null | undefined) ?? null;
  }

  async clearStop(runId: string, fence?: Fence): Promise<void> {
    this.db.transaction(() => {
      if (fence && this.db.prepare('SELECT lease_token FROM runs WHERE id = ?').pluck().get(fence.runId) !== fence.token) {
        throw new LeaseLostError(fence.runId);
      }
      this.clear.run(runId);
    })();
  }
}

export class SqliteTranscriptStore implements TranscriptStore {
  private readonly insert;
  private readonly byCall;
  private readonly counts;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(
      `INSERT INTO transcripts (run_id, call_key, attempt, label, created_at, transcript_json)
       VALUES (@runId, @callKey, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM transcripts WHERE run_id = @runId AND call_key = @callKey), @label, @createdAt, @json)
       RETURNING attempt`,
    );
    this.byCall = db.prepare('SELECT * FROM transcripts WHERE run_id = ? AND call_key = ? ORDER BY attempt');
    this.counts = db.prepare('SELECT call_key, COUNT(*) AS n FROM transcripts WHERE run_id = ? GROUP BY call_key');
  }

  async save(record: Omit<TranscriptRecord, 'attempt'>): Promise<TranscriptRecord> {
    const attempt = this.db.transaction(
      () =>
        (
          this.insert.get({
            runId: record.runId,
            callKey: record.callKey,
            label: record.label,
            createdAt: record.createdAt,
            json: JSON.stringify(record.transcript),
          }) as { attempt: number }
        ).attempt,
    )();
    return { ...record, attempt };
  }

  async forCall(runId: string, callKey: string): Promise<TranscriptRecord[]> {
    return (this.byCall.all(runId, callKey) as TranscriptRow[]).map(transcriptFromRow);
  }

  async callsWithTranscripts(runId: string): Promise<Map<string, number>> {
    return new Map((this.counts.all(runId) as { call_key: string; n: number }[]).map((r) => [r.call_key, r.n]));
  }
}
