/**
 * @module An agent call as a job: what crosses from the driving run to a worker (the agent request
 * without its callbacks, signal and policy functions) and back (the outcome), as JSON.
 */
import type { AgentOutcome, AgentRequest } from '../agents/index.js';

/** The parts of an AgentRequest a worker needs, all JSON. Paths are the driver's: the worker maps them into its workspace. */
export interface JobRequest {
  prompt: string;
  model: string;
  /** The driver's cwd of the call (absolute). */
  cwd: string;
  /** The run's working directory on the driver (absolute): `cwd` is mapped relative to it. */
  runWorkdir: string;
  system?: string;
  schema?: Record<string, unknown>;
  effort?: string;
  label?: string;
  tools?: string[];
  maxTurns?: number;
  timeoutMs?: number;
  callTag?: string;
  gatewayHeaders?: Record<string, string>;
  env?: Record<string, string>;
  agentType?: string;
  modelFromCall?: boolean;
  /** `isolation: 'worktree'`: the worker makes the worktree, in its own checkout. */
  isolation?: 'worktree';
  /** The git commit of `runWorkdir` on the driver: where a worker without that directory checks it out. */
  repo?: { root: string; commit: string; remote?: string };
}

/** The request as a job carries it. */
export function toJobRequest(
  request: AgentRequest,
  runWorkdir: string,
  isolation: 'worktree' | undefined,
  repo: JobRequest['repo'],
): JobRequest {
  return {
    ...(repo ? { repo } : {}),
    prompt: request.prompt,
    model: request.model,
    cwd: request.cwd,
    runWorkdir,
    ...(request.system !== undefined ? { system: request.system } : {}),
    ...(request.schema ? { schema: request.schema as Record<string, unknown> } : {}),
    ...(request.effort ? { effort: request.effort } : {}),
    ...(request.label ? { label: request.label } : {}),
    ...(request.tools ? { tools: request.tools } : {}),
    ...(request.maxTurns ? { maxTurns: request.maxTurns } : {}),
    ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}),
    ...(request.callTag ? { callTag: request.callTag } : {}),
    ...(request.gatewayHeaders ? { gatewayHeaders: request.gatewayHeaders } : {}),
    ...(request.env ? { env: request.env } : {}),
    ...(request.agentType ? { agentType: request.agentType } : {}),
    ...(request.modelFromCall ? { modelFromCall: true } : {}),
    ...(isolation ? { isolation } : {}),
  };
}

/** The AgentRequest a worker runs: the job's fields plus what only the worker has (cwd, signal, policy, sandbox). */
export function fromJobRequest(job: JobRequest, local: Pick<AgentRequest, 'cwd' | 'signal' | 'policy' | 'sandbox'>): AgentRequest {
  const { runWorkdir: _w, isolation: _i, cwd: _c, repo: _r, schema, effort, ...rest } = job;
  return {
    ...rest,
    ...(schema ? { schema: schema as AgentRequest['schema'] } : {}),
    ...(effort ? { effort: effort as AgentRequest['effort'] } : {}),
    cwd: local.cwd,
    ...(local.signal ? { signal: local.signal } : {}),
    ...(local.policy ? { policy: local.policy } : {}),
    ...(local.sandbox ? { sandbox: local.sandbox } : {}),
  };
}

/** A job's stored outcome back as an AgentOutcome; a cancelled or malformed one is a failure that names why. */
export function outcomeOf(stored: unknown, status: string): AgentOutcome {
  if (status === 'cancelled') {
    return { ok: false, error: { code: 'ABORTED', message: 'the agent job was cancelled (the run stopped)' }, usage: [], attempts: 1 };
  }
  const o = stored as Partial<AgentOutcome> | null;
  if (!o || typeof o !== 'object' || typeof o.ok !== 'boolean') {
    return {
      ok: false,
      error: { code: 'BAD_JOB_OUTCOME', message: 'the worker stored no readable outcome for this agent job' },
      usage: [],
      attempts: 1,
    };
  }
  return {
    ...(o as AgentOutcome),
    usage: Array.isArray(o.usage) ? o.usage : [],
    attempts: typeof o.attempts === 'number' ? o.attempts : 1,
  };
}
