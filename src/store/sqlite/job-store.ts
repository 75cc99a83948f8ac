import type Database from 'better-sqlite3';
import { type JobRow, jobClaimable, jobFromRow } from '../job-rows.js';
import { type AgentJob, type AgentJobSpec, type AgentJobStore, type EnqueueResult, type JobClaimRequest, jobFits } from '../job-types.js';
import { safeJson } from '../rows.js';

/** Polls, for stores that cannot notify: resolves after `timeoutMs` or on abort. */
export function sleepUnlessAborted(timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Agent jobs on SQLite: every claim and completion is an IMMEDIATE transaction (one writer at a
 * time, so claims cannot race); fairness across runs comes from ranking each run's jobs
 * (row_number per run) and taking rank 1 of every run before rank 2 of any.
 */
export class SqliteJobStore implements AgentJobStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      byCall: db.prepare('SELECT * FROM agent_jobs WHERE run_id = ? AND call_key = ?'),
      insert: db.prepare(`INSERT INTO agent_jobs (run_id, call_key, pool, labels_json, backend, request_json, status, created_at)
        VALUES (@run_id, @call_key, @pool, @labels_json, @backend, @request_json, 'queued', @now)`),
      again: db.prepare(`UPDATE agent_jobs SET status = 'queued', pool = @pool, labels_json = @labels_json, backend = @backend,
        request_json = @request_json, outcome_json = NULL, lease_token = NULL, lease_worker = NULL, lease_host = NULL, lease_pid = NULL,
        lease_expires_at = NULL, started_at = NULL, finished_at = NULL WHERE id = @id`),
      // Surely claimable jobs (queued, or lease lapsed) rank before this host's live ones, which must not use up the limit.
      candidates: db.prepare(`SELECT * FROM (
          SELECT *, row_number() OVER (PARTITION BY run_id ORDER BY NOT (status = 'queued' OR lease_expires_at <= @now), id) AS rank
          FROM agent_jobs
          WHERE pool = @pool AND status IN ('queued', 'running') AND (lease_token IS NULL OR lease_expires_at <= @now OR lease_host = @host)
        ) ORDER BY rank, id LIMIT @limit`),
      take: db.prepare(`UPDATE agent_jobs SET status = 'running', claims = claims + 1, lease_token = @token, lease_worker = @worker,
        lease_host = @host, lease_pid = @pid, lease_expires_at = @expiresAt, started_at = @now WHERE id = @id`),
      renew: db.prepare("UPDATE agent_jobs SET lease_expires_at = ? WHERE lease_token = ? AND status = 'running'"),
      complete: db.prepare(`UPDATE agent_jobs SET status = @status, outcome_json = @outcome, finished_at = @now,
        lease_token = NULL, lease_worker = NULL, lease_host = NULL, lease_pid = NULL, lease_expires_at = NULL
        WHERE id = @id AND lease_token = @token AND status = 'running'`),
      requeue: db.prepare(`UPDATE agent_jobs SET status = 'queued', lease_token = NULL, lease_worker = NULL, lease_host = NULL,
        lease_pid = NULL, lease_expires_at = NULL WHERE id = ? AND lease_token = ? AND status = 'running'`),
      cancel: db.prepare(`UPDATE agent_jobs SET status = 'cancelled', finished_at = ?, lease_token = NULL, lease_worker = NULL,
        lease_host = NULL, lease_pid = NULL, lease_expires_at = NULL WHERE run_id = ? AND status IN ('queued', 'running')`),
      get: db.prepare('SELECT * FROM agent_jobs WHERE id = ?'),
      byRun: db.prepare('SELECT * FROM agent_jobs WHERE run_id = ? ORDER BY id'),
      ended: db.prepare(
        `SELECT * FROM agent_jobs WHERE status IN ('finished', 'failed', 'cancelled') AND id IN (SELECT value FROM json_each(?))`,
      ),
    };
  }

  async enqueue(spec: AgentJobSpec, now: number): Promise<EnqueueResult> {
    return this.db
      .transaction((): EnqueueResult => {
        const params = {
          run_id: spec.runId,
          call_key: spec.callKey,
          pool: spec.pool,
          labels_json: JSON.stringify(spec.labels),
          backend: spec.backend,
          request_json: safeJson(spec.request) ?? '{}',
          now,
        };
        const found = this.s.byCall.get(spec.runId, spec.callKey) as JobRow | undefined;
        if (found && (found.status === 'queued' || found.status === 'running' || found.status === 'finished')) {
          return { job: jobFromRow(found), existing: true };
        }
        if (found) this.s.again.run({ ...params, id: found.id });
        else this.s.insert.run(params);
        return { job: jobFromRow(this.s.byCall.get(spec.runId, spec.callKey) as JobRow), existing: false };
      })
      .immediate();
  }

  async claim(req: JobClaimRequest): Promise<AgentJob[]> {
    if (req.limit <= 0) return [];
    return this.db
      .transaction((): AgentJob[] => {
        const rows = this.s.candidates.all({ pool: req.pool, now: req.now, host: req.host, limit: req.limit * 4 }) as JobRow[];
        const out: AgentJob[] = [];
        for (const job of rows.map(jobFromRow)) {
          if (out.length >= req.limit) break;
          if (!jobClaimable(job, req.now, req.isHolderGone) || !jobFits(job, req)) continue;
          const token = req.newToken();
          const expiresAt = req.now + req.ttlMs;
          this.s.take.run({ id: job.id, token, worker: req.worker, host: req.host, pid: req.pid, expiresAt, now: req.now });
          out.push({
            ...job,
            status: 'running',
            claims: job.claims + 1,
            startedAt: req.now,
            lease: { token, worker: req.worker, host: req.host, pid: req.pid, expiresAt },
          });
        }
        return out;
      })
      .immediate();
  }

  async renew(tokens: readonly string[], expiresAt: number): Promise<string[]> {
    return this.db.transaction(() => tokens.filter((t) => this.s.renew.run(expiresAt, t).changes === 1))();
  }

  async complete(id: number, token: string, outcome: { ok: boolean } & Record<string, unknown>, now: number): Promise<boolean> {
    const status = outcome.ok ? 'finished' : 'failed';
    return this.s.complete.run({ id, token, status, outcome: safeJson(outcome), now }).changes === 1;
  }

  async requeue(id: number, token: string, _now: number): Promise<boolean> {
    return this.s.requeue.run(id, token).changes === 1;
  }

  async cancelRun(runId: string, now: number): Promise<number> {
    return this.s.cancel.run(now, runId).changes;
  }

  async get(id: number): Promise<AgentJob | undefined> {
    const row = this.s.get.get(id) as JobRow | undefined;
    return row ? jobFromRow(row) : undefined;
  }

  async ended(ids: readonly number[]): Promise<AgentJob[]> {
    if (ids.length === 0) return [];
    const rows = this.s.ended.all(JSON.stringify(ids)) as JobRow[];
    return rows.map(jobFromRow);
  }

  async listByRun(runId: string): Promise<AgentJob[]> {
    return (this.s.byRun.all(runId) as JobRow[]).map(jobFromRow);
  }

  waitForWork(_pool: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return sleepUnlessAborted(timeoutMs, signal);
  }

  waitForOutcome(_runId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return sleepUnlessAborted(timeoutMs, signal);
  }
}
