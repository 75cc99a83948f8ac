/**
 * @module Retention and deletion on SQLite (see ../retention-types.ts): the `deletions` log and the
 * `runs.content_dropped_at` mark (schema migration "deletions").
 */
import type Database from 'better-sqlite3';
import { NotFoundError, RunLeaseError } from '../../core/errors.js';
import { type DeletionRow, deletionFromRow, RETENTION_RUN_COLUMNS, type RetentionRunRow, retentionRunFromRow } from '../retention-rows.js';
import { CONTENT_ATTRIBUTES, type DeletionRecord, type RemovedCounts, type RetentionRun, type RetentionStore } from '../retention-types.js';
import { traceKey } from './span-store.js';

const ZERO: RemovedCounts = { calls: 0, spans: 0, events: 0, questions: 0, ledgerAnonymised: 0, transcripts: 0, runs: 0 };
const REMOVED = '(removed by retention)';

export class SqliteRetentionStore implements RetentionStore {
  constructor(private readonly db: Database.Database) {}

  async runs(): Promise<RetentionRun[]> {
    const rows = this.db.prepare(`SELECT ${RETENTION_RUN_COLUMNS} FROM runs ORDER BY created_at, id`).all() as RetentionRunRow[];
    return rows.map(retentionRunFromRow);
  }

  /** The trace ids of a run: the one drover gives it and any its spans name. */
  private traces(runId: string, traceIdOf?: (runId: string) => string): string[] {
    const ids = new Set((this.db.prepare('SELECT DISTINCT trace_id FROM spans WHERE run_id = ?').pluck().all(runId) as string[]) ?? []);
    if (traceIdOf) ids.add(traceIdOf(runId));
    return [...ids];
  }

  /**
   * Removes run `runId` inside the caller's transaction — every span of its traces (and of the trace
   * `traceIdOf` names), calls, events, questions, transcripts, reservations and the run row — keeping
   * its ledger rows' figures with their names cleared (the ledger is the truth about money: daily
   * caps count today's rows). Shared by `deleteRun` (delete, gc) and `Store.deleteRuns` (prune).
   */
  removeRunRows(runId: string, traceIdOf?: (runId: string) => string): RemovedCounts {
    const change = (sql: string, ...params: unknown[]) => this.db.prepare(sql).run(...params).changes;
    const counts = { ...ZERO, runs: 1 };
    for (const t of this.traces(runId, traceIdOf))
      counts.spans += change('DELETE FROM spans WHERE trace_key = ? AND trace_id = ?', traceKey(t), t);
    counts.spans += change('DELETE FROM spans WHERE run_id = ?', runId);
    counts.calls = change('DELETE FROM calls WHERE run_id = ?', runId);
    counts.events = change('DELETE FROM events WHERE run_id = ?', runId);
    counts.questions = change('DELETE FROM questions WHERE run_id = ?', runId);
    counts.transcripts = change('DELETE FROM transcripts WHERE run_id = ?', runId);
    counts.ledgerAnonymised = change(
      'UPDATE ledger SET call_key = NULL, agent_label = NULL, phase = NULL, session = NULL, request_id = NULL WHERE run_id = ?',
      runId,
    );
    change('DELETE FROM reservations WHERE run_id = ?', runId);
    change('DELETE FROM runs WHERE id = ?', runId);
    return counts;
  }

  /** Logs one deletion (inside the caller's transaction): what was removed, never content. */
  record(runId: string, kind: DeletionRecord['kind'], now: number, actor: string, counts: RemovedCounts): void {
    this.db
      .prepare('INSERT INTO deletions (run_id, kind, at, actor, counts_json) VALUES (?, ?, ?, ?, ?)')
      .run(runId, kind, now, actor, JSON.stringify(counts));
  }

  private lease(runId: string, now: number): void {
    const row = this.db.prepare('SELECT lease_expires_at, lease_pid FROM runs WHERE id = ?').get(runId) as
      | { lease_expires_at: number | null; lease_pid: number | null }
      | undefined;
    if (!row) throw new NotFoundError(`run ${runId}`);
    if (row.lease_expires_at !== null && row.lease_expires_at > now) {
      throw new RunLeaseError(`run ${runId} is being driven by a live process (pid ${row.lease_pid}); it is not changed`);
    }
  }

  async dropContent(runId: string, now: number, actor: string, traceIdOf: (runId: string) => string): Promise<RemovedCounts> {
    const db = this.db;
    return db
      .transaction((): RemovedCounts => {
        this.lease(runId, now);
        const counts = { ...ZERO };
        counts.calls = db
          .prepare(
            `UPDATE calls SET inputs_json = NULL, result_json = NULL, detail_json = NULL,
             error_json = CASE WHEN error_json IS NULL THEN NULL ELSE json_object('code', json_extract(error_json, '$.code'), 'message', ?) END
             WHERE run_id = ?`,
          )
          .run(REMOVED, runId).changes;
        const paths = CONTENT_ATTRIBUTES.map((a) => `'$."${a}"'`).join(', ');
        const spans = db.prepare(
          `UPDATE spans SET attributes_json = json_remove(attributes_json, ${paths}), events_json = NULL, status_message = NULL
           WHERE trace_key = ? AND trace_id = ?`,
        );
        for (const t of this.traces(runId, traceIdOf)) counts.spans += spans.run(traceKey(t), t).changes;
        counts.events = db.prepare("DELETE FROM events WHERE run_id = ? AND type = 'log'").run(runId).changes;
        // Agent transcripts are content through and through (prompts, tool inputs and outputs).
        counts.transcripts = db.prepare('DELETE FROM transcripts WHERE run_id = ?').run(runId).changes;
        counts.questions = db
          .prepare(
            'UPDATE questions SET question = ?, choices_json = NULL, answer = CASE WHEN answer IS NULL THEN NULL ELSE ? END WHERE run_id = ?',
          )
          .run(REMOVED, REMOVED, runId).changes;
        db.prepare(
          `UPDATE runs SET result_json = NULL, args_json = 'null', script_source = '', content_dropped_at = ?,
           error_json = CASE WHEN error_json IS NULL THEN NULL ELSE json_object('code', json_extract(error_json, '$.code'), 'message', ?) END
           WHERE id = ?`,
        ).run(now, REMOVED, runId);
        this.record(runId, 'gc-content', now, actor, counts);
        return counts;
      })
      .immediate();
  }

  async deleteRun(
    runId: string,
    options: { now: number; actor: string; kind: 'delete' | 'gc-run'; traceIdOf: (runId: string) => string; dryRun?: boolean },
  ): Promise<RemovedCounts> {
    const db = this.db;
    const count = (sql: string, ...params: unknown[]) =>
      db
        .prepare(sql)
        .pluck()
        .get(...params) as number;
    const work = (): RemovedCounts => {
      this.lease(runId, options.now);
      if (options.dryRun) {
        const counts = { ...ZERO, runs: 1 };
        for (const t of this.traces(runId, options.traceIdOf))
          counts.spans += count('SELECT COUNT(*) FROM spans WHERE trace_key = ? AND trace_id = ?', traceKey(t), t);
        counts.calls = count('SELECT COUNT(*) FROM calls WHERE run_id = ?', runId);
        counts.events = count('SELECT COUNT(*) FROM events WHERE run_id = ?', runId);
        counts.questions = count('SELECT COUNT(*) FROM questions WHERE run_id = ?', runId);
        counts.ledgerAnonymised = count('SELECT COUNT(*) FROM ledger WHERE run_id = ?', runId);
        return counts;
      }
      const removed = this.removeRunRows(runId, options.traceIdOf);
      this.record(runId, options.kind, options.now, options.actor, removed);
      return removed;
    };
    return options.dryRun ? work() : db.transaction(work).immediate();
  }

  async contentDroppedAt(runId: string): Promise<number | null> {
    return (this.db.prepare('SELECT content_dropped_at FROM runs WHERE id = ?').pluck().get(runId) as number | null | undefined) ?? null;
  }

  async deletions(limit = 1000): Promise<DeletionRecord[]> {
    const rows = this.db
      .prepare('SELECT id, run_id, kind, at, actor, counts_json FROM deletions ORDER BY id DESC LIMIT ?')
      .all(limit) as DeletionRow[];
    return rows.map(deletionFromRow);
  }
}
