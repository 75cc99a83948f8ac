/** @module What each global accepts: Claude Code's options leniently, drover's own strictly. */
import { z } from 'zod';
import type { AgentOptions, AskOptions, ShOptions } from './api.js';
import { ScriptUsageError } from './errors.js';

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

/**
 * Options Claude Code's Workflow tool defines for `agent()`. Like Claude Code, drover accepts a
 * script whatever it passes here: a value it cannot use is dropped with a warning, never an error.
 */
const CLAUDE_CODE_AGENT_OPTIONS: Record<string, z.ZodType> = {
  label: z.string(),
  phase: z.string(),
  schema: z.record(z.string(), z.unknown()),
  model: z.string().min(1),
  effort: z.enum(EFFORTS),
  isolation: z.literal('worktree'),
  agentType: z.string().min(1),
};

/** drover's own `agent()` options: its API, so a wrong value is the script's error. */
const DROVER_AGENT_OPTIONS: Record<string, z.ZodType> = {
  backend: z.string().min(1),
  system: z.string(),
  cwd: z.string(),
  tools: z.array(z.string().min(1)),
  maxTurns: z.number().int().positive(),
  timeoutMs: z.number().int().positive(),
  pool: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a worker pool name: 1–64 letters, digits, ".", "_" or "-"'),
};

export interface Parsed<T> {
  options: T;
  /** What was ignored, one sentence each (shown in the log and in `drover status`). */
  warnings: string[];
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function firstIssue(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'invalid value';
}

/**
 * `agent(prompt, options)`'s prompt and options as Claude Code accepts them.
 * @throws ScriptUsageError (`BAD_CALL`) for an empty prompt or an invalid drover-only option
 */
export function parseAgentCall(prompt: unknown, raw: unknown): Parsed<AgentOptions> & { prompt: string } {
  const warnings: string[] = [];
  let text: string;
  if (typeof prompt === 'string') text = prompt;
  else {
    // Claude Code turns any value into the prompt text; so does drover, and says so.
    text = prompt !== null && typeof prompt === 'object' ? (JSON.stringify(prompt) ?? String(prompt)) : String(prompt);
    warnings.push(`agent(): the prompt is ${describe(prompt)}, not a string; sent as its text ${describe(text)}`);
  }
  if (text.trim() === '') throw new ScriptUsageError('agent(): prompt must be a non-empty string');
  const options: Record<string, unknown> = {};
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      warnings.push(`agent(): options must be an object, got ${describe(raw)}; ignored`);
    } else {
      for (const [key, value] of Object.entries(raw)) {
        if (value === undefined) continue;
        const lenient = CLAUDE_CODE_AGENT_OPTIONS[key];
        const strict = DROVER_AGENT_OPTIONS[key];
        if (lenient) {
          const parsed = lenient.safeParse(value);
          if (parsed.success) options[key] = parsed.data;
          else warnings.push(`agent(): option ${key} ${describe(value)} ignored (${firstIssue(parsed.error)})`);
        } else if (strict) {
          const parsed = strict.safeParse(value);
          if (!parsed.success) throw new ScriptUsageError(`agent(): options.${key}: ${firstIssue(parsed.error)}`);
          options[key] = parsed.data;
        } else {
          warnings.push(`agent(): unknown option "${key}" ignored`);
        }
      }
    }
  }
  return { prompt: text, options: options as AgentOptions, warnings };
}

/** Strict object check for drover's own globals (`sh`, `ask`, `tasks.*`): a wrong option is the script's error. */
export function checkOptions<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? `.${issue.path.join('.')}` : '';
  const message = issue?.code === 'unrecognized_keys' ? `unknown option ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue?.message;
  throw new ScriptUsageError(`${where}: options${path}: ${message}`);
}

export const ShOptionsSchema: z.ZodType<ShOptions> = z
  .object({
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

export const AskOptionsSchema: z.ZodType<AskOptions> = z.object({ choices: z.array(z.string().min(1)).min(1).optional() }).strict();

const TaskStatusSchema = z.enum(['pending', 'in_progress', 'completed', 'cancelled']);
export const TaskCreateSchema = z
  .object({
    subject: z.string().min(1),
    description: z.string().optional(),
    activeForm: z.string().optional(),
    priority: z.number().int().min(0).max(9).optional(),
    labels: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    blockedBy: z.array(z.string()).optional(),
  })
  .strict();
export const TaskPatchSchema = z
  .object({
    subject: z.string().min(1).optional(),
    description: z.string().optional(),
    activeForm: z.string().optional(),
    status: TaskStatusSchema.optional(),
    owner: z.string().nullable().optional(),
    priority: z.number().int().min(0).max(9).optional(),
    labels: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export const TaskClaimSchema = z
  .object({ id: z.string().optional(), owner: z.string().optional(), leaseMs: z.number().int().positive().optional() })
  .strict();
export const TaskFilterSchema = z
  .object({ status: TaskStatusSchema.optional(), owner: z.string().optional(), label: z.string().optional() })
  .strict();
