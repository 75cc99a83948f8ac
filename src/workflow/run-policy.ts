/**
 * @module A run's policy (src/policy) at its enforcement points: the agent spawn check and the
 * limits handed to each backend, the gateway's policy stage, sh commands, approvals as durable
 * questions, and the refusal an agent reports back when the gateway refused its model. Loaded when
 * the run starts: a bad policy file is refused before the run exists.
 */
import type { AgentFailure, AgentPolicyLimits } from '../agents/index.js';
import { findProjectRoot } from '../config/index.js';
import type { GatewayRequest, PolicyStage } from '../gateway/pipeline/types.js';
import {
  type AuditSink,
  loadPolicyEngine,
  type PolicyAuditEvent,
  PolicyDeniedError,
  type PolicyEngine,
  toolKind,
  WorkflowPolicy,
} from '../policy/index.js';

/** The Claude Code permission rules for the secret files the policy denies (CLI settings, not the OS). */
const CLAUDE_SECRET_RULES = [
  'Read(./.env)',
  'Read(./.env.*)',
  'Edit(./.env)',
  'Edit(./.env.*)',
  'Write(./.env)',
  'Write(./.env.*)',
  'Read(~/.ssh/**)',
];

/**
 * Loads the project's policies for a run in `workdir` (its project root's `.drover/policy/`).
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) with file, line and the validator's message
 */
export function loadRunPolicyEngine(workdir: string): PolicyEngine {
  return loadPolicyEngine({ root: findProjectRoot(workdir) });
}

/** The run's policy, as the runtime and the run's gateway use it. */
export class RunPolicy {
  readonly policy: WorkflowPolicy;
  private sink: AuditSink = () => {};

  constructor(engine: PolicyEngine, meta: { name: string; tier?: string | undefined; owner?: string | undefined }, workdir: string) {
    this.policy = new WorkflowPolicy(engine, meta, workdir, (e) => this.sink(e));
  }

  /** Where audit records go (the runtime: a `policy` run event and a span event). */
  onAudit(sink: AuditSink): void {
    this.sink = sink;
  }

  /** Records an audit event. */
  record(e: PolicyAuditEvent): void {
    this.sink(e);
  }

  /**
   * The spawn check of an agent call, and its limits for the backend. `worktree`: the agent's
   * worktree when it has one (its files count as the worktree's).
   * @throws PolicyDeniedError for a denied backend, model, named tool, or a backend the policy leaves no way to run
   */
  checkAgent(
    backend: string,
    model: string,
    tools: readonly string[] | undefined,
    callKey: string,
  ): (worktree?: string) => AgentPolicyLimits {
    const p = this.policy;
    const t = p.checkAgent(backend, model, tools, callKey);
    const deniedKinds = new Set(t.denied.map((d) => d.kind));
    const secretDenied = !p.pathDecision('read', `${p.workdir}/.env`).allow;
    return (worktree) => ({
      allowsTool: (name) => !deniedKinds.has(toolKind(backend, name)),
      disallowedTools: t.deniedNames,
      disallowedPathRules: backend === 'claude-code' && secretDenied ? CLAUDE_SECRET_RULES : [],
      canWrite: t.canWrite,
      network: t.network,
      checkPath: p.pathGuard(worktree, callKey),
    });
  }

  /**
   * The gateway's policy stage: every model request is checked for its model (and its backend,
   * from `x-drover-agent`) whatever the agent asked at spawn; a refusal is answered 403 in the wire's shape.
   */
  gatewayStage(): PolicyStage {
    return {
      check: async (request: GatewayRequest) => {
        const agent = request.headers['x-drover-agent'];
        const backend = typeof agent === 'string' ? agent : '';
        const callKey = request.attribution.callKey ?? undefined;
        const info = { at: 'gateway', ...(callKey ? { callKey } : {}) };
        try {
          if (backend)
            this.policy.require('useBackend', { type: 'Backend', id: backend }, undefined, { attempted: `useBackend ${backend}`, ...info });
          this.policy.require(
            'useModel',
            { type: 'Model', id: request.model },
            { backend },
            {
              attempted: `useModel ${request.model}${backend ? ` (backend ${backend})` : ''}`,
              ...info,
            },
          );
          return null;
        } catch (err) {
          return err instanceof PolicyDeniedError ? err.message : `policy denied the request (rule engine-error): ${String(err)}`;
        }
      },
    };
  }

  /**
   * May `command` run as an sh step?
   * @throws PolicyDeniedError when the policy denies commands
   */
  checkCommand(command: string, shown: string): void {
    this.policy.require('runCommand', { type: 'Command', id: command, attrs: { command } }, undefined, {
      attempted: `sh "${shown}"`,
      at: 'sh',
    });
  }
}

/**
 * The policy refusal an agent's failure carries when drover's gateway refused its request
 * (`policy denied <what> (rule[s] <ids>)` in the 403's message), as the typed error.
 */
export function policyRefusalOf(error: AgentFailure): PolicyDeniedError | undefined {
  const m = /policy denied (.+?) \(rules? ([^)]+)\)/.exec(error.message);
  if (!m) return undefined;
  return new PolicyDeniedError(m[1] as string, (m[2] as string).split(', '), 'refused by the gateway');
}

/** Asks a human (a durable `ask` question with choices approve / reject); `onCreated` gets the new question's id. */
export type Approver = (question: string, onCreated: (questionId: string) => void) => Promise<string>;

/** The choices of an approval question. */
export const APPROVAL_CHOICES = ['approve', 'reject'];

/**
 * Waits for a human's approval of `attempted` when `ruleIds` (the permits of `requireApproval`
 * that matched) say it needs one: a durable question that blocks only the calling branch. The
 * request is an audit record; the answer is recorded by `drover answer`.
 * @throws PolicyDeniedError when the answer is not `approve`
 */
export async function awaitApproval(
  run: RunPolicy,
  ask: Approver,
  info: { attempted: string; ruleIds: string[]; at: string; callKey?: string; detail?: string },
): Promise<void> {
  const question = `Approve ${info.attempted}? (policy ${info.ruleIds.join(', ')})${info.detail ? `\n${info.detail}` : ''}`;
  const answer = await ask(question, (questionId) =>
    run.record({
      kind: 'approval_request',
      attempted: info.attempted,
      ruleIds: info.ruleIds,
      at: info.at,
      questionId,
      ...(info.callKey ? { callKey: info.callKey } : {}),
    }),
  );
  if (answer !== 'approve') throw new PolicyDeniedError(info.attempted, info.ruleIds, `not approved (the answer was "${answer}")`);
}
