import { z } from 'zod';
import type { WorkflowMeta } from './api.js';

export const MetaSchema = z
  .object({
    name: z.string().trim().min(1, 'meta.name must be a non-empty string'),
    description: z.string().trim().min(1, 'meta.description must be a non-empty string'),
    phases: z
      .array(z.object({ title: z.string().min(1), detail: z.string().optional(), model: z.string().optional() }).strict())
      .optional(),
    whenToUse: z.string().optional(),
  })
  .passthrough();

/** null when valid, else what is wrong in words. */
export function checkMeta(value: unknown): { meta: WorkflowMeta } | { problem: string } {
  const parsed = MetaSchema.safeParse(value);
  if (parsed.success) return { meta: parsed.data as WorkflowMeta };
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? `meta.${issue.path.join('.')}` : 'meta';
  const message = issue?.code === 'invalid_type' && issue.input === undefined ? 'is required' : (issue?.message ?? 'is invalid');
  return { problem: message.startsWith('meta.') ? message : `${path} ${message}` };
}
