import type Database from 'better-sqlite3';
import type { EncodedSpanRow, SpanQuery, SpanStore, StoredSpan } from '../span-types.js';

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: number;
  service: string | null;
  scope: string | null;
  start_us: number;
  end_us: number;
  status_code: number;
  status_message: string | null;
  run_id: string | null;
  attributes_json: string;
  resource_json: string;
  events_json: string | null;
}

const COLUMNS =
  'trace_key, trace_id, span_id, parent_span_id, name, kind, service, scope, start_us, end_us, status_code, status_message, run_id, attributes_json, resource_json, events_json';

function fromRow(r: SpanRow): StoredSpan {
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    name: r.name,
    kind: r.kind,
    service: r.service,
    scope: r.scope,
    startUs: r.start_us,
    endUs: r.end_us,
    statusCode: r.status_code,
    statusMessage: r.status_message,
    runId: r.run_id,
    attributes: JSON.parse(r.attributes_json),
    resource: JSON.parse(r.resource_json),
    events: r.events_json ? JSON.parse(r.events_json) : [],
  };
}

/** The index key of a trace: its first 52 bits, exact in a double. */
export const traceKey = (traceId: string): number => Number.parseInt(traceId.slice(0, 13), 16);

/** A span as the 16 values of its row, in COLUMNS order: cheap to hand between threads. */

export function encodeSpanRow(sp: StoredSpan, resourceJson: string = JSON.stringify(sp.resource)): EncodedSpanRow {
  return [
    traceKey(sp.traceId),
    sp.traceId,
    sp.spanId,
    sp.parentSpanId,
    sp.name,
    sp.kind,
    sp.service,
    sp.scope,
    sp.startUs,
    sp.endUs,
    sp.statusCode,
    sp.statusMessage,
    sp.runId,
    JSON.stringify(sp.attributes),
    resourceJson,
    sp.events.length ? JSON.stringify(sp.events) : null,
  ];
}

/**
 * Spans in SQLite: rows in arrival order, indexed by trace (unique with the span id),
 * run, name and start time. A span sent twice (an OTLP retry) replaces the earlier copy.
 */
export class SqliteSpanStore implements SpanStore {
  private readonly s;
  private readonly insertMany: (spans: StoredSpan[]) => number;
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
      byTrace: db.prepare(`SELECT ${COLUMNS} FROM spans WHERE trace_key = ? AND trace_id = ? ORDER BY start_us, id`),
      byRun: db.prepare(
        `SELECT ${COLUMNS} FROM spans WHERE trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = ?)
         AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = ?) ORDER BY start_us, id`,
      ),
      since: db.prepare(`SELECT ${COLUMNS} FROM spans WHERE start_us >= ? ORDER BY start_us, id LIMIT ?`),
      traces: db.prepare(
        `SELECT trace_id AS traceId, COUNT(*) AS spans, MIN(start_us) AS startUs, MAX(run_id) AS runId FROM spans
         GROUP BY trace_id ORDER BY startUs DESC LIMIT ?`,
      ),
      tracesOfRun: db.prepare(
        `SELECT trace_id AS traceId, COUNT(*) AS spans, MIN(start_us) AS startUs, MAX(run_id) AS runId FROM spans
         WHERE trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = ?)
         AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = ?) GROUP BY trace_id ORDER BY startUs DESC LIMIT ?`,
      ),
      deleteBefore: db.prepare('DELETE FROM spans WHERE end_us < ?'),
    };
    this.insertRowsTx = db
      .transaction((rows: EncodedSpanRow[]) => {
        for (const r of rows) this.s.insert.run(r);
        return rows.length;
      })
      .immediate.bind(null) as (rows: EncodedSpanRow[]) => number;
    this.insertMany = db
      .transaction((spans: StoredSpan[]) => {
        for (const sp of spans) this.insertOne(sp);
        return spans.length;
      })
      .immediate.bind(null) as (spans: StoredSpan[]) => number;
  }

  /** Inside an open transaction (the journal's): writes one span. */
  insertOne(sp: StoredSpan): void {
    if (sp.resource !== this.lastResource.value) this.lastResource = { value: sp.resource, json: JSON.stringify(sp.resource) };
    this.s.insert.run(encodeSpanRow(sp, this.lastResource.json));
  }

  async insertEncodedSpans(rows: EncodedSpanRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    return this.insertRowsTx(rows);
  }

  async insertSpans(spans: StoredSpan[]): Promise<number> {
    if (spans.length === 0) return 0;
    return this.insertMany(spans);
  }

  async querySpans(q: SpanQuery): Promise<StoredSpan[]> {
    let rows: SpanRow[];
    if (q.traceId) rows = this.s.byTrace.all(traceKey(q.traceId), q.traceId) as SpanRow[];
    else if (q.runId) rows = this.s.byRun.all(q.runId, q.runId) as SpanRow[];
    else rows = this.s.since.all(q.sinceUs ?? 0, q.limit ?? 1_000_000) as SpanRow[];
    if (q.sinceUs !== undefined && (q.traceId || q.runId)) rows = rows.filter((r) => r.start_us >= (q.sinceUs as number));
    // A span received twice (an OTLP retry) is read once: the later copy wins.
    const seen = new Map<string, SpanRow>();
    for (const r of rows) seen.set(`${r.trace_id}/${r.span_id}`, r);
    return (seen.size === rows.length ? rows : [...seen.values()]).map(fromRow);
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
