/**
 * @module The workflow inventory's rows on PostgreSQL (see ../workflow-types.ts): the port of
 * src/store/sqlite/workflow-store.ts — the `workflows` and `workflow_events` tables, and per-name run
 * summaries read from `runs` and `events`. Names sort byte by byte (COLLATE "C"), as in SQLite,
 * whatever the database's collation.
 */

import { type WorkflowEventRow, type WorkflowRow, workflowEventFromRow, workflowFromRow } from '../workflow-rows.js';
import type { WorkflowEvent, WorkflowRecord, WorkflowRunSummary, WorkflowStore } from '../workflow-types.js';
import type { PgDb, Queryable } from './db.js';

async function event(
  q: Queryable,
  name: string,
  kind: WorkflowEvent['kind'],
  now: number,
  actor: string,
  details: Record<string, unknown>,
): Promise<void> {
  await q.query('INSERT INTO workflow_events (name, kind, at, actor, details_json) VALUES ($1, $2, $3, $4, $5)', [
    name,
    kind,
    now,
    actor,
    JSON.stringify(details),
  ]);
}

async function row(q: Queryable, name: string): Promise<WorkflowRecord> {
  return workflowFromRow((await q.query<WorkflowRow>('SELECT * FROM workflows WHERE name = $1', [name])).rows[0] as WorkflowRow);
}

export class PgWorkflowStore implements WorkflowStore {
  /** Set once the tables were seen: a store opened without migrating (doctor) may not have them. */
  private seen = false;

  constructor(readonly db: PgDb) {}

  /** The workflow tables exist (a database opened without migrating reads as having no rows). */
  private async migrated(): Promise<boolean> {
    if (this.seen) return true;
    const found = await this.db.rows<{ t: string | null }>("SELECT to_regclass('workflows')::text AS t");
    this.seen = Boolean(found[0]?.t);
    return this.seen;
  }

  async summaries(): Promise<WorkflowRunSummary[]> {
    const rows = await this.db.rows<{
      name: string;
      runs: number;
      completed: number;
      failed: number;
      open: number;
    }>(
      `SELECT name, COUNT(*) AS runs,
         COUNT(*) FILTER (WHERE status = 'completed') AS completed,
         COUNT(*) FILTER (WHERE status IN ('failed', 'budget_exceeded', 'stopped')) AS failed,
         COUNT(*) FILTER (WHERE status IN ('running', 'waiting')) AS open
       FROM runs GROUP BY name ORDER BY name COLLATE "C"`,
    );
    // Policy events are parsed here, not with PostgreSQL's JSON functions: those refuse a document
    // holding `\u0000`, which a denied command's text may. Only events naming "deny" are read.
    const denials = new Map<string, number>();
    const policy = await this.db.rows<{ name: string; data_json: string }>(
      `SELECT r.name, e.data_json FROM events e JOIN runs r ON r.id = e.run_id
       WHERE e.type = 'policy' AND strpos(e.data_json, '"deny"') > 0`,
    );
    for (const p of policy) {
      let kind: unknown;
      try {
        kind = (JSON.parse(p.data_json) as { kind?: unknown } | null)?.kind;
      } catch {}
      if (kind === 'deny') denials.set(p.name, (denials.get(p.name) ?? 0) + 1);
    }
    const latest = new Map(
      (
        await this.db.rows<{ name: string; id: string; status: string; created_at: number; script_path: string; settings_json: string }>(
          `SELECT DISTINCT ON (name) name, id, status, created_at, script_path, settings_json FROM runs
           ORDER BY name, created_at DESC, id COLLATE "C" DESC`,
        )
      ).map((l) => [l.name, l]),
    );
    return rows.map((r) => {
      const l = latest.get(r.name) as { id: string; status: string; created_at: number; script_path: string; settings_json: string };
      return {
        name: r.name,
        runs: r.runs,
        completed: r.completed,
        failed: r.failed,
        open: r.open,
        policyDenials: denials.get(r.name) ?? 0,
        latest: { id: l.id, status: l.status, createdAt: l.created_at, scriptPath: l.script_path, settings: JSON.parse(l.settings_json) },
      };
    });
  }

  async completedRuns(name: string, limit: number): Promise<string[]> {
    const rows = await this.db.rows<{ id: string }>(
      `SELECT id FROM runs WHERE name = $1 AND status = 'completed' ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $2`,
      [name, limit],
    );
    return rows.map((r) => r.id);
  }

  async get(name: string): Promise<WorkflowRecord | undefined> {
    if (!(await this.migrated())) return undefined;
    const found = await this.db.rows<WorkflowRow>('SELECT * FROM workflows WHERE name = $1', [name]);
    return found[0] ? workflowFromRow(found[0]) : undefined;
  }

  async list(): Promise<WorkflowRecord[]> {
    if (!(await this.migrated())) return [];
    return (await this.db.rows<WorkflowRow>('SELECT * FROM workflows ORDER BY name COLLATE "C"')).map(workflowFromRow);
  }

  async attach(name: string, attached: { specPath?: string; goldenPath?: string }, now: number, actor: string): Promise<WorkflowRecord> {
    return this.db.tx(async (q) => {
      await q.query('INSERT INTO workflows (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
      if (attached.specPath !== undefined) await q.query('UPDATE workflows SET spec_path = $1 WHERE name = $2', [attached.specPath, name]);
      if (attached.goldenPath !== undefined) {
        await q.query('UPDATE workflows SET golden_path = $1 WHERE name = $2', [attached.goldenPath, name]);
      }
      await event(q, name, 'attach', now, actor, {
        ...(attached.specPath !== undefined ? { spec: attached.specPath } : {}),
        ...(attached.goldenPath !== undefined ? { golden: attached.goldenPath } : {}),
      });
      return row(q, name);
    });
  }

  async promote(name: string, grant: { tier: string; owner: string; from: string }, now: number, actor: string): Promise<WorkflowRecord> {
    return this.db.tx(async (q) => {
      await q.query(
        `INSERT INTO workflows (name, tier, owner, promoted_at, promoted_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET tier = excluded.tier, owner = excluded.owner,
           promoted_at = excluded.promoted_at, promoted_by = excluded.promoted_by`,
        [name, grant.tier, grant.owner, now, actor],
      );
      await event(q, name, 'promote', now, actor, { from: grant.from, to: grant.tier, owner: grant.owner });
      return row(q, name);
    });
  }

  async refused(name: string, details: Record<string, unknown>, now: number, actor: string): Promise<void> {
    await event(this.db, name, 'refused', now, actor, details);
  }

  async events(name?: string): Promise<WorkflowEvent[]> {
    if (!(await this.migrated())) return [];
    const rows = await this.db.rows<WorkflowEventRow>(
      name === undefined ? 'SELECT * FROM workflow_events ORDER BY id' : 'SELECT * FROM workflow_events WHERE name = $1 ORDER BY id',
      name === undefined ? [] : [name],
    );
    return rows.map(workflowEventFromRow);
  }
}
