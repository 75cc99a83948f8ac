/**
 * @module The workflow inventory's rows on SQLite (see ../workflow-types.ts): the `workflows` and
 * `workflow_events` tables (schema migration "workflows"), and per-name run summaries read from
 * `runs` and `events`. Statements are prepared when used, so a store opened read-only without
 * migrating still opens.
 */
import type Database from 'better-sqlite3';
import { type WorkflowEventRow, type WorkflowRow, workflowEventFromRow, workflowFromRow } from '../workflow-rows.js';
import type { WorkflowEvent, WorkflowRecord, WorkflowRunSummary, WorkflowStore } from '../workflow-types.js';

export class SqliteWorkflowStore implements WorkflowStore {
  constructor(private readonly db: Database.Database) {}

  /** The v12 tables exist (a damaged store opened read-only is not migrated: it reads as having no rows). */
  private migrated(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workflows'").get() !== undefined;
  }

  async summaries(): Promise<WorkflowRunSummary[]> {
    const rows = this.db
      .prepare(
        `SELECT name, COUNT(*) AS runs,
           SUM(status = 'completed') AS completed,
           SUM(status IN ('failed', 'budget_exceeded', 'stopped')) AS failed,
           SUM(status IN ('running', 'waiting')) AS open
         FROM runs GROUP BY name ORDER BY name`,
      )
      .all() as { name: string; runs: number; completed: number; failed: number; open: number }[];
    const denials = new Map(
      (
        this.db
          .prepare(
            `SELECT r.name AS name, COUNT(*) AS n FROM events e JOIN runs r ON r.id = e.run_id
             WHERE e.type = 'policy' AND json_extract(e.data_json, '$.kind') = 'deny' GROUP BY r.name`,
          )
          .all() as { name: string; n: number }[]
      ).map((d) => [d.name, d.n]),
    );
    const latest = this.db.prepare(
      'SELECT id, status, created_at, script_path, settings_json FROM runs WHERE name = ? ORDER BY created_at DESC, id DESC LIMIT 1',
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
    return this.db
      .prepare("SELECT id FROM runs WHERE name = ? AND status = 'completed' ORDER BY created_at DESC, id DESC LIMIT ?")
      .pluck()
      .all(name, limit) as string[];
  }

  async get(name: string): Promise<WorkflowRecord | undefined> {
    if (!this.migrated()) return undefined;
    const row = this.db.prepare('SELECT * FROM workflows WHERE name = ?').get(name) as WorkflowRow | undefined;
    return row ? workflowFromRow(row) : undefined;
  }

  async list(): Promise<WorkflowRecord[]> {
    if (!this.migrated()) return [];
    return (this.db.prepare('SELECT * FROM workflows ORDER BY name').all() as WorkflowRow[]).map(workflowFromRow);
  }

  private event(name: string, kind: WorkflowEvent['kind'], now: number, actor: string, details: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO workflow_events (name, kind, at, actor, details_json) VALUES (?, ?, ?, ?, ?)')
      .run(name, kind, now, actor, JSON.stringify(details));
  }

  async attach(name: string, attached: { specPath?: string; goldenPath?: string }, now: number, actor: string): Promise<WorkflowRecord> {
    return this.db
      .transaction(() => {
        this.db.prepare('INSERT INTO workflows (name) VALUES (?) ON CONFLICT (name) DO NOTHING').run(name);
        if (attached.specPath !== undefined)
          this.db.prepare('UPDATE workflows SET spec_path = ? WHERE name = ?').run(attached.specPath, name);
        if (attached.goldenPath !== undefined)
          this.db.prepare('UPDATE workflows SET golden_path = ? WHERE name = ?').run(attached.goldenPath, name);
        this.event(name, 'attach', now, actor, {
          ...(attached.specPath !== undefined ? { spec: attached.specPath } : {}),
          ...(attached.goldenPath !== undefined ? { golden: attached.goldenPath } : {}),
        });
        return workflowFromRow(this.db.prepare('SELECT * FROM workflows WHERE name = ?').get(name) as WorkflowRow);
      })
      .immediate();
  }

  async promote(name: string, grant: { tier: string; owner: string; from: string }, now: number, actor: string): Promise<WorkflowRecord> {
    return this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO workflows (name, tier, owner, promoted_at, promoted_by) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET tier = excluded.tier, owner = excluded.owner,
               promoted_at = excluded.promoted_at, promoted_by = excluded.promoted_by`,
          )
          .run(name, grant.tier, grant.owner, now, actor);
        this.event(name, 'promote', now, actor, { from: grant.from, to: grant.tier, owner: grant.owner });
        return workflowFromRow(this.db.prepare('SELECT * FROM workflows WHERE name = ?').get(name) as WorkflowRow);
      })
      .immediate();
  }

  async refused(name: string, details: Record<string, unknown>, now: number, actor: string): Promise<void> {
    this.event(name, 'refused', now, actor, details);
  }

  async events(name?: string): Promise<WorkflowEvent[]> {
    if (!this.migrated()) return [];
    const rows = (
      name === undefined
        ? this.db.prepare('SELECT * FROM workflow_events ORDER BY id').all()
        : this.db.prepare('SELECT * FROM workflow_events WHERE name = ? ORDER BY id').all(name)
    ) as WorkflowEventRow[];
    return rows.map(workflowEventFromRow);
  }
}
