import type { WorkflowEvent, WorkflowRecord } from './workflow-types.js';

/** Rows of the inventory's `workflows` and `workflow_events` tables as both stores return them, and their records. */

export interface WorkflowRow {
  name: string;
  tier: string | null;
  owner: string | null;
  spec_path: string | null;
  golden_path: string | null;
  promoted_at: number | null;
  promoted_by: string | null;
}

export const workflowFromRow = (r: WorkflowRow): WorkflowRecord => ({
  name: r.name,
  tier: r.tier,
  owner: r.owner,
  specPath: r.spec_path,
  goldenPath: r.golden_path,
  promotedAt: r.promoted_at,
  promotedBy: r.promoted_by,
});

export interface WorkflowEventRow {
  id: number;
  name: string;
  kind: WorkflowEvent['kind'];
  at: number;
  actor: string;
  details_json: string;
}

export const workflowEventFromRow = (r: WorkflowEventRow): WorkflowEvent => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  at: r.at,
  actor: r.actor,
  details: JSON.parse(r.details_json),
});
