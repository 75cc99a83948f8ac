/**
 * @module Spans on PostgreSQL: the port of src/store/sqlite/span-store.ts, same table, same rows
 * (src/store/span-rows.ts encodes and reads them for both stores), same results for the same data.
 */
import { redactedJson } from '../../redact/index.js';
import {
  encodeSpanRow,
  encodeSpanRows,
  outlinesFromRows,
  SPAN_COLUMNS,
  SPAN_READ_COLUMNS,
  type SpanOutlineRow,
  type SpanRawRow,
  spanFromRow,
  spansFromRows,
  traceKey,
} from '../span-rows.js';
import type { EncodedSpanRow, SpanQuery, SpanStore, StoredSpan } from '../span-types.js';
import type { PgDb, Queryable } from './db.js';

/** The PostgreSQL type of each of SPAN_COLUMNS, in order: what `unnest` casts each array to. */
const COLUMN_TYPES = [
  'bigint', // trace_key
  'text', // trace_id
  'text', // span_id
  'text', // parent_span_id
  'text', // name
  'bigint', // kind
  'text', // service
  'text', // scope
  'bigint', // start_us
  'bigint', // end_us
  'bigint', // status_code
  'text', // status_message
  'text', // run_id
  'text', // attributes_json
  'text', // resource_json
  'text', // events_json
  'text', // extra_json
  'text', // origin_json
  'bigint', // start_ns_rem
  'bigint', // end_ns_rem
] as const;

/**
 * One statement inserts a whole batch: each column travels as one array parameter and `unnest`
 * turns the arrays back into rows, in order (so row ids follow arrival order, as on SQLite).
 * Twenty parameters whatever the batch size, where multi-row VALUES would need 20 per span.
 */
const INSERT_UNNEST = `INSERT INTO spans (${SPAN_COLUMNS}) SELECT * FROM unnest(${COLUMN_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;

/**
 * The plain text columns (ids, name, service, scope, status message, run id). PostgreSQL's text
 * cannot hold U+0000, which OTLP strings may carry (SQLite keeps it): in these columns it is stored
 * as U+FFFD. JSON columns need nothing: JSON text writes it as the escape `\u0000`.
 */
const PLAIN_TEXT = new Set([1, 2, 3, 4, 6, 7, 11, 12]);
export const withoutNul = (v: string | number | null): string | number | null =>
  typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;

/** Rows per insert statement: bounds the size of one statement's parameters (a span's row is ~1-10 KB). */
const INSERT_CHUNK = 5000;

/**
 * What an outline reads of `drover.cost.usd` (SQLite: `attributes_json ->> '$."drover.cost.usd"'`),
 * without parsing the attributes on the server: PostgreSQL's JSON parsing took 2.2 s for a
 * 20,000-span trace with 2 KB of attributes a span (this: about 0.3 s; SQLite: 0.1-0.2 s; it also
 * refuses text holding the escape \u0000, which SQLite reads). The attributes are JSON.stringify's
 * minified text (`encodeSpanRow`), so when the first `"drover.cost.usd":` follows `{` or `,` and no
 * `{` comes before it but the opening one, it is the top-level key (inside a string a quote is
 * escaped): `cost_text` is then the 64 characters after it. Otherwise (a nested object first, or a
 * key ending in that text) the whole text comes back (`cost_json`) and is parsed here.
 */
const OUTLINE_COLUMNS = `span_id, parent_span_id, name, kind, service, start_us, end_us, status_code,
  CASE WHEN k.p > 0 AND NOT c.nested AND left(c.w, 1) IN ('{', ',') THEN substr(c.w, 20) END AS cost_text,
  CASE WHEN k.p > 0 AND (c.nested OR left(c.w, 1) NOT IN ('{', ',')) THEN attributes_json END AS cost_json,
  id`;
// Each value is computed once per row (OFFSET 0 keeps the planner from copying the expressions into
// every use, where each would read the attributes text again): `p` where the key starts, `w` the
// character before it, the key and 64 characters after, `nested` whether a `{` comes between.
const OUTLINE_FROM = `spans,
  LATERAL (SELECT strpos(attributes_json, '"drover.cost.usd":') AS p OFFSET 0) AS k,
  LATERAL (SELECT CASE WHEN k.p > 0 THEN substr(attributes_json, k.p - 1, 83) END AS w,
    k.p > 0 AND strpos(substr(attributes_json, 2, k.p - 2), '{') > 0 AS nested OFFSET 0) AS c`;
type OutlineRead = [string, string | null, string, number, string | null, number, number, number, string | null, string | null, number];

/** A JSON number, `true` or `false` at the start of a value's text (what follows is `,` or `}`). */
const LEADING_VALUE = /^\s*(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false)\s*(?=[,}])/;

/** The cost as SQLite's `->>` gives it: a number, 1 or 0 for a boolean, null for anything else. */
function costOf(text: string | null, json: string | null): number | null {
  let value: unknown;
  if (text !== null) {
    const m = LEADING_VALUE.exec(text);
    value = m ? JSON.parse(m[1] as string) : null;
  } else if (json !== null) {
    value = (JSON.parse(json) as Record<string, unknown>)['drover.cost.usd'];
  }
  return typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : null;
}

/** A trace's index key as a parameter: null (matching nothing) for an id that is not hex. */
export const traceKeyParam = (traceId: string): number | null => {
  const key = traceKey(traceId);
  return Number.isNaN(key) ? null : key;
};

/** A query's rows as arrays in select order (column names are distinct and not numeric, so object order is select order). */
async function arrays<T>(q: Queryable, text: string, params: readonly unknown[]): Promise<T[]> {
  const { rows } = await q.query(text, params);
  return rows.map((r) => Object.values(r) as T);
}

/** The rows of every trace run `$1` has spans in, by trace key and id (the trace key is what the index holds). */
const TRACES_OF_RUN = `trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = $1)
  AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = $1)`;

/**
 * Spans in PostgreSQL: rows in arrival order, indexed by trace key, run, name and start time.
 * A span sent twice (an OTLP retry) is stored twice and read once; two different spans with one
 * span id are both kept and read (each has its own `rowId`; `duplicateSpanIds` finds them).
 */
export class PgSpanStore implements SpanStore {
  constructor(readonly db: PgDb) {}

  /** Inserts encoded rows with `q` (one statement per INSERT_CHUNK rows); returns how many. */
  private async insertRows(q: Queryable, rows: EncodedSpanRow[]): Promise<number> {
    for (let at = 0; at < rows.length; at += INSERT_CHUNK) {
      const chunk = rows.slice(at, at + INSERT_CHUNK);
      const columns = COLUMN_TYPES.map((_, c) => chunk.map(PLAIN_TEXT.has(c) ? (r) => withoutNul(r[c] ?? null) : (r) => r[c] ?? null));
      await q.query(INSERT_UNNEST, columns);
    }
    return rows.length;
  }

  /** Inside the caller's transaction (the journal's): writes spans, in one statement per chunk. */
  async insertMany(q: Queryable, spans: StoredSpan[]): Promise<void> {
    if (spans.length) await this.insertRows(q, encodeSpanRows(spans));
  }

  /**
   * Inside the caller's transaction (the journal's): writes one of drover's own spans again, replacing
   * the earlier rows drover wrote for the same run, trace and span id (received spans are never touched).
   */
  async replaceOwn(q: Queryable, sp: StoredSpan): Promise<void> {
    await q.query(
      "DELETE FROM spans WHERE trace_key = $1 AND trace_id = $2 AND span_id = $3 AND run_id IS NOT DISTINCT FROM $4 AND scope = 'drover'",
      [traceKeyParam(sp.traceId), withoutNul(sp.traceId), withoutNul(sp.spanId), withoutNul(sp.runId)],
    );
    await this.insertRows(q, [encodeSpanRow(sp, redactedJson(sp.resource))]);
  }

  async insertEncodedSpans(rows: EncodedSpanRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    // One statement is atomic by itself; several chunks share a transaction, as SQLite's batch does.
    if (rows.length <= INSERT_CHUNK) return this.insertRows(this.db, rows);
    return this.db.tx((q) => this.insertRows(q, rows));
  }

  async insertSpans(spans: StoredSpan[]): Promise<number> {
    return this.insertEncodedSpans(encodeSpanRows(spans));
  }

  async querySpans(q: SpanQuery): Promise<StoredSpan[]> {
    let rows: SpanRawRow[];
    if (q.traceId) {
      rows = await arrays<SpanRawRow>(
        this.db,
        `SELECT ${SPAN_READ_COLUMNS} FROM spans WHERE trace_key = $1 AND trace_id = $2 ORDER BY start_us, id`,
        [traceKeyParam(q.traceId), withoutNul(q.traceId)],
      );
    } else if (q.runId) {
      rows = await arrays<SpanRawRow>(this.db, `SELECT ${SPAN_READ_COLUMNS} FROM spans WHERE ${TRACES_OF_RUN} ORDER BY start_us, id`, [
        withoutNul(q.runId),
      ]);
    } else {
      rows = await arrays<SpanRawRow>(
        this.db,
        `SELECT ${SPAN_READ_COLUMNS} FROM spans WHERE start_us >= $1 ORDER BY start_us, id LIMIT $2`,
        [q.sinceUs ?? 0, q.limit ?? 1_000_000],
      );
    }
    return spansFromRows(rows, q.traceId || q.runId ? q.sinceUs : undefined);
  }

  async querySpanOutlines(traceId: string): Promise<StoredSpan[]> {
    const rows = await arrays<OutlineRead>(
      this.db,
      `SELECT ${OUTLINE_COLUMNS} FROM ${OUTLINE_FROM} WHERE trace_key = $1 AND trace_id = $2 ORDER BY start_us, id`,
      [traceKeyParam(traceId), withoutNul(traceId)],
    );
    return outlinesFromRows(
      traceId,
      rows.map((r): SpanOutlineRow => [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], costOf(r[8], r[9]), r[10]]),
    );
  }

  async spanAttributes(rowIds: readonly number[]): Promise<Map<number, StoredSpan['attributes']>> {
    const out = new Map<number, StoredSpan['attributes']>();
    if (rowIds.length === 0) return out;
    const rows = await this.db.rows<{ id: number; attributes_json: string }>(
      'SELECT id, attributes_json FROM spans WHERE id = ANY($1::bigint[])',
      [rowIds.filter((id) => Number.isSafeInteger(id))],
    );
    for (const r of rows) out.set(r.id, JSON.parse(r.attributes_json) as StoredSpan['attributes']);
    return out;
  }

  async getSpan(traceId: string, spanId: string): Promise<StoredSpan | undefined> {
    const rows = await arrays<SpanRawRow>(
      this.db,
      `SELECT ${SPAN_READ_COLUMNS} FROM spans WHERE trace_key = $1 AND trace_id = $2 AND span_id = $3 ORDER BY id DESC LIMIT 1`,
      [traceKeyParam(traceId), withoutNul(traceId), withoutNul(spanId)],
    );
    return rows[0] ? spanFromRow(rows[0]) : undefined;
  }

  async listTraces(options: { runId?: string; limit?: number } = {}) {
    const limit = options.limit ?? 100;
    // Run ids and trace ids (the order of traces that start together) compare byte by byte, as in
    // SQLite, whatever the database's collation.
    const select = `SELECT trace_id AS "traceId", COUNT(*) AS spans, MIN(start_us) AS "startUs", MAX(run_id COLLATE "C") AS "runId" FROM spans`;
    return options.runId
      ? this.db.rows<{ traceId: string; spans: number; startUs: number; runId: string | null }>(
          `${select} WHERE ${TRACES_OF_RUN} GROUP BY trace_id ORDER BY "startUs" DESC, trace_id COLLATE "C" DESC LIMIT $2`,
          [withoutNul(options.runId), limit],
        )
      : this.db.rows<{ traceId: string; spans: number; startUs: number; runId: string | null }>(
          `${select} GROUP BY trace_id ORDER BY "startUs" DESC, trace_id COLLATE "C" DESC LIMIT $1`,
          [limit],
        );
  }

  async deleteSpansBefore(endUs: number): Promise<number> {
    return (await this.db.query('DELETE FROM spans WHERE end_us < $1', [endUs])).rowCount ?? 0;
  }
}
