/**
 * @module The effective policy of a workflow, as `drover policy check` prints it: for each thing
 * an agent could use, allowed or not and the rule ids that decided. Lists are found by asking the
 * engine about every known candidate (backends, tool kinds, the models any policy names plus the
 * price sheet's, and an unnamed model for "any other"), and paths by probing representative places.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BACKEND_NAMES_FOR_POLICY } from './backends.js';
import type { Decision } from './engine.js';
import { type Tier, TOOL_KINDS, type ToolKind } from './schema.js';
import type { CaptureMode, PolicyCaps, Ruled, SandboxSetting, WorkflowPolicy } from './workflow-policy.js';

export interface AllowedItem {
  name: string;
  allowed: boolean;
  rules: string[];
}

export interface EffectivePolicy {
  workflow: { name: string; tier: Tier; owner: string };
  /** Project policy files read (shipped tiers not listed). */
  files: string[];
  /** Project policies that replaced a shipped one: id → where the shipped one was. */
  overrides: Record<string, string>;
  backends: AllowedItem[];
  /** Models named by a policy or the price sheet, each decided; `anyOther`: a model named nowhere. */
  models: { named: AllowedItem[]; anyOther: Ruled<boolean> };
  tools: (AllowedItem & { name: ToolKind })[];
  paths: { read: AllowedItem[]; write: AllowedItem[] };
  sh: Ruled<boolean>;
  network: Ruled<'none' | 'host'>;
  approvals: { commands: AllowedItem[]; agentResults: Ruled<boolean> };
  caps: Ruled<PolicyCaps | null>;
  capture: Ruled<CaptureMode>;
  retentionDays: Ruled<number | null>;
  sandbox: SandboxSetting;
}

const item = (name: string, d: Decision): AllowedItem => ({ name, allowed: d.allow, rules: d.ruleIds });
const ruled = (d: Decision): Ruled<boolean> => ({ value: d.allow, rules: d.ruleIds });

/** Model ids named in policies (`Model::"..."`). */
function modelsNamed(policy: WorkflowPolicy): string[] {
  const out = new Set<string>();
  for (const p of policy.engine.policies.values()) for (const m of p.text.matchAll(/Model::"((?:[^"\\]|\\.)*)"/g)) out.add(m[1] as string);
  return [...out];
}

/** A model id no policy or sheet names: what "any other model" gets. */
const UNNAMED_MODEL = 'drover-policy-check-unnamed-model';

/**
 * The effective policy of `policy`'s workflow. `knownModels`: model ids to decide besides those
 * the policies name (the price sheet's).
 */
export function effectivePolicy(policy: WorkflowPolicy, knownModels: readonly string[], files: readonly string[] = []): EffectivePolicy {
  const p = policy.principal;
  const overrides: Record<string, string> = {};
  for (const pol of policy.engine.policies.values()) if (pol.overrides) overrides[pol.id] = pol.overrides;
  const models = [...new Set([...modelsNamed(policy), ...knownModels])].sort();
  const modelDecision = (m: string) => {
    // Allowed on one backend is allowed (policies may name the backend in context).
    const ds = BACKEND_NAMES_FOR_POLICY.map((b) => policy.decide('useModel', { type: 'Model', id: m }, { backend: b }));
    return ds.find((d) => d.allow) ?? (ds[0] as Decision);
  };
  const w = policy.workdir;
  const probes: [string, string][] = [
    ['workspace files (<workspace>/…)', join(w, 'src', 'file.ts')],
    ['a worktree of the run (<worktree>/…)', '/drover-policy-check/worktree/file.ts'],
    ['outside the workspace (/tmp/…)', '/tmp/drover-policy-check/file'],
    ['secret files (<workspace>/.env)', join(w, '.env')],
    ['~/.ssh/…', join(homedir(), '.ssh', 'id_ed25519')],
  ];
  const pathItems = (op: 'read' | 'write') =>
    probes.map(([label, path]) =>
      item(
        label,
        policy.pathDecision(
          op,
          resolve(path),
          path.startsWith('/drover-policy-check/worktree') ? '/drover-policy-check/worktree' : undefined,
        ),
      ),
    );
  const commands = ['git push origin main', 'git commit -m x', 'npm test'];
  return {
    workflow: { name: p.name, tier: p.tier as Tier, owner: p.owner },
    files: [...files],
    overrides,
    backends: BACKEND_NAMES_FOR_POLICY.map((b) => item(b, policy.decide('useBackend', { type: 'Backend', id: b }))),
    models: { named: models.map((m) => item(m, modelDecision(m))), anyOther: ruled(modelDecision(UNNAMED_MODEL)) },
    tools: TOOL_KINDS.map((k) => ({ ...item(k, policy.decide('useTool', { type: 'Tool', id: k }, { backend: 'builtin' })), name: k })),
    paths: { read: pathItems('read'), write: pathItems('write') },
    sh: ruled(policy.decide('runCommand', { type: 'Command', id: 'true', attrs: { command: 'true' } })),
    network: policy.network(),
    approvals: {
      commands: commands.map((c) => item(c, policy.commandApproval(c))),
      agentResults: ruled(policy.resultApproval('agent', 'builtin')),
    },
    caps: policy.caps(),
    capture: policy.capture(),
    retentionDays: policy.retentionDays(),
    sandbox: policy.sandbox(),
  };
}

/** The effective policy as lines of text: `what: value  [rule ids]`. */
export function formatEffectivePolicy(e: EffectivePolicy): string[] {
  const rules = (r: string[]) => `[${r.join(', ')}]`;
  const list = (items: AllowedItem[]) => {
    const yes = items.filter((i) => i.allowed);
    return yes.length ? yes.map((i) => `${i.name} ${rules(i.rules)}`).join(', ') : 'none';
  };
  const denied = (items: AllowedItem[]) => items.filter((i) => !i.allowed).map((i) => `${i.name} ${rules(i.rules)}`);
  const out = [
    `workflow ${e.workflow.name}: tier ${e.workflow.tier}, owner ${e.workflow.owner || '(none)'}`,
    ...(e.files.length ? [`project policy files: ${e.files.join(', ')}`] : ['project policy files: none (the shipped tiers only)']),
    ...Object.entries(e.overrides).map(([id, was]) => `  ${id} replaces the shipped rule at ${was}`),
    `backends allowed: ${list(e.backends)}`,
    ...denied(e.backends).map((d) => `  denied: ${d}`),
    `models allowed: ${
      e.models.anyOther.value
        ? `any ${rules(e.models.anyOther.rules)}`
        : `only ${list(e.models.named)}; any other denied ${rules(e.models.anyOther.rules)}`
    }`,
    `tools allowed: ${list(e.tools)}`,
    ...denied(e.tools).map((d) => `  denied: ${d}`),
    ...(['read', 'write'] as const).flatMap((op) => [
      `${op === 'read' ? 'readable' : 'writable'}:`,
      ...e.paths[op].map((i) => `  ${i.allowed ? 'yes' : 'no '} ${i.name} ${rules(i.rules)}`),
    ]),
    `sh steps: ${e.sh.value ? 'allowed' : 'denied'} ${rules(e.sh.rules)}`,
    `network: ${e.network.value} ${rules(e.network.rules)}`,
    `sandbox for sh and bash: ${e.sandbox.enabled ? 'on' : 'off'}, writable ${e.sandbox.writablePaths.join(', ') || 'nothing'}, network ${e.sandbox.network} ${rules(e.sandbox.rules)}`,
    'needs approval:',
    ...e.approvals.commands.map((c) => `  ${c.allowed ? 'yes' : 'no '} sh "${c.name}" ${rules(c.rules)}`),
    `  ${e.approvals.agentResults.value ? 'yes' : 'no '} every agent's result before use ${rules(e.approvals.agentResults.rules)}`,
    `caps: ${
      e.caps.value
        ? Object.entries(e.caps.value)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : 'none'
    } ${rules(e.caps.rules)}`,
    `content capture: ${e.capture.value} ${rules(e.capture.rules)}`,
    `retention: ${e.retentionDays.value === null ? 'kept until deleted' : `${e.retentionDays.value} days`} ${rules(e.retentionDays.rules)}`,
  ];
  return out;
}
