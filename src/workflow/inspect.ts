import { actorName } from '../core/actor.js';
import { InputError, NotFoundError } from '../core/index.js';
import type { PolicyAuditEvent } from '../policy/index.js';
import type { QuestionRecord, RunRecord, RunStatus, Store, StoredError, UsageTotals } from '../store/index.js';
import { VALUE_KINDS } from './identity.js';
import { isHolderGone } from './lease.js';

/** Read-side views of runs for `status`, `runs` and `answer`. */

export interface AgentView {
  key: string;
  label: string;
  phase: string | null;
  state: 'running' | 'done' | 'failed' | 'interrupted';
  inputTokens: number;
  outputTokens: number;
  /** USD of the call's priced ledger rows; null when it made requests and none is priced. */
  costUsd: number | null;
  attempts: number;
  reusedFrom: string | null;
  error: string | null;
  /** Backend that ran it, turns, tool calls, session id, worktree (when recorded). */
  backend: string | null;
  detail: Record<string, unknown> | null;
}

export interface PhaseView {
  title: string;
  agents: number;
  done: number;
  failed: number;
  running: number;
}

export interface RunDescription {
  id: string;
  name: string;
  description: string;
  status: RunState;
  script: string;
  settings: RunRecord['settings'];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  fromRunId: string | null;
  driver: { pid: number; host: string; leaseExpiresAt: string } | null;
  result: unknown;
  error: StoredError | null;
  usage: UsageTotals;
  calls: { total: number; finished: number; failed: number; unfinished: number; byKind: Record<string, number> };
  phases: PhaseView[];
  agents: AgentView[];
  questions: QuestionRecord[];
  logs: { at: string; message: string }[];
  /** What drover accepted but ignored in the script (unknown agent options...), once each. */
  warnings: string[];
  /** The policy's audit records, oldest first: denies, approval requests, approvals (who, what, which rules). */
  policy: (PolicyAuditEvent & { at: string; where: string })[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A run's state as people should see it: a `running` run whose driver is gone (dead process on
 * this host, or a lease that expired or was released) is `interrupted` — `drover resume` continues it —
 * or, for a pooled run, `queued` again (a worker takes it over).
 */
export type RunState = RunStatus | 'interrupted';

/** Every state a run is shown in: a stored `RunStatus`, or `interrupted` (running, its driver gone) — for filters (CLI, dashboard, MCP). */
export const RUN_STATES = [
  'queued',
  'running',
  'interrupted',
  'waiting',
  'completed',
  'failed',
  'budget_exceeded',
  'stopped',
] as const satisfies readonly RunState[];

/** The state of `run` at `now` (ms). */
export function runState(run: Pick<RunRecord, 'status' | 'lease'> & { settings?: { pool?: string } }, now = Date.now()): RunState {
  if (run.status !== 'running') return run.status;
  const lease = run.lease;
  // A pooled run whose driver is gone waits for another worker to take it over: queued, not interrupted.
  if (!lease || lease.expiresAt <= now || isHolderGone(lease)) return run.settings?.pool ? 'queued' : 'interrupted';
  return 'running';
}

export async function describeRun(store: Store, runId: string): Promise<RunDescription> {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  const [calls, usageByCall, usage, questions, events] = await Promise.all([
    store.listCalls(runId),
    store.usageByCall(runId),
    store.usageTotals(runId),
    store.listQuestions(runId),
    store.listEvents(runId),
  ]);
  const state = runState(run);
  const live = state === 'running';
  const agents: AgentView[] = calls
    .filter((c) => c.kind === 'agent')
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((c) => {
      const u = usageByCall.get(c.key);
      return {
        key: c.key,
        label: c.label ?? 'agent',
        phase: c.phase,
        state: c.status === 'finished' ? 'done' : c.status === 'failed' ? 'failed' : live ? 'running' : 'interrupted',
        inputTokens: u ? u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens : 0,
        outputTokens: u?.outputTokens ?? 0,
        costUsd: u ? u.costUsd : 0,
        attempts: c.attempts,
        reusedFrom: c.reusedFrom,
        error: c.error?.message ?? null,
        backend: typeof (c.inputs as { backend?: unknown } | null)?.backend === 'string' ? (c.inputs as { backend: string }).backend : null,
        detail: c.detail ?? null,
      };
    });
  const phaseOrder: string[] = [];
  for (const e of events) if (e.type === 'phase' && !phaseOrder.includes(String(e.data.title))) phaseOrder.push(String(e.data.title));
  for (const a of agents) if (a.phase && !phaseOrder.includes(a.phase)) phaseOrder.push(a.phase);
  const phases = phaseOrder.map((title) => {
    const mine = agents.filter((a) => a.phase === title);
    return {
      title,
      agents: mine.length,
      done: mine.filter((a) => a.state === 'done').length,
      failed: mine.filter((a) => a.state === 'failed').length,
      running: mine.filter((a) => a.state === 'running').length,
    };
  });
  const byKind: Record<string, number> = {};
  for (const c of calls) byKind[c.kind] = (byKind[c.kind] ?? 0) + 1;
  // Clock, random and budget values are journaled, but they are values the script read, not calls.
  const real = calls.filter((c) => !VALUE_KINDS.has(c.kind));
  return {
    id: run.id,
    name: run.name,
    description: run.description,
    status: state,
    script: run.scriptPath,
    settings: run.settings,
    createdAt: iso(run.createdAt),
    updatedAt: iso(run.updatedAt),
    finishedAt: run.finishedAt ? iso(run.finishedAt) : null,
    fromRunId: run.fromRunId,
    driver: live && run.lease ? { pid: run.lease.pid, host: run.lease.host, leaseExpiresAt: iso(run.lease.expiresAt) } : null,
    result: run.result,
    error: run.error,
    usage,
    calls: {
      total: real.length,
      finished: real.filter((c) => c.status === 'finished').length,
      failed: real.filter((c) => c.status === 'failed').length,
      unfinished: real.filter((c) => c.status === 'started').length,
      byKind,
    },
    phases,
    agents,
    questions,
    logs: events.filter((e) => e.type === 'log').map((e) => ({ at: iso(e.ts), message: String(e.data.message) })),
    warnings: events.filter((e) => e.type === 'warning').map((e) => String(e.data.message)),
    policy: events
      .filter((e) => e.type === 'policy')
      .map((e) => ({ ...(e.data as unknown as PolicyAuditEvent), where: String(e.data.at), at: iso(e.ts) })),
  };
}

/** Records a human's answer; `drover resume` then continues the run. */
export async function answerQuestion(store: Store, runId: string, questionId: string, answer: string): Promise<QuestionRecord> {
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`);
  const question = await store.getQuestion(runId, questionId);
  if (!question) {
    const open = (await store.listQuestions(runId)).filter((q) => q.status === 'pending').map((q) => q.id);
    throw new NotFoundError(`question ${questionId} of run ${runId} (open questions: ${open.length ? open.join(', ') : 'none'})`);
  }
  if (question.choices && !question.choices.includes(answer)) {
    throw new InputError(`answer "${answer}" is not one of the choices: ${question.choices.map((c) => `"${c}"`).join(', ')}`);
  }
  const answered = await store.answerQuestion(runId, questionId, answer, Date.now());
  // An answer to one of the policy's approval questions is an audit record: who answered, for which rules.
  const request = (await store.listEvents(runId)).find(
    (e) => e.type === 'policy' && e.data.kind === 'approval_request' && e.data.questionId === questionId,
  );
  if (request) {
    const asked = request.data as unknown as PolicyAuditEvent;
    const approval: PolicyAuditEvent = {
      kind: 'approval',
      attempted: asked.attempted,
      ruleIds: asked.ruleIds,
      at: 'answer',
      questionId,
      answer,
      by: actorName(),
      ...(asked.callKey ? { callKey: asked.callKey } : {}),
    };
    await store.appendEvents([{ runId, ts: Date.now(), type: 'policy', data: { ...approval } }]);
  }
  return answered;
}
