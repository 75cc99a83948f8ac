import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES } from '../src/agents/index.js';
import {
  BACKEND_NAMES_FOR_POLICY,
  effectivePolicy,
  loadPolicyEngine,
  PolicyEngine,
  PolicyFileError,
  readPolicies,
  SHIPPED_POLICY_DIR,
  WorkflowPolicy,
} from '../src/policy/index.js';
import { cli, tempDir, write } from './helpers.js';

/**
 * The policy engine with real Cedar (wasm) and real files: each tier's shipped defaults, the
 * project's overrides (Cedar and YAML), bad policy files refused with file and line, fail-closed
 * decisions, and `drover policy check` as a process.
 */

const policyOf = (tier: string, root?: string, workdir = '/work/project') =>
  new WorkflowPolicy(loadPolicyEngine(root ? { root } : {}), { name: 'wf', tier }, workdir);
const allowedNames = (items: { name: string; allowed: boolean }[]) => items.filter((i) => i.allowed).map((i) => i.name);
const KNOWN = ['claude-opus-4-8', 'claude-sonnet-5', 'claude-haiku-4-5', 'gpt-5.5', 'gpt-4o'];

function project(files: Record<string, string>): string {
  const root = tempDir('drover-policy-');
  mkdirSync(join(root, '.drover', 'policy'), { recursive: true });
  for (const [name, text] of Object.entries(files)) write(join(root, '.drover', 'policy'), name, text);
  return root;
}

describe('shipped tiers', () => {
  it('personal (the default for a workflow with no tier) allows anything, with sandbox off and capture redacted', () => {
    const p = new WorkflowPolicy(loadPolicyEngine(), { name: 'wf' }, '/work/project');
    expect(p.principal.tier).toBe('personal');
    const e = effectivePolicy(p, KNOWN);
    expect(allowedNames(e.backends)).toEqual([...BACKEND_NAMES]);
    expect(e.models.anyOther).toEqual({ value: true, rules: ['personal.allow-all'] });
    expect(e.tools.every((t) => t.allowed)).toBe(true);
    expect(e.paths.write.every((w) => w.allowed)).toBe(true);
    expect(e.network.value).toBe('host');
    expect(e.sandbox).toMatchObject({ enabled: false, network: 'host' });
    expect(e.approvals.commands.some((c) => c.allowed)).toBe(false);
    expect(e.capture).toEqual({ value: 'redacted', rules: ['personal.capture'] });
    expect(e.retentionDays).toEqual({ value: 30, rules: ['personal.retention'] });
  });

  it('team-beta: any model, writes only in workspace or worktree, secret files denied, sandbox on with network', () => {
    const e = effectivePolicy(policyOf('team-beta'), KNOWN);
    expect(e.models.anyOther.value).toBe(true);
    const write = Object.fromEntries(e.paths.write.map((w) => [w.name.split(' ')[0], w]));
    expect(write.workspace).toMatchObject({ allowed: true, rules: ['team-beta.write'] });
    expect(write.outside).toMatchObject({ allowed: false, rules: ['default-deny'] });
    expect(write.secret).toMatchObject({ allowed: false, rules: ['base.deny-secret-files'] });
    expect(e.sandbox).toMatchObject({ enabled: true, network: 'host', writablePaths: ['/work/project'] });
    expect(policyOf('team-beta').sandbox('/repo/.git/drover-worktrees/a').writablePaths).toEqual([
      '/work/project',
      '/repo/.git/drover-worktrees/a',
    ]);
    expect(policyOf('team-beta', project({ 'w.yaml': 'tier: team-beta\nwritable: [worktree]\n' })).sandbox('/wt')).toMatchObject({
      writablePaths: ['/wt'],
      rules: expect.arrayContaining(['team-beta.sandbox', 'team-beta.network', 'team-beta.write-only', 'team-beta.write']),
    });
    expect(e.retentionDays.value).toBe(30);
  });

  it('internal: only the models its policy names, no web tools, no network, git push needs approval', () => {
    const e = effectivePolicy(policyOf('internal'), KNOWN);
    expect(e.models.anyOther).toEqual({ value: false, rules: ['default-deny'] });
    expect(allowedNames(e.models.named)).toEqual(['claude-haiku-4-5', 'claude-opus-4-8', 'claude-sonnet-5', 'gpt-5.5']);
    expect(e.tools.find((t) => t.name === 'web')).toMatchObject({ allowed: false, rules: ['default-deny'] });
    expect(e.tools.find((t) => t.name === 'bash')).toMatchObject({ allowed: true, rules: ['internal.tools'] });
    expect(e.network).toEqual({ value: 'none', rules: ['default-deny'] });
    expect(e.sandbox).toMatchObject({ enabled: true, network: 'none' });
    expect(e.approvals.commands.find((c) => c.name.startsWith('git push'))).toMatchObject({
      allowed: true,
      rules: ['internal.approve-commands'],
    });
    expect(e.approvals.commands.find((c) => c.name === 'npm test')?.allowed).toBe(false);
    expect(e.approvals.agentResults.value).toBe(false);
    expect(e.capture.value).toBe('redacted');
  });

  it('customer-facing: fewer models, every agent result approved, content capture off, 14 days', () => {
    const e = effectivePolicy(policyOf('customer-facing'), KNOWN);
    expect(allowedNames(e.models.named)).toEqual(['claude-sonnet-5', 'gpt-5.5']);
    expect(e.approvals.agentResults).toEqual({ value: true, rules: ['customer-facing.approve-agent-results'] });
    expect(e.capture).toEqual({ value: 'off', rules: ['customer-facing.capture'] });
    expect(e.retentionDays.value).toBe(14);
  });

  it('validate in strict mode against the schema (they are only parsed when a run loads them)', () => {
    const { policies } = readPolicies({ shippedDir: SHIPPED_POLICY_DIR });
    expect(policies.length).toBeGreaterThan(30);
    expect(new Set(policies.map((p) => p.id)).size).toBe(policies.length);
  });

  it('names the same backends as the agents module', () => {
    expect([...BACKEND_NAMES_FOR_POLICY]).toEqual([...BACKEND_NAMES]);
  });
});

describe('project policies', () => {
  it('a YAML knob replaces the shipped rule of the same id and narrows a tier whose defaults allow more', () => {
    const root = project({
      'team.yaml': [
        'tiers: [internal, personal]',
        'models: [claude-sonnet-5]',
        'tools: [read, grep, glob]',
        'caps: { usd: 5, perAgentUsd: 0.5 }',
        'retentionDays: 7',
        'approvals: { commands: ["npm publish*"], agentResults: true }',
        '',
      ].join('\n'),
    });
    const internal = effectivePolicy(policyOf('internal', root), KNOWN);
    expect(allowedNames(internal.models.named)).toEqual(['claude-sonnet-5']);
    expect(internal.models.named.find((m) => m.name === 'gpt-5.5')).toMatchObject({ allowed: false, rules: ['internal.models-only'] });
    expect(internal.overrides['internal.models']).toMatch(/^\(drover\)\/internal\.cedar:\d+$/);
    expect(internal.caps).toEqual({ value: { usd: 5, perAgentUsd: 0.5 }, rules: ['internal.caps'] });
    expect(internal.retentionDays).toEqual({ value: 7, rules: ['internal.retention'] });
    expect(internal.approvals.commands.find((c) => c.name.startsWith('git push'))?.allowed).toBe(false);
    expect(internal.approvals.agentResults.value).toBe(true);
    // personal allows everything by default; the list knobs narrow it with their -only forbids.
    const personal = effectivePolicy(policyOf('personal', root), KNOWN);
    expect(personal.models.anyOther).toEqual({ value: false, rules: ['personal.models-only'] });
    expect(personal.tools.find((t) => t.name === 'bash')).toMatchObject({ allowed: false, rules: ['personal.tools-only'] });
  });

  it('a .cedar file adds rules (a forbid beats the tier permit) and a same-id policy replaces the shipped one', () => {
    const root = project({
      'rules.cedar': `@id("acme.no-opus")
forbid (principal, action == Action::"useModel", resource == Model::"claude-opus-4-8")
when { principal.owner == "contractors" };

@id("internal.network")
permit (principal, action == Action::"network", resource)
when { principal.tier == "internal" };
`,
    });
    const engine = loadPolicyEngine({ root });
    const contractors = new WorkflowPolicy(engine, { name: 'wf', tier: 'personal', owner: 'contractors' }, '/w');
    expect(contractors.decide('useModel', { type: 'Model', id: 'claude-opus-4-8' }, { backend: 'builtin' })).toEqual({
      allow: false,
      ruleIds: ['acme.no-opus'],
    });
    expect(new WorkflowPolicy(engine, { name: 'wf', tier: 'internal' }, '/w').network()).toEqual({
      value: 'host',
      rules: ['internal.network'],
    });
  });

  it('refuses bad files with file, line, column and the validator message', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { 'a.cedar': '@id("a.one")\npermit (principal, action, resource)\nwhen { principal.tierr == "x" };\n' },
        /^\.drover\/policy\/a\.cedar:3:8: .*`tierr`.*did you mean `tier`/,
      ],
      [
        { 'b.cedar': '@id("b.one")\npermit (principal, action == Action::"useModel", resource)\nwhen { resource.nope };\n' },
        /^\.drover\/policy\/b\.cedar:3:8: .*`nope`/,
      ],
      [{ 'c.cedar': '@id("c.one")\npermit (principal, action == Action::"fly", resource);\n' }, /^\.drover\/policy\/c\.cedar:2:\d+: .*fly/],
      [{ 'd.cedar': '\n\npermit (principal, action, resource)\n' }, /^\.drover\/policy\/d\.cedar:\d+:\d+: /],
      [
        { 'e.cedar': '// no id\npermit (principal, action == Action::"useModel", resource);\n' },
        /^\.drover\/policy\/e\.cedar:2:1: every policy needs an @id/,
      ],
      [{ 'f.yaml': 'tier: internal\nmodels: [a]\nnetwork: maybe\n' }, /^\.drover\/policy\/f\.yaml:3:10: network: /],
      [{ 'g.yaml': 'tier: internal\nmodel: [a]\n' }, /^\.drover\/policy\/g\.yaml:2:1: unknown key "model"/],
      [{ 'h.yaml': 'tier: prod\n' }, /^\.drover\/policy\/h\.yaml:1:7: tier: /],
      [
        {
          'i.cedar': '@id("x.same")\npermit (principal, action == Action::"network", resource);\n',
          'j.cedar': '\n@id("x.same")\nforbid (principal, action == Action::"network", resource);\n',
        },
        /^\.drover\/policy\/j\.cedar:2:1: @id\("x\.same"\) is already declared at \.drover\/policy\/i\.cedar:1/,
      ],
    ];
    for (const [files, message] of cases) {
      const root = project(files);
      let caught: unknown;
      try {
        readPolicies({ root });
      } catch (err) {
        caught = err;
      }
      expect(caught, Object.keys(files).join()).toBeInstanceOf(PolicyFileError);
      expect((caught as PolicyFileError).message, Object.keys(files).join()).toMatch(message);
      expect((caught as PolicyFileError).code).toBe('POLICY_INVALID');
      expect((caught as PolicyFileError).exitCode).toBe(2);
    }
  });
});

describe('decisions', () => {
  it('are fail-closed: a forbid that errors while evaluated denies (naming it), an engine failure denies', () => {
    const engine = new PolicyEngine(readPolicies().policies);
    const principal = { name: 'wf', tier: 'team-beta', owner: '' };
    // A Path without its attributes: base.deny-secret-files cannot be evaluated, so nothing is allowed.
    const d = engine.decide({
      principal,
      action: 'readPath',
      resource: { type: 'Path', id: '/w/a' },
      context: { inWorkspace: true, inWorktree: false, inHome: false },
    });
    expect(d.allow).toBe(false);
    expect(d.ruleIds).toEqual(['base.deny-secret-files']);
    expect(d.error).toMatch(/does not exist|attribute/);
    // A context missing what the permits read: the engine errors, and the answer is deny.
    const e = engine.decide({ principal, action: 'writePath', resource: { type: 'Path', id: '/w/a', attrs: { path: '/w/a', name: 'a' } } });
    expect(e.allow).toBe(false);
    expect(e.ruleIds.length).toBeGreaterThan(0);
  });

  it('name the permits that allowed and default-deny when none did; cached answers equal fresh ones', () => {
    const engine = new PolicyEngine(readPolicies().policies);
    const principal = { name: 'wf', tier: 'internal', owner: '' };
    const req = (id: string) => ({
      principal,
      action: 'useModel' as const,
      resource: { type: 'Model', id },
      context: { backend: 'builtin' },
    });
    expect(engine.decide(req('gpt-5.5'))).toEqual({ allow: true, ruleIds: ['internal.models'] });
    expect(engine.decide(req('gpt-4o'))).toEqual({ allow: false, ruleIds: ['default-deny'] });
    expect(engine.decide(req('gpt-4o'))).toEqual(engine.evaluate(req('gpt-4o')));
  });
});

describe('the decision cache', () => {
  it('ignores attributes no policy names, and keeps those one does', () => {
    const plain = policyOf('customer-facing');
    expect(plain.resultApproval('a', 'builtin')).toEqual(plain.resultApproval('b', 'codex'));
    const root = project({
      'deploys.cedar': `@id("acme.approve-deploys")
permit (principal, action == Action::"requireApproval", resource is AgentResult)
when { resource.label like "deploy*" };
`,
    });
    const p = policyOf('internal', root);
    expect(p.resultApproval('tests', 'builtin')).toEqual({ allow: false, ruleIds: ['default-deny'] });
    expect(p.resultApproval('deploy prod', 'builtin')).toEqual({ allow: true, ruleIds: ['acme.approve-deploys'] });
    expect(p.resultApproval('tests', 'builtin').allow).toBe(false);
  });
});

describe('drover policy check', () => {
  it('prints the effective policy with the rule of each line, and --json', async () => {
    const root = project({ 'team.yaml': 'tier: internal\nmodels: [claude-sonnet-5]\ncaps: { usd: 3 }\n' });
    write(root, 'drover.config.json', '{}');
    write(
      root,
      'wf.js',
      "export const meta = { name: 'triage', description: 'd', tier: 'internal', owner: 'platform-team' };\nawait agent('x');\n",
    );
    const text = await cli(['policy', 'check', 'wf.js'], { cwd: root });
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('workflow triage: tier internal, owner platform-team');
    expect(text.stdout).toMatch(/models allowed: only claude-sonnet-5 \[internal\.models\]; any other denied \[internal\.models-only\]/);
    expect(text.stdout).toMatch(/caps: usd 3 \[internal\.caps\]/);
    expect(text.stdout).toMatch(/yes sh "git push origin main" \[internal\.approve-commands\]/);
    expect(text.stdout).toMatch(/network: none \[default-deny\]/);
    const json = await cli(['policy', 'check', 'wf.js', '--json'], { cwd: root });
    const e = JSON.parse(json.stdout);
    expect(e.workflow).toEqual({ name: 'triage', tier: 'internal', owner: 'platform-team' });
    expect(e.sandbox).toMatchObject({ enabled: true, network: 'none', writablePaths: [root] });
  });

  it('refuses a bad policy file (exit 2, file and line) and an unknown tier (named)', async () => {
    const root = project({
      'bad.cedar': '@id("x.y")\npermit (principal, action == Action::"useModel", resource)\nwhen { principal.teir == "a" };\n',
    });
    write(root, 'drover.config.json', '{}');
    write(root, 'wf.js', "export const meta = { name: 'w', description: 'd' };\n");
    const bad = await cli(['policy', 'check', 'wf.js', '--json'], { cwd: root });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'POLICY_INVALID' });
    expect(bad.stderr).toMatch(/\.drover\/policy\/bad\.cedar:3:8: .*teir/);
    const plain = project({});
    write(plain, 'drover.config.json', '{}');
    write(plain, 'wf.js', "export const meta = { name: 'w', description: 'd', tier: 'production' };\n");
    const tier = await cli(['policy', 'check', 'wf.js'], { cwd: plain });
    expect(tier.code).toBe(2);
    expect(tier.stderr).toMatch(/meta\.tier "production" is not a tier \(one of personal, team-beta, internal, customer-facing\)/);
    write(plain, 'wf2.js', "export const meta = { name: 'w', description: 'd', owner: '' };\n");
    const owner = await cli(['policy', 'check', 'wf2.js'], { cwd: plain });
    expect(owner.code).toBe(2);
    expect(owner.stderr).toMatch(/meta\.owner/);
  });
});
