import type { Cap } from '../budget/caps-types.js';
import type { SandboxSpec } from '../sandbox/index.js';
import type { TranscriptTurn, UsageRecord } from '../store/index.js';

/** The AgentBackend interface: what the workflow runtime asks of any agent. No I/O here. */

export type JsonSchema = Record<string, unknown>;
export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface AgentRequest {
  prompt: string;
  system?: string;
  /** When set, the agent must answer with an object valid against this JSON Schema. */
  schema?: JsonSchema;
  model: string;
  effort?: Effort;
  cwd: string;
  label?: string;
  signal?: AbortSignal;
  onProgress?: (event: AgentProgress) => void;
  /** Tools the agent may use (backend tool names); undefined means the backend's default set. */
  tools?: string[];
  /** Most model turns before the agent gives up with MAX_TURNS. */
  maxTurns?: number;
  /** Wall-clock limit of the whole agent call. */
  timeoutMs?: number;
  /** Tag sent to the gateway as `x-drover-call`, so its per-request usage can be attributed to this call. */
  callTag?: string;
  /**
   * Attribution headers for drover's gateway (`x-drover-run`, `x-drover-call`, `x-drover-label`,
   * `x-drover-phase`; values percent-encoded): sent with every model request the agent makes.
   */
  gatewayHeaders?: Record<string, string>;
  /** Environment for agent processes (the CLI backends), on top of drover's own. */
  env?: Record<string, string>;
  /**
   * Claude Code agent type (`agent(prompt, { agentType })`): the agent definition named so in
   * `.claude/agents/` (project, then `~/.claude/agents/`) gives the agent its system prompt, tools
   * and model. claude-code passes `--agent`; builtin and codex apply the file (see docs/agents.md).
   */
  agentType?: string;
  /**
   * True when the call itself named `model` (`agent(prompt, { model })`): an agent definition's
   * `model` does not replace it. Otherwise the definition's model beats the run's.
   */
  modelFromCall?: boolean;
  /**
   * The run's OS sandbox: the builtin agent's `bash` tool runs inside it; the CLI backends run
   * their whole process inside it only with `wrapAgents` (see docs/sandbox.md).
   */
  sandbox?: SandboxSpec;
  /**
   * What the workflow's policy lets this agent use (src/policy, derived from one policy for every
   * backend); absent: no policy applies (the backend's own defaults).
   */
  policy?: AgentPolicyLimits;
}

/**
 * The policy's limits for one agent, in each backend's own terms. The builtin agent applies all of
 * them itself; Claude Code gets `--allowedTools`/`--disallowedTools`; Codex gets its sandbox mode.
 */
export interface AgentPolicyLimits {
  /** Whether the policy allows a tool of this backend, by its name (the agent gets no other). */
  allowsTool: (name: string) => boolean;
  /** The backend's tool names the policy denies (Claude Code's `--disallowedTools`). */
  disallowedTools: string[];
  /** Claude Code permission rules denying secret files (`Read(./.env)`...), when the policy denies them. */
  disallowedPathRules: string[];
  /** Whether files may be written at all (Codex: `workspace-write` or `read-only`). */
  canWrite: boolean;
  /** Network for the agent's commands (Codex: `sandbox_workspace_write.network_access`). */
  network: 'none' | 'host';
  /**
   * The builtin agent's file tools ask this with a file's real path (symlinks resolved) before
   * opening it: null = allowed, else the refusal (`policy denied ...`), returned to the model.
   */
  checkPath?: (op: 'read' | 'write', realPath: string) => string | null;
}

/** Exact usage of one model request, as the provider (or gateway) reported it: a usage row without its run. */
export type RequestUsage = Omit<UsageRecord, 'runId' | 'callKey' | 'createdAt'> & {
  /** When the request was sent and answered (ms), for its span. */
  startedAt?: number;
  endedAt?: number;
};

/** A tool call inside an agent, for its span. */
export interface AgentStep {
  tool: string;
  callId: string | null;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

export type AgentProgress =
  | { type: 'request'; attempt: number }
  | { type: 'retry'; attempt: number; delayMs: number; reason: string }
  | { type: 'usage'; usage: RequestUsage }
  | { type: 'tool'; name: string; ok: boolean; summary: string }
  | { type: 'text'; text: string }
  /** Something the backend ignored or could not apply (e.g. an agent definition's unknown tool); the call goes on. */
  | { type: 'warning'; message: string };

export interface AgentFailure {
  code: string;
  message: string;
  /** Set with code `BUDGET_EXCEEDED`: the cap a drover gateway refused the request for, and what it had spent. */
  refusal?: { cap: Cap; spentUsd: number; spentTokens: number };
}

/** What an agent did besides answering: recorded on the call, shown by `drover inspect`. */
export interface AgentDetail {
  turns?: number;
  toolCalls?: number;
  /** The CLI's own session / thread id. */
  sessionId?: string;
  /** Where usage came from: the gateway's per-request records, or the agent's own report. */
  usageSource?: 'gateway' | 'agent' | 'provider';
  /** Set for `isolation: 'worktree'`. */
  worktree?: WorktreeInfo;
  compactions?: number;
  /** Where the agent type's definition came from (`agentType`): a file path, or `built-in`. */
  agentDefinition?: string;
  /** What the backend ignored or could not apply for this call (also sent as `warning` progress). */
  warnings?: string[];
  /** Tool calls with their timing (for spans; not stored on the call). */
  steps?: AgentStep[];
  /**
   * The model turns with their tool calls (inputs and outputs), for the transcript: not stored on the
   * call; stored in the transcripts table, redacted, only when the run's content capture is on.
   */
  transcript?: TranscriptTurn[];
}

export interface WorktreeInfo {
  path: string;
  branch: string;
  /** Commit holding the agent's changes; null when it changed nothing. */
  commit: string | null;
  changed: boolean;
  /** Whether the worktree directory was kept (changes stay on the branch either way). */
  kept: boolean;
}

/** Every outcome carries the usage it cost, so money is recorded even when the agent fails. */
export type AgentOutcome =
  | {
      ok: true;
      text: string;
      object?: unknown;
      model: string;
      stopReason: string | null;
      usage: RequestUsage[];
      attempts: number;
      detail?: AgentDetail;
      /** See EarlierOutcome. */
      earlier?: EarlierOutcome;
    }
  | { ok: false; error: AgentFailure; usage: RequestUsage[]; attempts: number; detail?: AgentDetail; earlier?: EarlierOutcome };

/**
 * Set when the backend ran nothing for this request and handed back an outcome an earlier
 * execution produced: a pooled call whose job a worker finished while the driver was down (the
 * resumed driver takes the job's outcome). The run counts the call as reused, not executed.
 */
export interface EarlierOutcome {
  /** The agent job whose stored outcome this is. */
  jobId: number;
  /** When that job ended (ms since the epoch). */
  endedAt: number | null;
}

export interface AgentBackend {
  readonly name: string;
  run(request: AgentRequest): Promise<AgentOutcome>;
}
