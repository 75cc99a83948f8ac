import { type JobRow, jobClaimable, jobFromRow } from '../job-rows.js';
import { type AgentJob, type AgentJobSpec, type AgentJobStore, type EnqueueResult, type JobClaimRequest, jobFits } from '../job-types.js';
import { safeJson } from '../rows.js';
import type { PgDb } from './db.js';
import type { PgNotifier } from './notify.js';

const UNLEASE = 'lease_token = NULL, lease_worker = NULL, lease_host = NULL, lease_pid = NULL, lease_expires_at = NULL';

/**
 * Agent jobs on PostgreSQL. A claim reads which runs have work, then locks at most its share of
 * each run's oldest claimable jobs with FOR UPDATE SKIP LOCKED (racing workers skip each other's
 * rows instead of waiting on them) and takes them rank by rank across runs, so a run with
 * thousands of queued calls does not starve a small one. Enqueues wake idle workers with NOTIFY;
 * outcomes wake the waiting drivers the same way.
 */
export class PgJobStore implements AgentJobStore {
  constructor(
    private readonly db: PgDb,
    private readonly notifier: PgNotifier,
  ) {}

  private get workChannel(): string {
    return this.notifier.channel('drover_jobs');
  }

  private get outcomeChannel(): string {
    return this.notifier.channel('drover_outcomes');
  }

  async enqueue(spec: AgentJobSpec, now: number): Promise<EnqueueResult> {
    return this.db.tx(async (q): Promise<EnqueueResult> => {
      const values = [spec.runId, spec.callKey, spec.pool, JSON.stringify(spec.labels), spec.backend, safeJson(spec.request) ?? '{}', now];
      // Insert unless the call has a job; lock the row either way so a concurrent enqueue of the same call waits.
      const inserted = await q.query<JobRow>(
        `INSERT INTO agent_jobs (run_id, call_key, pool, labels_json, backend, request_json, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) ON CONFLICT (run_id, call_key) DO NOTHING RETURNING *`,
        values,
      );
      let row = inserted.rows[0];
      let existing = false;
      if (!row) {
        const found = (
          await q.query<JobRow>('SELECT * FROM agent_jobs WHERE run_id = $1 AND call_key = $2 FOR UPDATE', [spec.runId, spec.callKey])
        ).rows[0] as JobRow;
        if (found.status === 'queued' || found.status === 'running' || found.status === 'finished') {
          return { job: jobFromRow(found), existing: true };
        }
        row = (
          await q.query<JobRow>(
            `UPDATE agent_jobs SET status = 'queued', pool = $3, labels_json = $4, backend = $5, request_json = $6, outcome_json = NULL,
               ${UNLEASE}, started_at = NULL, finished_at = NULL WHERE run_id = $1 AND call_key = $2 RETURNING *`,
            values.slice(0, 6),
          )
        ).rows[0] as JobRow;
        existing = false;
      }
      await this.notifier.notify(q, this.workChannel, spec.pool);
      return { job: jobFromRow(row), existing };
    });
  }

  async claim(req: JobClaimRequest): Promise<AgentJob[]> {
    if (req.limit <= 0) return [];
    return this.db.tx(async (q): Promise<AgentJob[]> => {
      const runs = await q.query<{ run_id: string }>(
        "SELECT DISTINCT run_id FROM agent_jobs WHERE pool = $1 AND status IN ('queued', 'running') LIMIT 1000",
        [req.pool],
      );
      if (runs.rows.length === 0) return [];
      const share = Math.max(1, Math.ceil(req.limit / runs.rows.length));
      const locked = await q.query<JobRow & { rank: number }>(
        `SELECT j.* FROM unnest($1::text[]) AS r(run_id)
         CROSS JOIN LATERAL (
           SELECT * FROM agent_jobs a WHERE a.run_id = r.run_id AND a.pool = $2 AND a.status IN ('queued', 'running')
             AND (a.lease_token IS NULL OR a.lease_expires_at <= $3 OR a.lease_host = $4)
           -- Surely claimable jobs first (queued, or lease lapsed): this host's live ones must not use up the share.
           ORDER BY NOT (a.status = 'queued' OR a.lease_expires_at <= $3), a.id LIMIT $5 FOR UPDATE SKIP LOCKED
         ) j`,
        [runs.rows.map((r) => r.run_id), req.pool, req.now, req.host, share],
      );
      // Rank within each run, then take rank 1 of every run before rank 2 of any.
      const seen = new Map<string, number>();
      const ranked = locked.rows
        .map(jobFromRow)
        .sort((a, b) => a.id - b.id)
        .map((job) => {
          const rank = (seen.get(job.runId) ?? 0) + 1;
          seen.set(job.runId, rank);
          return { job, rank };
        })
        .sort((a, b) => a.rank - b.rank || a.job.id - b.job.id)
        .map((r) => r.job)
        .filter((job) => jobClaimable(job, req.now, req.isHolderGone) && jobFits(job, req))
        .slice(0, req.limit);
      if (ranked.length === 0) return [];
      const expiresAt = req.now + req.ttlMs;
      const tokens = ranked.map(() => req.newToken());
      await q.query(
        `UPDATE agent_jobs SET status = 'running', claims = claims + 1, lease_token = t.token, lease_worker = $3, lease_host = $4,
           lease_pid = $5, lease_expires_at = $6, started_at = $7
         FROM unnest($1::bigint[], $2::text[]) AS t(id, token) WHERE agent_jobs.id = t.id`,
        [ranked.map((j) => j.id), tokens, req.worker, req.host, req.pid, expiresAt, req.now],
      );
      return ranked.map((job, i) => ({
        ...job,
        status: 'running' as const,
        claims: job.claims + 1,
        startedAt: req.now,
        lease: { token: tokens[i] as string, worker: req.worker, host: req.host, pid: req.pid, expiresAt },
      }));
    });
  }

  async renew(tokens: readonly string[], expiresAt: number): Promise<string[]> {
    if (tokens.length === 0) return [];
    const rows = await this.db.rows<{ lease_token: string }>(
      "UPDATE agent_jobs SET lease_expires_at = $1 WHERE lease_token = ANY($2::text[]) AND status = 'running' RETURNING lease_token",
      [expiresAt, [...tokens]],
    );
    return rows.map((r) => r.lease_token);
  }

  async complete(id: number, token: string, outcome: { ok: boolean } & Record<string, unknown>, now: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      const done = await q.query<{ run_id: string }>(
        `UPDATE agent_jobs SET status = $3, outcome_json = $4, finished_at = $5, ${UNLEASE}
         WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING run_id`,
        [id, token, outcome.ok ? 'finished' : 'failed', safeJson(outcome), now],
      );
      const runId = done.rows[0]?.run_id;
      if (runId !== undefined) await this.notifier.notify(q, this.outcomeChannel, runId);
      return runId !== undefined;
    });
  }

  async requeue(id: number, token: string, _now: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      const back = await q.query<{ pool: string }>(
        `UPDATE agent_jobs SET status = 'queued', ${UNLEASE} WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING pool`,
        [id, token],
      );
      const pool = back.rows[0]?.pool;
      if (pool !== undefined) await this.notifier.notify(q, this.workChannel, pool);
      return pool !== undefined;
    });
  }

  async cancelRun(runId: string, now: number): Promise<number> {
    const info = await this.db.query(
      `UPDATE agent_jobs SET status = 'cancelled', finished_at = $1, ${UNLEASE} WHERE run_id = $2 AND status IN ('queued', 'running')`,
      [now, runId],
    );
    return info.rowCount ?? 0;
  }

  async get(id: number): Promise<AgentJob | undefined> {
    const row = (await this.db.rows<JobRow>('SELECT * FROM agent_jobs WHERE id = $1', [id]))[0];
    return row ? jobFromRow(row) : undefined;
  }

  async ended(ids: readonly number[]): Promise<AgentJob[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.rows<JobRow>(
      "SELECT * FROM agent_jobs WHERE id = ANY($1::bigint[]) AND status IN ('finished', 'failed', 'cancelled')",
      [[...ids]],
    );
    return rows.map(jobFromRow);
  }

  async listByRun(runId: string): Promise<AgentJob[]> {
    return (await this.db.rows<JobRow>('SELECT * FROM agent_jobs WHERE run_id = $1 ORDER BY id', [runId])).map(jobFromRow);
  }

  waitForWork(pool: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void> {
    return this.notifier.wait(this.workChannel, timeoutMs, signal, (payload) => payload === pool || payload === '', since);
  }

  waitForOutcome(runId: string, timeoutMs: number, signal?: AbortSignal, since?: number): Promise<void> {
    return this.notifier.wait(this.outcomeChannel, timeoutMs, signal, (payload) => payload === runId || payload === '', since);
  }
}
