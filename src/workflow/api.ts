import type { Effort, JsonSchema } from '../agents/index.js';
import type { SandboxMeta } from '../sandbox/index.js';
import type { TaskRecord, TaskStatus } from '../store/index.js';
import type { ShellResult } from './shell.js';

/** What a workflow script sees: the globals of the Claude Code format plus drover's extensions. */

export interface AgentOptions {
  label?: string;
  phase?: string;
  schema?: JsonSchema;
  model?: string;
  effort?: Effort;
  isolation?: 'worktree';
  agentType?: string;
  /** drover extensions */
  backend?: string;
  system?: string;
  cwd?: string;
  /** Tools the agent may use, by the backend's names (builtin: bash, edit_file, glob, grep, read_file, write_file; claude-code: Read, Edit, Bash, ...). */
  tools?: string[];
  maxTurns?: number;
  /** Wall-clock limit of this agent call. */
  timeoutMs?: number;
  /** Run this call on a `drover worker` of the pool instead of in the driving process (docs/scale.md); not part of the call's identity. */
  pool?: string;
}

export interface ShOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface AskOptions {
  choices?: string[];
}

/**
 * `budget`, as in Claude Code: output tokens. `spent()` is journaled where it is read, so a
 * resumed run sees at each point what the first execution saw there.
 */
export interface Budget {
  /** Output-token ceiling of the run; null when none was set (as in Claude Code). */
  readonly total: number | null;
  /** Output tokens spent by the run so far (all executions), as seen at this point of the script. */
  spent(): number;
  /** `total - spent()`, never below 0; Infinity when there is no ceiling. */
  remaining(): number;
}

export type Thunk<T = unknown> = () => T | Promise<T>;
export type Stage = (prev: unknown, item: unknown, index: number) => unknown;

export interface WorkflowApi {
  agent(prompt: string, options?: AgentOptions): Promise<unknown>;
  parallel(thunks: Thunk[]): Promise<unknown[]>;
  pipeline(items: unknown[], ...stages: Stage[]): Promise<unknown[]>;
  phase(title: string): void;
  /** Logs every argument (strings as they are, other values as JSON), joined by spaces. */
  log(...message: unknown[]): void;
  readonly args: unknown;
  readonly budget: Budget;
  workflow(nameOrRef: unknown, args?: unknown): Promise<unknown>;
  sh(command: string, options?: ShOptions): Promise<ShellResult>;
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  ask(question: string, options?: AskOptions): Promise<string>;
  sleep(ms: number): Promise<void>;
  /** Journaled clock and randomness (module form; the script form patches Date and Math). */
  now(): number;
  random(): number;
  /** The task board of the run's list; every operation is journaled. */
  readonly tasks: WorkflowTasks;
  readonly runId: string;
  /** Absolute directory of the running script file: find files shipped beside it (`sh` runs in the run's workdir). */
  readonly scriptDir: string;
}

export interface WorkflowTasks {
  /** The run's task list id (null when the run has none). */
  readonly listId: string | null;
  create(task: {
    subject: string;
    description?: string;
    activeForm?: string;
    priority?: number;
    labels?: string[];
    metadata?: Record<string, unknown>;
    blockedBy?: string[];
  }): Promise<TaskRecord>;
  update(
    id: string,
    patch: {
      subject?: string;
      description?: string;
      activeForm?: string;
      status?: TaskStatus;
      owner?: string | null;
      priority?: number;
      labels?: string[];
      metadata?: Record<string, unknown>;
    },
  ): Promise<TaskRecord>;
  ready(limit?: number): Promise<TaskRecord[]>;
  claim(options?: { id?: string; owner?: string; leaseMs?: number }): Promise<TaskRecord>;
  complete(id: string): Promise<TaskRecord>;
  list(filter?: { status?: TaskStatus; owner?: string; label?: string }): Promise<TaskRecord[]>;
}

export interface WorkflowMeta {
  name: string;
  description: string;
  phases?: { title: string; detail?: string; model?: string }[];
  whenToUse?: string;
  /** The script's caps (drover): run USD / output tokens, USD per agent call, per phase. See docs/budget.md. */
  budget?: { usd?: number; tokens?: number; perAgentUsd?: number; perPhase?: Record<string, { usd?: number; tokens?: number }> };
  /**
   * The OS sandbox the script asks for (drover): `true` = workspace writable, no network; or a spec
   * with paths relative to the workdir. A sandbox given to the run (`--sandbox`, the policy) wins. See docs/sandbox.md.
   */
  sandbox?: SandboxMeta;
  /** Governance tier (drover): `personal` (the default), `team-beta`, `internal` or `customer-facing`. See docs/governance.md. */
  tier?: 'personal' | 'team-beta' | 'internal' | 'customer-facing';
  /** Who owns the workflow (drover): a team or person, free text. */
  owner?: string;
}

export const WORKFLOW_MARK = Symbol.for('drover.workflow');

export interface WorkflowDefinition {
  readonly [WORKFLOW_MARK]: true;
  readonly meta: WorkflowMeta;
  readonly run: (ctx: WorkflowApi) => unknown;
}

/** The module form: `export default defineWorkflow({ name, description }, async (ctx) => { ... })`. */
export function defineWorkflow(meta: WorkflowMeta, run: (ctx: WorkflowApi) => unknown): WorkflowDefinition {
  return { [WORKFLOW_MARK]: true, meta, run };
}
