/**
 * @module One workflow's policy: the engine with the workflow as principal, and every question an
 * enforcement point asks of it (may this backend, model, tool, path, command be used? does this
 * need approval? what are the settings?). Denials and approval requests go to an audit sink.
 */
import { homedir } from 'node:os';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { DEFAULT_DENY, type Decision, type PolicyEngine, type PolicyEntity, type Principal } from './engine.js';
import { PolicyDeniedError } from './errors.js';
import type { PolicyAction, SettingName, Tier, ToolKind } from './schema.js';
import { TOOL_KINDS } from './schema.js';
import { toolKind, toolNamesOf } from './tools.js';

/** An audit record: a deny, an approval request or an approval (docs/governance.md "Audit"). */
export interface PolicyAuditEvent {
  kind: 'deny' | 'approval_request' | 'approval';
  /** What was attempted, in words. */
  attempted: string;
  ruleIds: string[];
  /** The journal key of the call it concerns, when there is one. */
  callKey?: string;
  /** Where it was decided: spawn, gateway, tool, file, sh, result. */
  at: string;
  /** For approvals: the question id, the answer and who gave it. */
  questionId?: string;
  answer?: string;
  by?: string;
}

export type AuditSink = (event: PolicyAuditEvent) => void;

/** A value the policy set, with the rules that set it (`default` when no rule did). */
export interface Ruled<T> {
  value: T;
  rules: string[];
}

/** The id named when a setting falls back to drover's built-in value. */
export const BUILT_IN = 'default';

export type CaptureMode = 'off' | 'redacted';

/** Spend caps a tier sets (USD, output tokens), merged with the run's own (the lower wins). */
export interface PolicyCaps {
  usd?: number;
  perAgentUsd?: number;
  tokens?: number;
}

/**
 * The OS sandbox for `sh` steps and the builtin agent's `bash` tool (src/sandbox, another module):
 * on or off, the paths it may write (everything else read-only) and its network.
 */
export interface SandboxSetting {
  enabled: boolean;
  writablePaths: string[];
  network: 'none' | 'host';
  rules: string[];
}

/** What an agent of one backend may use, derived from the policy (passed on `AgentRequest.policy`). */
export interface AgentToolPolicy {
  /** The tool kinds denied, each with its rules. */
  denied: { kind: ToolKind; rules: string[] }[];
  /** The backend's tool names that are allowed (for the builtin and Claude Code). */
  allowedNames: string[];
  /** The backend's tool names that are denied (Claude Code's `--disallowedTools`). */
  deniedNames: string[];
  /** May the agent write files at all (Codex: `--sandbox workspace-write` vs `read-only`). */
  canWrite: boolean;
  network: 'none' | 'host';
}

const isInside = (root: string, p: string) => {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/** The principal for a workflow's meta (tier default `personal`, owner default ''). */
export function principalOf(meta: { name: string; tier?: string | undefined; owner?: string | undefined }): Principal {
  return { name: meta.name, tier: meta.tier ?? 'personal', owner: meta.owner ?? '' };
}

/**
 * One workflow's policy. Construct once per run (or per `policy check`); decisions are cached
 * by the engine.
 */
export class WorkflowPolicy {
  readonly principal: Principal;
  constructor(
    readonly engine: PolicyEngine,
    meta: { name: string; tier?: string | undefined; owner?: string | undefined },
    /** The run's working directory: the workspace. */
    readonly workdir: string,
    private readonly audit: AuditSink = () => {},
  ) {
    this.principal = principalOf(meta);
  }

  get tier(): Tier {
    return this.principal.tier as Tier;
  }

  decide(action: PolicyAction, resource: PolicyEntity, context?: Record<string, string | boolean | number>): Decision {
    return this.engine.decide({ principal: this.principal, action, resource, ...(context ? { context } : {}) });
  }

  /**
   * Refuses what the policy denies: records the deny and throws.
   * @throws PolicyDeniedError (`POLICY_DENIED`) with the deciding rule ids and what was attempted
   */
  require(
    action: PolicyAction,
    resource: PolicyEntity,
    context: Record<string, string | boolean | number> | undefined,
    info: { attempted: string; at: string; callKey?: string | undefined },
  ): Decision {
    const d = this.decide(action, resource, context);
    if (!d.allow) this.deny(info, d);
    return d;
  }

  /** Records a deny and throws it. */
  deny(info: { attempted: string; at: string; callKey?: string | undefined }, d: Decision): never {
    this.audit({
      kind: 'deny',
      attempted: info.attempted,
      ruleIds: d.ruleIds,
      at: info.at,
      ...(info.callKey ? { callKey: info.callKey } : {}),
    });
    throw new PolicyDeniedError(info.attempted, d.ruleIds, d.error);
  }

  /** Passes an audit record on (approval requests and answers are recorded by the runtime). */
  record(event: PolicyAuditEvent): void {
    this.audit(event);
  }

  /**
   * The spawn check of an agent call: its backend, its model, the tools it names; and what the
   * backend may use.
   * @throws PolicyDeniedError for a denied backend, model or named tool, or a backend that cannot run within the policy
   */
  checkAgent(backend: string, model: string, tools: readonly string[] | undefined, callKey?: string): AgentToolPolicy {
    const at = { at: 'spawn', callKey };
    this.require('useBackend', { type: 'Backend', id: backend }, undefined, { attempted: `useBackend ${backend}`, ...at });
    this.require('useModel', { type: 'Model', id: model }, { backend }, { attempted: `useModel ${model} (backend ${backend})`, ...at });
    const policy = this.toolPolicy(backend);
    for (const name of tools ?? []) {
      const kind = toolKind(backend, name);
      const denied = policy.denied.find((d) => d.kind === kind);
      if (denied) this.deny({ attempted: `useTool ${name} (${kind}, backend ${backend})`, ...at }, { allow: false, ruleIds: denied.rules });
    }
    // Codex cannot run without its shell: a policy that forbids `bash` forbids Codex.
    const bash = policy.denied.find((d) => d.kind === 'bash');
    if (backend === 'codex' && bash) {
      this.deny(
        { attempted: 'useTool bash (codex always has a shell)', ...at },
        { allow: false, ruleIds: bash.rules, error: 'codex cannot run without its shell; use the builtin or claude-code backend' },
      );
    }
    return policy;
  }

  /** What a backend's agents may use. */
  toolPolicy(backend: string): AgentToolPolicy {
    const denied: AgentToolPolicy['denied'] = [];
    for (const kind of TOOL_KINDS) {
      const d = this.decide('useTool', { type: 'Tool', id: kind }, { backend });
      if (!d.allow) denied.push({ kind, rules: d.ruleIds });
    }
    const deniedKinds = denied.map((d) => d.kind);
    const allowedKinds = TOOL_KINDS.filter((k) => !deniedKinds.includes(k));
    const canWrite =
      !deniedKinds.includes('write') &&
      this.decide('writePath', this.pathEntity(resolve(this.workdir, '.drover-policy-probe')), this.pathContext(resolve(this.workdir, 'x')))
        .allow;
    return {
      denied,
      allowedNames: toolNamesOf(backend, allowedKinds),
      deniedNames: toolNamesOf(backend, deniedKinds),
      canWrite,
      network: this.network().value,
    };
  }

  private pathEntity(real: string): PolicyEntity {
    return { type: 'Path', id: real, attrs: { path: real, name: basename(real) } };
  }

  private pathContext(real: string, worktree?: string): Record<string, boolean> {
    return {
      inWorkspace: isInside(this.workdir, real),
      inWorktree: worktree !== undefined && isInside(worktree, real),
      inHome: isInside(homedir(), real),
    };
  }

  /**
   * May a file at `real` (its real path: symlinks resolved) be read or written? For the builtin
   * agent's file tools; `worktree` is the agent's worktree when it has one.
   */
  pathDecision(op: 'read' | 'write', real: string, worktree?: string): Decision {
    return this.decide(op === 'read' ? 'readPath' : 'writePath', this.pathEntity(real), this.pathContext(real, worktree));
  }

  /**
   * A guard for the builtin agent's workspace: null when allowed, else the refusal (recorded).
   */
  pathGuard(worktree?: string, callKey?: string): (op: 'read' | 'write', real: string) => string | null {
    return (op, real) => {
      const d = this.pathDecision(op, real, worktree);
      if (d.allow) return null;
      const attempted = `${op === 'read' ? 'readPath' : 'writePath'} ${real}`;
      this.audit({ kind: 'deny', attempted, ruleIds: d.ruleIds, at: 'file', ...(callKey ? { callKey } : {}) });
      return new PolicyDeniedError(attempted, d.ruleIds, d.error).message;
    };
  }

  /** Does running `command` (an sh step) need a human's approval first? allow = yes, with the rules. */
  commandApproval(command: string): Decision {
    return this.decide('requireApproval', { type: 'Command', id: command, attrs: { command } });
  }

  /** Does an agent's result need a human's approval before the workflow uses it? */
  resultApproval(label: string, backend: string): Decision {
    // One id for every result: rules read `resource.label` / `resource.backend`.
    return this.decide('requireApproval', { type: 'AgentResult', id: 'result', attrs: { label, backend } });
  }

  /** Network for agents' and sh's processes: `host` when any host is allowed, else `none`. */
  network(): Ruled<'none' | 'host'> {
    const d = this.decide('network', { type: 'Host', id: '*' });
    return { value: d.allow ? 'host' : 'none', rules: d.ruleIds };
  }

  /** The annotations of the permits that set a setting (no permit: none). */
  private setting(name: SettingName): { values: Record<string, string>[]; rules: string[] } {
    const d = this.decide('configure', { type: 'Setting', id: name });
    if (!d.allow) return { values: [], rules: [] };
    return { values: d.ruleIds.map((id) => this.engine.policies.get(id)?.annotations ?? {}), rules: d.ruleIds };
  }

  /** Content capture on spans and transcripts: the strictest value set (`off` when none is). */
  capture(): Ruled<CaptureMode> {
    const s = this.setting('capture');
    const modes = s.values.map((a) => a.capture).filter((m): m is CaptureMode => m === 'off' || m === 'redacted');
    if (modes.length === 0) return { value: 'off', rules: [BUILT_IN] };
    return { value: modes.includes('off') ? 'off' : 'redacted', rules: s.rules };
  }

  /** Days runs, spans, transcripts and cassettes are kept: the lowest set; null when no rule sets one. */
  retentionDays(): Ruled<number | null> {
    const s = this.setting('retention');
    const days = s.values.map((a) => Number(a.days)).filter((n) => Number.isInteger(n) && n > 0);
    return days.length ? { value: Math.min(...days), rules: s.rules } : { value: null, rules: [BUILT_IN] };
  }

  /** Spend caps the policy sets (the lowest of each); null when none. */
  caps(): Ruled<PolicyCaps | null> {
    const s = this.setting('caps');
    const pick = (k: string) => {
      const v = s.values.map((a) => Number(a[k])).filter((n) => Number.isFinite(n) && n > 0);
      return v.length ? Math.min(...v) : undefined;
    };
    const usd = pick('usd');
    const perAgentUsd = pick('perAgentUsd');
    const tokens = pick('tokens');
    const caps: PolicyCaps = {
      ...(usd !== undefined ? { usd } : {}),
      ...(perAgentUsd !== undefined ? { perAgentUsd } : {}),
      ...(tokens !== undefined ? { tokens } : {}),
    };
    return Object.keys(caps).length ? { value: caps, rules: s.rules } : { value: null, rules: [BUILT_IN] };
  }

  /**
   * The OS sandbox setting for sh and the bash tool (for src/sandbox `runInSandbox`): on unless a
   * rule turns it off (fail closed: no rule = on), writable paths = the workspace when writes there
   * are allowed, plus `worktree` (an agent's, absolute) when given and allowed; network from the
   * `network` action; `rules`: every rule id that set these.
   */
  sandbox(worktree?: string): SandboxSetting {
    const s = this.setting('sandbox');
    const modes = s.values.map((a) => a.sandbox);
    const enabled = modes.length === 0 || modes.includes('on');
    const net = this.network();
    const write = this.pathDecision('write', resolve(this.workdir, '.drover-policy-probe'));
    const inWorktree = worktree ? this.pathDecision('write', resolve(worktree, '.drover-policy-probe'), worktree) : undefined;
    return {
      enabled,
      writablePaths: [...(write.allow ? [this.workdir] : []), ...(worktree && inWorktree?.allow ? [worktree] : [])],
      network: net.value,
      rules: [...new Set([...(modes.length ? s.rules : [BUILT_IN]), ...net.rules, ...write.ruleIds, ...(inWorktree?.ruleIds ?? [])])],
    };
  }

  /** Rule ids for a deny with no reason (shown as `default-deny`). */
  static readonly DEFAULT_DENY = DEFAULT_DENY;
}
