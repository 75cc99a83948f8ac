import { redactedJson, redactSecrets } from '../redact/index.js';
import type {
  CallKind,
  CallRecord,
  CallStatus,
  LeaseInfo,
  QuestionRecord,
  RunListing,
  RunRecord,
  RunStatus,
  ScriptForm,
  StoredError,
} from './types.js';

/** Row shapes as SQLite returns them, and their mapping to records. */

export interface RunRow {
  id: string;
  name: string;
  description: string;
  script_path: string;
  script_source: string;
  script_hash: string;
  script_form: string;
  args_json: string;
  settings_json: string;
  status: string;
  result_json: string | null;
  error_json: string | null;
  from_run_id: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  lease_token: string | null;
  lease_pid: number | null;
  lease_host: string | null;
  lease_expires_at: number | null;
  pool?: string | null;
}

export interface CallRow {
  run_id: string;
  key: string;
  kind: string;
  label: string | null;
  phase: string | null;
  status: string;
  inputs_json: string | null;
  result_json: string | null;
  error_json: string | null;
  attempts: number;
  started_at: number;
  finished_at: number | null;
  reused_from: string | null;
  detail_json: string | null;
  position_key: string | null;
  content_key: string | null;
}

export interface QuestionRow {
  run_id: string;
  id: string;
  call_key: string;
  question: string;
  choices_json: string | null;
  status: string;
  answer: string | null;
  created_at: number;
  answered_at: number | null;
}

export const toJson = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
/**
 * What every text and JSON column the store writes passes through: secrets redacted (src/redact) at the
 * store's boundary, whatever the caller did before — so no writer can store one by forgetting.
 */
export const safeJson = (v: unknown): string | null => (v === undefined ? null : redactedJson(v));
export function safeText(s: string): string;
export function safeText(s: string | null): string | null;
export function safeText(s: string | null | undefined): string | null | undefined;
export function safeText(s: string | null | undefined): string | null | undefined {
  return typeof s === 'string' ? redactSecrets(s) : s;
}
const fromJson = (v: string | null): unknown => (v === null ? null : JSON.parse(v));

/** A run row's lease columns as its LeaseInfo, or null when it has none. */
export function leaseFromRow(r: Pick<RunRow, 'lease_token' | 'lease_pid' | 'lease_host' | 'lease_expires_at'>): LeaseInfo | null {
  return r.lease_token === null
    ? null
    : { token: r.lease_token, pid: r.lease_pid ?? 0, host: r.lease_host ?? '', expiresAt: r.lease_expires_at ?? 0 };
}

export function runFromRow(r: RunRow): RunRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    scriptPath: r.script_path,
    scriptSource: r.script_source,
    scriptHash: r.script_hash,
    scriptForm: r.script_form as ScriptForm,
    args: fromJson(r.args_json),
    settings: JSON.parse(r.settings_json),
    status: r.status as RunStatus,
    result: fromJson(r.result_json),
    error: fromJson(r.error_json) as StoredError | null,
    fromRunId: r.from_run_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    lease: leaseFromRow(r),
    pool: r.pool ?? null,
  };
}

/**
 * The columns `listRuns` reads: those of the runs_listing index (schema v9), and `description` and
 * `settings_json`, which the row holds before its result (on the row's own page).
 */
export const LISTING_COLUMNS =
  'id, name, description, settings_json, status, created_at, updated_at, finished_at, lease_token, lease_pid, lease_host, lease_expires_at';

export type ListingRow = Pick<
  RunRow,
  | 'id'
  | 'name'
  | 'description'
  | 'settings_json'
  | 'status'
  | 'created_at'
  | 'updated_at'
  | 'finished_at'
  | 'lease_token'
  | 'lease_pid'
  | 'lease_host'
  | 'lease_expires_at'
> & { result_bytes: number | null };

export function listingFromRow(r: ListingRow): RunListing {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    settings: JSON.parse(r.settings_json),
    status: r.status as RunStatus,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    lease: leaseFromRow(r),
    resultBytes: r.result_bytes ?? 0,
  };
}

export function callFromRow(r: CallRow): CallRecord {
  return {
    runId: r.run_id,
    key: r.key,
    kind: r.kind as CallKind,
    label: r.label,
    phase: r.phase,
    status: r.status as CallStatus,
    inputs: fromJson(r.inputs_json),
    result: fromJson(r.result_json),
    error: fromJson(r.error_json) as StoredError | null,
    attempts: r.attempts,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    reusedFrom: r.reused_from,
    ...(r.detail_json ? { detail: fromJson(r.detail_json) as Record<string, unknown> } : {}),
    ...(r.position_key ? { positionKey: r.position_key } : {}),
    ...(r.content_key ? { contentKey: r.content_key } : {}),
  };
}

export function callParams(c: CallRecord) {
  return {
    run_id: c.runId,
    key: c.key,
    kind: c.kind,
    label: safeText(c.label),
    phase: safeText(c.phase),
    status: c.status,
    inputs_json: safeJson(c.inputs),
    result_json: safeJson(c.result),
    error_json: safeJson(c.error ?? undefined),
    attempts: c.attempts,
    started_at: c.startedAt,
    finished_at: c.finishedAt,
    reused_from: c.reusedFrom,
    detail_json: c.detail ? safeJson(c.detail) : null,
    position_key: c.positionKey ?? null,
    content_key: c.contentKey ?? null,
  };
}

export function questionFromRow(r: QuestionRow): QuestionRecord {
  return {
    id: r.id,
    runId: r.run_id,
    callKey: r.call_key,
    question: r.question,
    choices: fromJson(r.choices_json) as string[] | null,
    status: r.status as 'pending' | 'answered',
    answer: r.answer,
    createdAt: r.created_at,
    answeredAt: r.answered_at,
  };
}
