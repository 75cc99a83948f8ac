import { z } from 'zod';
import { TIERS } from '../policy/schema.js';
import { SandboxMetaSchema } from '../sandbox/index.js';
import type { WorkflowMeta } from './api.js';

const usd = z.number().positive('must be a number of USD > 0').finite();
const tokens = z.number().int('must be a whole number of tokens').positive('must be a whole number of tokens ≥ 1');

/** `meta.budget`: the script's own caps (USD and output tokens); see docs/budget.md. */
export const BudgetSchema = z
  .object({
    usd: usd.optional(),
    tokens: tokens.optional(),
    perAgentUsd: usd.optional(),
    perPhase: z.record(z.string().min(1), z.object({ usd: usd.optional(), tokens: tokens.optional() }).strict()).optional(),
  })
  .strict();

export const MetaSchema = z
  .object({
    name: z.string().trim().min(1, 'meta.name must be a non-empty string'),
    description: z.string().trim().min(1, 'meta.description must be a non-empty string'),
    phases: z
      .array(z.object({ title: z.string().min(1), detail: z.string().optional(), model: z.string().optional() }).strict())
      .optional(),
    whenToUse: z.string().optional(),
    budget: BudgetSchema.optional(),
    sandbox: SandboxMetaSchema.optional(),
    tier: z
      .string({ error: `meta.tier must be a string: one of ${TIERS.join(', ')}` })
      .refine((t) => (TIERS as readonly string[]).includes(t), {
        error: (issue) => `meta.tier "${String(issue.input)}" is not a tier (one of ${TIERS.join(', ')})`,
      })
      .optional(),
    owner: z.string().trim().min(1, 'meta.owner must be a non-empty string (a team or person)').optional(),
  })
  .passthrough();

/** null when valid, else what is wrong in words. */
export function checkMeta(value: unknown): { meta: WorkflowMeta } | { problem: string } {
  const parsed = MetaSchema.safeParse(value);
  if (parsed.success) return { meta: parsed.data as WorkflowMeta };
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? `meta.${issue.path.join('.')}` : 'meta';
  const missing = issue?.code === 'invalid_type' && valueAt(value, issue.path) === undefined;
  const message = missing ? 'is required' : (issue?.message ?? 'is invalid');
  return { problem: message.startsWith('meta.') ? message : `${path} ${message}` };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) at = at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined;
  return at;
}
