import type { AgentJob, AgentJobStatus } from './job-types.js';

/** An `agent_jobs` row as both stores return it (schema v14). */
export interface JobRow {
  id: number;
  run_id: string;
  call_key: string;
  pool: string;
  labels_json: string;
  backend: string;
  request_json: string;
  status: string;
  claims: number;
  lease_token: string | null;
  lease_worker: string | null;
  lease_host: string | null;
  lease_pid: number | null;
  lease_expires_at: number | null;
  outcome_json: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export function jobFromRow(r: JobRow): AgentJob {
  return {
    id: r.id,
    runId: r.run_id,
    callKey: r.call_key,
    pool: r.pool,
    labels: JSON.parse(r.labels_json) as string[],
    backend: r.backend,
    request: JSON.parse(r.request_json) as Record<string, unknown>,
    status: r.status as AgentJobStatus,
    claims: r.claims,
    lease:
      r.lease_token === null
        ? null
        : {
            token: r.lease_token,
            worker: r.lease_worker ?? '',
            host: r.lease_host ?? '',
            pid: r.lease_pid ?? 0,
            expiresAt: r.lease_expires_at ?? 0,
          },
    outcome: r.outcome_json === null ? null : JSON.parse(r.outcome_json),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Jobs whose lease may be taken: none, lapsed, or (checked in JS) a dead holder on this host. */
export function jobClaimable(job: AgentJob, now: number, isHolderGone: (l: NonNullable<AgentJob['lease']>) => boolean): boolean {
  if (job.status !== 'queued' && job.status !== 'running') return false;
  return job.lease === null || job.lease.expiresAt <= now || isHolderGone(job.lease);
}
