import type Database from 'better-sqlite3';
import { redactedJson } from '../../redact/index.js';
import {
  SPAN_COLUMNS as COLUMNS,
  encodeSpanRow,
  encodeSpanRows,
  outlinesFromRows,
  SPAN_READ_COLUMNS as READ_COLUMNS,
  type SpanOutlineRow,
  type SpanRawRow,
  spanFromRow,
  spansFromRows,
  traceKey,
} from '../span-rows.js';
import type { EncodedSpanRow, SpanQuery, SpanStore, StoredSpan } from '../span-types.js';

export { collapseRetries, duplicateSpanIds, encodeSpanRow, encodeSpanRows, traceKey } from '../span-rows.js';

/**
 * An outline read: ids, names, times, status code and service, the row id, and one attribute —
 * `drover.cost.usd`, which a waterfall rolls up over every span. Text columns (attributes,
 * resource, events) are most of a read's cost, so an outline leaves them in the file.
 */
const OUTLINE_COLUMNS = `span_id, parent_span_id, name, kind, service, start_us, end_us, status_code,
  attributes_json ->> '$."drover.cost.usd"', id`;

/**
 * Spans in SQLite: rows in arrival order, indexed by trace key, run, name and start time.
 * A span sent twice (an OTLP retry) is stored twice and read once; two different spans with one
 * span id are both kept and read (each has its own `rowId`; `duplicateSpanIds` finds them).
 */
export class SqliteSpanStore implements SpanStore {
  private readonly s;
  private readonly insertRowsTx: (rows: EncodedSpanRow[]) => number;
  /** Resource JSON is the same for a whole batch; stringify each distinct one once. */
  private lastResource: { value: unknown; json: string } = { value: null, json: '{}' };

  constructor(db: Database.Database) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO spans (${COLUMNS}) VALUES (${COLUMNS.split(', ')
          .map(() => '?')
          .join(', ')})`,
      ),
      byTrace: db.prepare(`SELECT ${READ_COLUMNS} FROM spans WHERE trace_key = ? AND trace_id = ? ORDER BY start_us, id`).raw(),
      outlineByTrace: db.prepare(`SELECT ${OUTLINE_COLUMNS} FROM spans WHERE trace_key = ? AND trace_id = ? ORDER BY start_us, id`).raw(),
      attributesOf: db.prepare('SELECT id, attributes_json FROM spans WHERE id IN (SELECT value FROM json_each(?))').raw(),
      oneOfTrace: db.prepare(`SELECT ${READ_COLUMNS} FROM spans WHERE trace_key = ? AND trace_id = ? AND span_id = ? ORDER BY id`).raw(),
      byRun: db
        .prepare(
          `SELECT ${READ_COLUMNS} FROM spans WHERE trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = ?)
         AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = ?) ORDER BY start_us, id`,
        )
        .raw(),
      since: db.prepare(`SELECT ${READ_COLUMNS} FROM spans WHERE start_us >= ? ORDER BY start_us, id LIMIT ?`).raw(),
      traces: db.prepare(
        `SELECT trace_id AS traceId, COUNT(*) AS spans, MIN(start_us) AS startUs, MAX(run_id) AS runId FROM spans
         GROUP BY trace_id ORDER BY startUs DESC, trace_id DESC LIMIT ?`,
      ),
      tracesOfRun: db.prepare(
        `SELECT trace_id AS traceId, COUNT(*) AS spans, MIN(start_us) AS startUs, MAX(run_id) AS runId FROM spans
         WHERE trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = ?)
         AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = ?) GROUP BY trace_id ORDER BY startUs DESC, trace_id DESC LIMIT ?`,
      ),
      deleteBefore: db.prepare('DELETE FROM spans WHERE end_us < ?'),
      deleteOwn: db.prepare("DELETE FROM spans WHERE trace_key = ? AND trace_id = ? AND span_id = ? AND run_id IS ? AND scope IS 'drover'"),
    };
    this.insertRowsTx = db
      .transaction((rows: EncodedSpanRow[]) => {
        for (const r of rows) this.s.insert.run(r);
        return rows.length;
      })
      .immediate.bind(null) as (rows: EncodedSpanRow[]) => number;
  }

  /** Inside an open transaction (the journal's): writes one span. */
  insertOne(sp: StoredSpan): void {
    if (sp.resource !== this.lastResource.value) this.lastResource = { value: sp.resource, json: redactedJson(sp.resource) };
    this.s.insert.run(encodeSpanRow(sp, this.lastResource.json));
  }

  /**
   * Inside an open transaction (the journal's): writes one of drover's own spans again, replacing
   * the earlier rows drover wrote for the same run, trace and span id (received spans are never touched).
   */
  replaceOwn(sp: StoredSpan): void {
    this.s.deleteOwn.run(traceKey(sp.traceId), sp.traceId, sp.spanId, sp.runId);
    this.insertOne(sp);
  }

  async insertEncodedSpans(rows: EncodedSpanRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    return this.insertRowsTx(rows);
  }

  async insertSpans(spans: StoredSpan[]): Promise<number> {
    return this.insertEncodedSpans(encodeSpanRows(spans));
  }

  async querySpans(q: SpanQuery): Promise<StoredSpan[]> {
    let rows: SpanRawRow[];
    if (q.traceId) rows = this.s.byTrace.all(traceKey(q.traceId), q.traceId) as SpanRawRow[];
    else if (q.runId) rows = this.s.byRun.all(q.runId, q.runId) as SpanRawRow[];
    else rows = this.s.since.all(q.sinceUs ?? 0, q.limit ?? 1_000_000) as SpanRawRow[];
    return spansFromRows(rows, q.traceId || q.runId ? q.sinceUs : undefined);
  }

  async querySpanOutlines(traceId: string): Promise<StoredSpan[]> {
    return outlinesFromRows(traceId, this.s.outlineByTrace.all(traceKey(traceId), traceId) as SpanOutlineRow[]);
  }

  async spanAttributes(rowIds: readonly number[]): Promise<Map<number, StoredSpan['attributes']>> {
    const out = new Map<number, StoredSpan['attributes']>();
    if (rowIds.length === 0) return out;
    for (const [id, json] of this.s.attributesOf.all(JSON.stringify(rowIds)) as [number, string][]) {
      out.set(id, JSON.parse(json) as StoredSpan['attributes']);
    }
    return out;
  }

  async getSpan(traceId: string, spanId: string): Promise<StoredSpan | undefined> {
    const rows = this.s.oneOfTrace.all(traceKey(traceId), traceId, spanId) as SpanRawRow[];
    const last = rows[rows.length - 1];
    return last ? spanFromRow(last) : undefined;
  }

  async listTraces(options: { runId?: string; limit?: number } = {}) {
    const limit = options.limit ?? 100;
    return (options.runId ? this.s.tracesOfRun.all(options.runId, options.runId, limit) : this.s.traces.all(limit)) as {
      traceId: string;
      spans: number;
      startUs: number;
      runId: string | null;
    }[];
  }

  async deleteSpansBefore(endUs: number): Promise<number> {
    return this.s.deleteBefore.run(endUs).changes;
  }
}
