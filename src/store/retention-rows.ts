import type { DeletionRecord, RetentionRun } from './retention-types.js';

/** The `runs` columns retention reads, and `deletions` rows, as both stores return them; and their records. */

/** The columns of `runs` that `RetentionStore.runs` selects, in this order. */
export const RETENTION_RUN_COLUMNS = 'id, name, settings_json, created_at, updated_at, finished_at, content_dropped_at, lease_expires_at';

export interface RetentionRunRow {
  id: string;
  name: string;
  settings_json: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  content_dropped_at: number | null;
  lease_expires_at: number | null;
}

export const retentionRunFromRow = (r: RetentionRunRow): RetentionRun => ({
  id: r.id,
  name: r.name,
  settings: JSON.parse(r.settings_json),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
  contentDroppedAt: r.content_dropped_at,
  leaseExpiresAt: r.lease_expires_at,
});

export interface DeletionRow {
  id: number;
  run_id: string;
  kind: DeletionRecord['kind'];
  at: number;
  actor: string;
  counts_json: string;
}

export const deletionFromRow = (r: DeletionRow): DeletionRecord => ({
  id: r.id,
  runId: r.run_id,
  kind: r.kind,
  at: r.at,
  actor: r.actor,
  counts: JSON.parse(r.counts_json),
});
