/**
 * @module Retention and deletion on PostgreSQL (see ../retention-types.ts): the port of
 * src/store/sqlite/retention-store.ts — the `deletions` log and the `runs.content_dropped_at` mark.
 * Each change runs in one transaction that first locks the run's row (FOR UPDATE), so a driver
 * cannot take the run's lease between the lease check and the change.
 */
import { NotFoundError, RunLeaseError } from '../../core/errors.js';
import { type DeletionRow, deletionFromRow, RETENTION_RUN_COLUMNS, type RetentionRunRow, retentionRunFromRow } from '../retention-rows.js';
import { CONTENT_ATTRIBUTES, type DeletionRecord, type RemovedCounts, type RetentionRun, type RetentionStore } from '../retention-types.js';
import type { PgDb, Queryable } from './db.js';
import { traceKeyParam } from './span-store.js';

const ZERO: RemovedCounts = { calls: 0, spans: 0, events: 0, questions: 0, ledgerAnonymised: 0, transcripts: 0, runs: 0 };
const REMOVED = '(removed by retention)';

/**
 * A stored error's JSON with its message replaced, as SQLite's
 * `json_object('code', json_extract(error_json, '$.code'), 'message', ?)` writes it. Computed here:
 * PostgreSQL's JSON functions refuse text holding `\u0000`, which an error message may.
 */
function redactedError(errorJson: string): string {
  let code: unknown = null;
  try {
    code = (JSON.parse(errorJson) as { code?: unknown } | null)?.code ?? null;
  } catch {}
  return JSON.stringify({ code, message: REMOVED });
}

/** Span attributes without the content ones (as SQLite's `json_remove`); undefined when nothing changes. */
function withoutContent(attributesJson: string): string | undefined {
  if (!CONTENT_ATTRIBUTES.some((a) => attributesJson.includes(`"${a}"`))) return undefined;
  const attrs = JSON.parse(attributesJson) as Record<string, unknown>;
  let changed = false;
  for (const a of CONTENT_ATTRIBUTES) {
    if (Object.hasOwn(attrs, a)) {
      delete attrs[a];
      changed = true;
    }
  }
  return changed ? JSON.stringify(attrs) : undefined;
}

const count = async (q: Queryable, sql: string, params: unknown[]): Promise<number> =>
  Number((await q.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0);
const change = async (q: Queryable, sql: string, params: unknown[]): Promise<number> => (await q.query(sql, params)).rowCount ?? 0;

export class PgRetentionStore implements RetentionStore {
  constructor(readonly db: PgDb) {}

  async runs(): Promise<RetentionRun[]> {
    const rows = await this.db.rows<RetentionRunRow>(`SELECT ${RETENTION_RUN_COLUMNS} FROM runs ORDER BY created_at, id COLLATE "C"`);
    return rows.map(retentionRunFromRow);
  }

  /** The trace ids of a run: the one drover gives it and any its spans name. */
  private async traces(q: Queryable, runId: string, traceIdOf?: (runId: string) => string): Promise<string[]> {
    const found = await q.query<{ trace_id: string }>('SELECT DISTINCT trace_id FROM spans WHERE run_id = $1', [runId]);
    const ids = new Set(found.rows.map((r) => r.trace_id));
    if (traceIdOf) ids.add(traceIdOf(runId));
    return [...ids];
  }

  /**
   * Removes run `runId` inside the caller's transaction — every span of its traces (and of the trace
   * `traceIdOf` names), calls, events, questions, transcripts, reservations and the run row — keeping
   * its ledger rows' figures with their names cleared (the ledger is the truth about money: daily
   * caps count today's rows). Shared by `deleteRun` (delete, gc) and `Store.deleteRuns` (prune).
   */
  async removeRunRows(q: Queryable, runId: string, traceIdOf?: (runId: string) => string): Promise<RemovedCounts> {
    const counts = { ...ZERO, runs: 1 };
    for (const t of await this.traces(q, runId, traceIdOf)) {
      counts.spans += await change(q, 'DELETE FROM spans WHERE trace_key = $1 AND trace_id = $2', [traceKeyParam(t), t]);
    }
    counts.spans += await change(q, 'DELETE FROM spans WHERE run_id = $1', [runId]);
    counts.calls = await change(q, 'DELETE FROM calls WHERE run_id = $1', [runId]);
    counts.events = await change(q, 'DELETE FROM events WHERE run_id = $1', [runId]);
    counts.questions = await change(q, 'DELETE FROM questions WHERE run_id = $1', [runId]);
    counts.transcripts = await change(q, 'DELETE FROM transcripts WHERE run_id = $1', [runId]);
    counts.ledgerAnonymised = await change(
      q,
      'UPDATE ledger SET call_key = NULL, agent_label = NULL, phase = NULL, session = NULL, request_id = NULL WHERE run_id = $1',
      [runId],
    );
    await change(q, 'DELETE FROM reservations WHERE run_id = $1', [runId]);
    await change(q, 'DELETE FROM runs WHERE id = $1', [runId]);
    return counts;
  }

  /** Logs one deletion (inside the caller's transaction): what was removed, never content. */
  async record(
    q: Queryable,
    runId: string,
    kind: DeletionRecord['kind'],
    now: number,
    actor: string,
    counts: RemovedCounts,
  ): Promise<void> {
    await q.query('INSERT INTO deletions (run_id, kind, at, actor, counts_json) VALUES ($1, $2, $3, $4, $5)', [
      runId,
      kind,
      now,
      actor,
      JSON.stringify(counts),
    ]);
  }

  /**
   * Inside a transaction: locks the run's row until commit and refuses a run a live process drives.
   * @throws NotFoundError for an unknown run; RunLeaseError while its lease is live.
   */
  private async lease(q: Queryable, runId: string, now: number, lock = true): Promise<void> {
    const row = (
      await q.query<{ lease_expires_at: number | null; lease_pid: number | null }>(
        `SELECT lease_expires_at, lease_pid FROM runs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
        [runId],
      )
    ).rows[0];
    if (!row) throw new NotFoundError(`run ${runId}`);
    if (row.lease_expires_at !== null && row.lease_expires_at > now) {
      throw new RunLeaseError(`run ${runId} is being driven by a live process (pid ${row.lease_pid}); it is not changed`);
    }
  }

  async dropContent(runId: string, now: number, actor: string, traceIdOf: (runId: string) => string): Promise<RemovedCounts> {
    return this.db.tx(async (q): Promise<RemovedCounts> => {
      await this.lease(q, runId, now);
      const counts = { ...ZERO };
      const failed = (
        await q.query<{ key: string; error_json: string }>(
          'SELECT key, error_json FROM calls WHERE run_id = $1 AND error_json IS NOT NULL FOR UPDATE',
          [runId],
        )
      ).rows;
      counts.calls = await change(q, 'UPDATE calls SET inputs_json = NULL, result_json = NULL, detail_json = NULL WHERE run_id = $1', [
        runId,
      ]);
      if (failed.length) {
        await q.query(
          `UPDATE calls c SET error_json = e.error_json FROM unnest($2::text[], $3::text[]) AS e(key, error_json)
           WHERE c.run_id = $1 AND c.key = e.key`,
          [runId, failed.map((c) => c.key), failed.map((c) => redactedError(c.error_json))],
        );
      }
      for (const t of await this.traces(q, runId, traceIdOf)) {
        const spans = await q.query<{ id: number; attributes_json: string }>(
          'SELECT id, attributes_json FROM spans WHERE trace_key = $1 AND trace_id = $2 FOR UPDATE',
          [traceKeyParam(t), t],
        );
        const ids: number[] = [];
        const texts: string[] = [];
        for (const s of spans.rows) {
          const text = withoutContent(s.attributes_json);
          if (text === undefined) continue;
          ids.push(s.id);
          texts.push(text);
        }
        if (ids.length) {
          await q.query(
            'UPDATE spans s SET attributes_json = u.attributes_json FROM unnest($1::bigint[], $2::text[]) AS u(id, attributes_json) WHERE s.id = u.id',
            [ids, texts],
          );
        }
        counts.spans += await change(
          q,
          'UPDATE spans SET events_json = NULL, status_message = NULL WHERE trace_key = $1 AND trace_id = $2',
          [traceKeyParam(t), t],
        );
      }
      counts.events = await change(q, "DELETE FROM events WHERE run_id = $1 AND type = 'log'", [runId]);
      // Agent transcripts are content through and through (prompts, tool inputs and outputs).
      counts.transcripts = await change(q, 'DELETE FROM transcripts WHERE run_id = $1', [runId]);
      counts.questions = await change(
        q,
        'UPDATE questions SET question = $1, choices_json = NULL, answer = CASE WHEN answer IS NULL THEN NULL ELSE $1 END WHERE run_id = $2',
        [REMOVED, runId],
      );
      const run = (await q.query<{ error_json: string | null }>('SELECT error_json FROM runs WHERE id = $1', [runId])).rows[0];
      await q.query(
        `UPDATE runs SET result_json = NULL, args_json = 'null', script_source = '', content_dropped_at = $1, error_json = $2 WHERE id = $3`,
        [now, run?.error_json == null ? null : redactedError(run.error_json), runId],
      );
      await this.record(q, runId, 'gc-content', now, actor, counts);
      return counts;
    });
  }

  async deleteRun(
    runId: string,
    options: { now: number; actor: string; kind: 'delete' | 'gc-run'; traceIdOf: (runId: string) => string; dryRun?: boolean },
  ): Promise<RemovedCounts> {
    if (options.dryRun) {
      const q = this.db;
      await this.lease(q, runId, options.now, false);
      const counts = { ...ZERO, runs: 1 };
      for (const t of await this.traces(q, runId, options.traceIdOf)) {
        counts.spans += await count(q, 'SELECT COUNT(*) AS n FROM spans WHERE trace_key = $1 AND trace_id = $2', [traceKeyParam(t), t]);
      }
      counts.calls = await count(q, 'SELECT COUNT(*) AS n FROM calls WHERE run_id = $1', [runId]);
      counts.events = await count(q, 'SELECT COUNT(*) AS n FROM events WHERE run_id = $1', [runId]);
      counts.questions = await count(q, 'SELECT COUNT(*) AS n FROM questions WHERE run_id = $1', [runId]);
      counts.ledgerAnonymised = await count(q, 'SELECT COUNT(*) AS n FROM ledger WHERE run_id = $1', [runId]);
      return counts;
    }
    return this.db.tx(async (q) => {
      await this.lease(q, runId, options.now);
      const removed = await this.removeRunRows(q, runId, options.traceIdOf);
      await this.record(q, runId, options.kind, options.now, options.actor, removed);
      return removed;
    });
  }

  async contentDroppedAt(runId: string): Promise<number | null> {
    const row = (
      await this.db.rows<{ content_dropped_at: number | null }>('SELECT content_dropped_at FROM runs WHERE id = $1', [runId])
    )[0];
    return row?.content_dropped_at ?? null;
  }

  async deletions(limit = 1000): Promise<DeletionRecord[]> {
    const rows = await this.db.rows<DeletionRow>(
      'SELECT id, run_id, kind, at, actor, counts_json FROM deletions ORDER BY id DESC LIMIT $1',
      [limit],
    );
    return rows.map(deletionFromRow);
  }
}
