/** drover's record of one span, whoever produced it (drover itself or anything sending OTLP). No I/O here. */

export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };
export type Attributes = Record<string, AttrValue>;

/** OTLP enums, kept as numbers so records round-trip: kind 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
export const SPAN_KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
/** Status 0 unset, 1 ok, 2 error. */
export const STATUS_NAMES = ['unset', 'ok', 'error'] as const;

/**
 * An OTLP `AnyValue` kept exactly, in its OTLP/JSON form: 64-bit integers as decimal strings,
 * doubles as numbers (or `"NaN"`, `"Infinity"`, `"-Infinity"`), bytes as base64. `{}` is an empty value.
 * Source: opentelemetry-proto common/v1/common.proto and the proto3 JSON mapping.
 */
export type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number | 'NaN' | 'Infinity' | '-Infinity' }
  | { bytesValue: string }
  | { arrayValue: { values: OtlpAnyValue[] } }
  | { kvlistValue: { values: OtlpKeyValue[] } }
  | Record<string, never>;

/** One OTLP `KeyValue`, exact. */
export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

/**
 * What the plain `attributes` map cannot say, flagged per span: `start_time_missing` (no start time
 * came; `startUs` is 0), `end_time_missing`, `end_before_start` (stored as it came, so the duration is negative).
 */
export type SpanAnomaly = 'start_time_missing' | 'end_time_missing' | 'end_before_start';

export interface SpanEvent {
  timeUs: number;
  name: string;
  attributes: Attributes;
  /** Exact nanoseconds since the epoch (decimal) when they are not `timeUs * 1000`. */
  timeNanos?: string;
  droppedAttributesCount?: number;
  /** The attributes exactly, present only when `attributes` would lose something (see StoredSpan.typedAttributes). */
  typedAttributes?: OtlpKeyValue[];
}

/** An OTLP span link: to a span of this or another trace (a message-queue consumer to its producer). */
export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState?: string;
  /** W3C trace flags and the OTLP context-is-remote bits (fixed32). */
  flags?: number;
  attributes: Attributes;
  droppedAttributesCount?: number;
  typedAttributes?: OtlpKeyValue[];
}

/** The resource and scope fields of a span besides `resource` and `scope` (name). Absent fields were not sent. */
export interface SpanOrigin {
  resourceSchemaUrl?: string;
  resourceDroppedAttributesCount?: number;
  /** The resource attributes exactly, when `resource` would lose something. */
  resourceTypedAttributes?: OtlpKeyValue[];
  scopeVersion?: string;
  scopeAttributes?: OtlpKeyValue[];
  scopeDroppedAttributesCount?: number;
  scopeSchemaUrl?: string;
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
  // ---- OTLP fields kept for a faithful export (all optional: absent means not sent, or the default) ----
  /** The store's row id: two spans with the same trace and span id are two rows (see `duplicateSpanIds`). */
  rowId?: number;
  /** Exact start in nanoseconds since the epoch (decimal), when it is not `startUs * 1000`. */
  startNanos?: string;
  endNanos?: string;
  traceState?: string;
  /** OTLP span flags (fixed32): W3C trace flags in the low byte, context-is-remote bits 8-9. */
  flags?: number;
  droppedAttributesCount?: number;
  droppedEventsCount?: number;
  droppedLinksCount?: number;
  links?: SpanLink[];
  /**
   * The attributes exactly, present only when the plain `attributes` map would lose something:
   * an integer beyond ±2^53 (the map holds the nearest number), a whole-number double, bytes
   * (the map holds base64 text), NaN/Infinity, or a repeated key.
   */
  typedAttributes?: OtlpKeyValue[];
  origin?: SpanOrigin;
  /** Oddities stored as they came (see SpanAnomaly). */
  anomalies?: SpanAnomaly[];
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
  /**
   * A trace's spans for a waterfall, in start order: ids (`rowId` included), names, times, status
   * code and service, with one attribute, `drover.cost.usd`; scope, status message and run id null,
   * resource and events empty (a span's whole record: `getSpan`). About half the
   * CPU of `querySpans` on a 20,000-span trace: the attributes text stays unread
   * (`spanAttributes` reads it for the rows a page shows).
   */
  querySpanOutlines(traceId: string): Promise<StoredSpan[]>;
  /** Attributes of the spans with these row ids (`StoredSpan.rowId`); ids not found are absent. */
  spanAttributes(rowIds: readonly number[]): Promise<Map<number, StoredSpan['attributes']>>;
  /** One span of a trace, whole (the last copy when an OTLP retry stored it twice); undefined when absent. */
  getSpan(traceId: string, spanId: string): Promise<StoredSpan | undefined>;
  /** Trace ids with their span counts, newest first (traces that start together: by trace id, descending); for a run, or overall. */
  listTraces(options?: {
    runId?: string;
    limit?: number;
  }): Promise<{ traceId: string; spans: number; startUs: number; runId: string | null }[]>;
  /** Deletes spans that ended before the time; returns how many. */
  deleteSpansBefore(endUs: number): Promise<number>;
}
