import type Database from 'better-sqlite3';
import type { EncodedSpanRow, SpanQuery, SpanStore, StoredSpan } from '../span-types.js';

const COLUMNS =
  'trace_key, trace_id, span_id, parent_span_id, name, kind, service, scope, start_us, end_us, status_code, status_message, run_id, attributes_json, resource_json, events_json';

/** A row read in raw (array) mode, in COLUMNS order. */
type RawRow = [
  number,
  string,
  string,
  string | null,
  string,
  number,
  string | null,
  string | null,
  number,
  number,
  number,
  string | null,
  string | null,
  string,
  string,
  string | null,
];

/**
 * A stored span read back. Attributes and events are parsed on first use: an assertion
 * over 100,000 spans mostly looks at names, kinds and links, not every attribute.
 */
class ReadSpan implements StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  service: string | null;
  scope: string | null;
  startUs: number;
  endUs: number;
  statusCode: number;
  statusMessage: string | null;
  runId: string | null;
  resource: StoredSpan['resource'];
  private attrs: StoredSpan['attributes'] | undefined;
  private evts: StoredSpan['events'] | undefined;

  constructor(
    r: RawRow,
    resource: StoredSpan['resource'],
    private readonly attributesJson: string,
    private readonly eventsJson: string | null,
  ) {
    this.traceId = r[1];
    this.spanId = r[2];
    this.parentSpanId = r[3];
    this.name = r[4];
    this.kind = r[5];
    this.service = r[6];
    this.scope = r[7];
    this.startUs = r[8];
    this.endUs = r[9];
    this.statusCode = r[10];
    this.statusMessage = r[11];
    this.runId = r[12];
    this.resource = resource;
  }

  get attributes(): StoredSpan['attributes'] {
    this.attrs ??= JSON.parse(this.attributesJson) as StoredSpan['attributes'];
    return this.attrs;
  }
  set attributes(value: StoredSpan['attributes']) {
    this.attrs = value;
  }
  get events(): StoredSpan['events'] {
    this.evts ??= this.eventsJson ? (JSON.parse(this.eventsJson) as StoredSpan['events']) : [];
    return this.evts;
  }
  set events(value: StoredSpan['events']) {
    this.evts = value;
  }

  /** Plain data for JSON.stringify (getters are not own properties). */
  toJSON(): StoredSpan {
    const { attributesJson: _a, eventsJson: _e, attrs: _x, evts: _y, ...rest } = this as unknown as Record<string, unknown>;
    return { ...(rest as unknown as StoredSpan), attributes: this.attributes, events: this.events };
  }
}

/** Resource JSON repeats across a service's spans: parse each distinct text once per read. */
function fromRaw(r: RawRow, resources: Map<string, StoredSpan['resource']>): StoredSpan {
  let resource = resources.get(r[14]);
  if (!resource) {
    resource = JSON.parse(r[14]) as StoredSpan['resource'];
    resources.set(r[14], resource);
  }
  return new ReadSpan(r, resource, r[13], r[15]);
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

/** Rows for a batch of spans, stringifying each distinct resource once (a batch usually shares one). */
export function encodeSpanRows(spans: StoredSpan[]): EncodedSpanRow[] {
  let last: unknown = null;
  let json = '{}';
  return spans.map((s) => {
    if (s.resource !== last) {
      last = s.resource;
      json = JSON.stringify(s.resource);
    }
    return encodeSpanRow(s, json);
  });
}

/**
 * Spans in SQLite: rows in arrival order, indexed by trace key, run, name and start time.
 * A span sent twice (an OTLP retry) is stored twice and read once.
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
      byTrace: db.prepare(`SELECT ${COLUMNS} FROM spans WHERE trace_key = ? AND trace_id = ? ORDER BY start_us, id`).raw(),
      byRun: db
        .prepare(
          `SELECT ${COLUMNS} FROM spans WHERE trace_key IN (SELECT DISTINCT trace_key FROM spans WHERE run_id = ?)
         AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE run_id = ?) ORDER BY start_us, id`,
        )
        .raw(),
      since: db.prepare(`SELECT ${COLUMNS} FROM spans WHERE start_us >= ? ORDER BY start_us, id LIMIT ?`).raw(),
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
    return this.insertEncodedSpans(encodeSpanRows(spans));
  }

  async querySpans(q: SpanQuery): Promise<StoredSpan[]> {
    let rows: RawRow[];
    if (q.traceId) rows = this.s.byTrace.all(traceKey(q.traceId), q.traceId) as RawRow[];
    else if (q.runId) rows = this.s.byRun.all(q.runId, q.runId) as RawRow[];
    else rows = this.s.since.all(q.sinceUs ?? 0, q.limit ?? 1_000_000) as RawRow[];
    if (q.sinceUs !== undefined && (q.traceId || q.runId)) rows = rows.filter((r) => r[8] >= (q.sinceUs as number));
    // A span received twice (an OTLP retry) is read once: the later copy wins. Span ids are
    // random 64-bit values, so a repeated id is checked against its trace only then.
    const ids = new Set<string>();
    for (const r of rows) ids.add(r[2]);
    if (ids.size !== rows.length) {
      const last = new Map<string, number>();
      rows.forEach((r, i) => {
        last.set(`${r[1]}/${r[2]}`, i);
      });
      rows = rows.filter((r, i) => last.get(`${r[1]}/${r[2]}`) === i);
    }
    const resources = new Map<string, StoredSpan['resource']>();
    return rows.map((r) => fromRaw(r, resources));
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
