/**
 * @module The YAML form of a policy: the common knobs of one or more tiers, compiled to the same
 * Cedar policies the shipped tiers are written in. Each knob becomes policies whose `@id` is the
 * shipped one it replaces (`internal.models`, `internal.write`...), so a knob overrides the
 * tier's default; a list also gets a `-only` forbid, so it narrows tiers whose defaults allow
 * more (`personal`). Errors name the file and the knob's line.
 */
import { z } from 'zod';
import { parseYamlInput } from '../core/yaml-input.js';
import { BACKEND_NAMES_FOR_POLICY } from './backends.js';
import { type LoadedPolicy, type PolicySource, parsePolicySources } from './engine.js';
import { PolicyFileError } from './errors.js';
import { TIERS, type Tier, TOOL_KINDS } from './schema.js';

const place = z.enum(['workspace', 'worktree', 'anywhere']);
const usd = z.number().positive('must be an amount of USD > 0').finite();

/** The YAML knobs (docs/governance.md "The YAML form"). Unknown keys are refused. */
export const PolicyYamlSchema = z
  .object({
    tier: z.enum(TIERS).optional(),
    tiers: z.array(z.enum(TIERS)).min(1).optional(),
    backends: z.array(z.enum(BACKEND_NAMES_FOR_POLICY)).optional(),
    models: z.union([z.literal('*'), z.array(z.string().min(1))]).optional(),
    tools: z.array(z.enum(TOOL_KINDS)).optional(),
    readable: z.array(place).optional(),
    writable: z.array(place).optional(),
    network: z.enum(['none', 'host']).optional(),
    sh: z.boolean().optional(),
    approvals: z
      .object({ commands: z.array(z.string().min(1)).optional(), agentResults: z.boolean().optional() })
      .strict()
      .optional(),
    caps: z
      .object({
        usd: usd.optional(),
        perAgentUsd: usd.optional(),
        tokens: z.number().int().positive('must be a whole number ≥ 1').optional(),
      })
      .strict()
      .optional(),
    capture: z.enum(['off', 'redacted']).optional(),
    retentionDays: z.number().int().positive('must be a whole number of days ≥ 1').optional(),
    sandbox: z.boolean().optional(),
  })
  .strict()
  .refine((v) => (v.tier === undefined) !== (v.tiers === undefined), { message: 'give `tier: <name>` or `tiers: [...]` (one of them)' });

export type PolicyYaml = z.infer<typeof PolicyYamlSchema>;

/** A Cedar string literal (also safe inside `like` patterns when `like` is false). */
const str = (s: string) => JSON.stringify(s);
/** A `like` pattern: `*` stays a wildcard; quotes and backslashes escaped. */
const likePattern = (glob: string) => `"${glob.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const entityList = (type: string, ids: readonly string[]) => `[${ids.map((i) => `${type}::${str(i)}`).join(', ')}]`;

function placeCondition(places: readonly string[]): string {
  if (places.includes('anywhere')) return 'true';
  const parts = places.map((p) => (p === 'workspace' ? 'context.inWorkspace' : 'context.inWorktree'));
  return parts.length ? `(${parts.join(' || ')})` : 'false';
}

/**
 * Compiles one YAML policy file to Cedar policies (validated like a .cedar file).
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2): bad YAML, an unknown knob, a bad value, with file:line:column
 */
export function compileYamlPolicy(file: string, text: string): LoadedPolicy[] {
  return parsePolicySources(yamlPolicySources(file, text));
}

/**
 * The Cedar sources a YAML policy file compiles to, each reporting errors at its knob's line.
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) for bad YAML, an unknown knob or a bad value
 */
export function yamlPolicySources(file: string, text: string): PolicySource[] {
  const fail = (message: string) => {
    const m = /^(.*):(\d+):(\d+): ([\s\S]*)$/.exec(message);
    return m ? new PolicyFileError(m[1] as string, Number(m[2]), Number(m[3]), m[4] as string) : new PolicyFileError(file, 1, 1, message);
  };
  const { data, at } = parseYamlInput(text, file, PolicyYamlSchema, fail);
  const lineOf = (key: string) => {
    const m = /:(\d+):(\d+)$/.exec(at([key], true));
    return { line: Number(m?.[1] ?? 1), column: Number(m?.[2] ?? 1) };
  };
  const tiers: Tier[] = data.tiers ?? (data.tier ? [data.tier] : []);
  const out: PolicySource[] = [];
  const emit = (key: string, cedarText: string) => {
    const pos = lineOf(key);
    out.push({ file, text: cedarText, lineOf: () => pos });
  };
  for (const tier of tiers) {
    const t = `principal.tier == ${str(tier)}`;
    const permit = (id: string, action: string, when: string, annotations = '') =>
      `@id(${str(`${tier}.${id}`)})\n${annotations}permit (principal, action == Action::${str(action)}, resource)\nwhen { ${t} && ${when} };`;
    const forbid = (id: string, action: string, when: string) =>
      `@id(${str(`${tier}.${id}`)})\nforbid (principal, action == Action::${str(action)}, resource)\nwhen { ${t} && ${when} };`;
    const list = (key: string, id: string, action: string, type: string, ids: readonly string[] | '*') => {
      if (ids === '*') return emit(key, permit(id, action, 'true'));
      const inList = ids.length ? `resource in ${entityList(type, ids)}` : 'false';
      emit(key, `${permit(id, action, inList)}\n\n${forbid(`${id}-only`, action, `!(${inList})`)}`);
    };
    if (data.backends) list('backends', 'backends', 'useBackend', 'Backend', data.backends);
    if (data.models) list('models', 'models', 'useModel', 'Model', data.models);
    if (data.tools) list('tools', 'tools', 'useTool', 'Tool', data.tools);
    if (data.readable) {
      const c = placeCondition(data.readable);
      emit('readable', `${permit('read', 'readPath', c)}\n\n${forbid('read-only', 'readPath', `!${c}`)}`);
    }
    if (data.writable) {
      const c = placeCondition(data.writable);
      emit('writable', `${permit('write', 'writePath', c)}\n\n${forbid('write-only', 'writePath', `!${c}`)}`);
    }
    if (data.network)
      emit('network', data.network === 'host' ? permit('network', 'network', 'true') : forbid('network', 'network', 'true'));
    if (data.sh !== undefined) emit('sh', data.sh ? permit('sh', 'runCommand', 'true') : forbid('sh', 'runCommand', 'true'));
    if (data.approvals?.commands) {
      const patterns = data.approvals.commands.map((p) => `resource.command like ${likePattern(p)}`);
      emit(
        'approvals',
        `@id(${str(`${tier}.approve-commands`)})\npermit (principal, action == Action::"requireApproval", resource is Command)\nwhen { ${t} && ${patterns.length ? `(${patterns.join(' || ')})` : 'false'} };`,
      );
    }
    if (data.approvals?.agentResults !== undefined) {
      emit(
        'approvals',
        `@id(${str(`${tier}.approve-agent-results`)})\npermit (principal, action == Action::"requireApproval", resource is AgentResult)\nwhen { ${t} && ${data.approvals.agentResults} };`,
      );
    }
    const setting = (key: string, id: string, name: string, annotations: Record<string, string | number | undefined>) => {
      const ann = Object.entries(annotations)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `@${k}(${str(String(v))})\n`)
        .join('');
      emit(
        key,
        `@id(${str(`${tier}.${id}`)})\n${ann}permit (principal, action == Action::"configure", resource == Setting::${str(name)})\nwhen { ${t} };`,
      );
    };
    if (data.caps) setting('caps', 'caps', 'caps', { usd: data.caps.usd, perAgentUsd: data.caps.perAgentUsd, tokens: data.caps.tokens });
    if (data.capture) setting('capture', 'capture', 'capture', { capture: data.capture });
    if (data.retentionDays) setting('retentionDays', 'retention', 'retention', { days: data.retentionDays });
    if (data.sandbox !== undefined) setting('sandbox', 'sandbox', 'sandbox', { sandbox: data.sandbox ? 'on' : 'off' });
  }
  return out;
}
