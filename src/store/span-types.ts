/** drover's record of one span, whoever produced it (drover itself or anything sending OTLP). No I/O here. */

export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

/** OTLP enums, kept as numbers so records round-trip: kind 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
export const SPAN_KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
/** Status 0 unset, 1 ok, 2 error. */
export const STATUS_NAMES = ['unset', 'ok', 'error'] as const;

export interface SpanEvent {
  timeUs: number;
  name: string;
  attributes: Attributes;
}

export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  /** Microseconds since the epoch (OTLP's nanoseconds / 1000). */
  startUs: number;
  endUs: number;
  statusCode: number;
  statusMessage: string | null;
  /** `service.name` of the span's resource. */
  service: string | null;
  scope: string | null;
  attributes: Attributes;
  resource: Attributes;
  events: SpanEvent[];
  /** `drover.run.id` when the span (or its resource) carries one. */
  runId: string | null;
}

/** A span flattened to primitive values (attributes as JSON): what an ingest thread hands over. */
export type EncodedSpanRow = (string | number | null)[];

export interface SpanQuery {
  traceId?: string;
  runId?: string;
  /** Spans that started at or after this time (µs). */
  sinceUs?: number;
  limit?: number;
}

/** Where spans live: implemented by each Store. */
export interface SpanStore {
  insertSpans(spans: StoredSpan[]): Promise<number>;
  /** Spans already turned into row values by `encodeSpanRow` (off the main thread). */
  insertEncodedSpans(rows: EncodedSpanRow[]): Promise<number>;
  querySpans(query: SpanQuery): Promise<StoredSpan[]>;
  /** Trace ids with their span counts, newest first (for a run, or overall). */
  listTraces(options?: {
    runId?: string;
    limit?: number;
  }): Promise<{ traceId: string; spans: number; startUs: number; runId: string | null }[]>;
  /** Deletes spans that ended before the time; returns how many. */
  deleteSpansBefore(endUs: number): Promise<number>;
}
