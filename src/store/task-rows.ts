/** Task board row mapping and rules' small helpers, shared by the SQLite and PostgreSQL task stores. */
import { safeJson, safeText } from './rows.js';
import { TaskRuleError } from './task-errors.js';
import type { TaskPatch, TaskRecord, TaskStatus } from './task-types.js';

/** A `tasks` row as both stores read it (same table and column names). */
export interface TaskRow {
  list_id: string;
  id: string;
  subject: string;
  description: string;
  active_form: string | null;
  status: TaskStatus;
  owner: string | null;
  priority: number;
  labels_json: string;
  metadata_json: string;
  lease_expires_at: number | null;
  open_blockers: number;
  created_at: number;
  updated_at: number;
}

/** Pending and in-progress tasks block their dependents; completed and cancelled ones do not. */
export const isOpen = (s: TaskStatus) => s === 'pending' || s === 'in_progress';
export const iso = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString());
/** A numeric id drover and Claude Code can both count with (no loss above 2^53−1, no leading zeros). */
export const isCountableId = (id: string) => /^(0|[1-9]\d*)$/.test(id) && Number.isSafeInteger(Number(id));
export const byNumber = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

export function taskFromRow(row: TaskRow, blocks: string[], blockedBy: string[]): TaskRecord {
  return {
    listId: row.list_id,
    id: row.id,
    subject: row.subject,
    description: row.description,
    activeForm: row.active_form,
    status: row.status,
    owner: row.owner,
    blocks,
    blockedBy,
    metadata: row.metadata_json === '{}' ? {} : JSON.parse(row.metadata_json),
    priority: row.priority,
    labels: row.labels_json === '[]' ? [] : JSON.parse(row.labels_json),
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A task row's free text as stored: secrets redacted (src/redact). */
export function redactedTaskRow<T extends Pick<TaskRow, 'subject' | 'description' | 'active_form' | 'labels_json' | 'metadata_json'>>(
  row: T,
): T {
  return {
    ...row,
    subject: safeText(row.subject),
    description: safeText(row.description),
    active_form: safeText(row.active_form),
    labels_json: row.labels_json === '[]' ? row.labels_json : (safeJson(JSON.parse(row.labels_json)) ?? '[]'),
    metadata_json: row.metadata_json === '{}' ? row.metadata_json : (safeJson(JSON.parse(row.metadata_json)) ?? '{}'),
  };
}

/** Labels are a set: stored sorted and without repeats. */
export function normalizeLabels(labels: string[]): string[] {
  return [...new Set(labels)].sort();
}

export function pushTo(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** A task as a `created`/`deleted` event records it. */
export function taskSnapshot(t: TaskRecord): Record<string, unknown> {
  const { listId: _l, createdAt: _c, updatedAt: _u, ...rest } = t;
  return rest;
}

/** Field-by-field changes, as [before, after]. */
export function taskDiff(before: TaskRecord, after: TaskRecord): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const key of [
    'subject',
    'description',
    'activeForm',
    'status',
    'owner',
    'priority',
    'labels',
    'metadata',
    'leaseExpiresAt',
  ] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = [before[key], after[key]];
  }
  return out;
}

/**
 * Applies an update's field changes (not its status) to a task row: subject (non-empty), description,
 * active form, priority, labels (normalised), owner, and metadata merged key by key (`null` removes a key).
 * @throws TaskRuleError (`INVALID_TASK`) for a blank subject
 */
export function applyTaskPatch(
  row: Pick<TaskRow, 'subject' | 'description' | 'active_form' | 'priority' | 'labels_json' | 'owner' | 'metadata_json'>,
  patch: TaskPatch,
): void {
  if (patch.subject !== undefined) {
    if (!patch.subject.trim()) throw new TaskRuleError('INVALID_TASK', 'a task needs a subject');
    row.subject = patch.subject;
  }
  if (patch.description !== undefined) row.description = patch.description;
  if (patch.activeForm !== undefined) row.active_form = patch.activeForm;
  if (patch.priority !== undefined) row.priority = patch.priority;
  if (patch.labels !== undefined) row.labels_json = JSON.stringify(normalizeLabels(patch.labels));
  if (patch.owner !== undefined) row.owner = patch.owner;
  if (patch.metadata !== undefined) {
    const merged: Record<string, unknown> = { ...JSON.parse(row.metadata_json) };
    for (const [k, v] of Object.entries(patch.metadata)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    row.metadata_json = JSON.stringify(merged);
  }
}
