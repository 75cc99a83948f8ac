/**
 * @module The Cedar schema of drover's policies: who asks (a `Workflow`, with its tier and owner),
 * what it may do (the actions below) and on what. Every policy file is validated against it at
 * load (strict mode), so a typo in an attribute or an action is refused before anything runs.
 * Cedar's language: https://docs.cedarpolicy.com/ (schema: "Cedar schema format").
 */

/** The four shipped tiers, least governed first. A workflow without `meta.tier` is `personal`. */
export const TIERS = ['personal', 'team-beta', 'internal', 'customer-facing'] as const;
export type Tier = (typeof TIERS)[number];

/** Actions of the schema (Cedar `Action::"<name>"`). */
export const ACTIONS = [
  'useBackend',
  'useModel',
  'useTool',
  'readPath',
  'writePath',
  'runCommand',
  'network',
  'requireApproval',
  'configure',
] as const;
export type PolicyAction = (typeof ACTIONS)[number];

/**
 * drover's tool kinds, the same on every backend (the builtin agent's `read_file`, Claude Code's
 * `Read` and Codex's file reads are all `read`); `other` is any tool drover does not classify (MCP tools,
 * task tools...). See tools.ts for each backend's names.
 */
export const TOOL_KINDS = ['read', 'write', 'edit', 'glob', 'grep', 'bash', 'web', 'subagent', 'other'] as const;
export type ToolKind = (typeof TOOL_KINDS)[number];

/** Settings a policy sets through annotations on a `configure` permit (see settings.ts). */
export const SETTINGS = ['capture', 'retention', 'caps', 'sandbox'] as const;
export type SettingName = (typeof SETTINGS)[number];

/** The schema, in Cedar's schema syntax. */
export const CEDAR_SCHEMA = `
// The workflow asking: meta.name, meta.tier (default "personal"), meta.owner (default "").
entity Workflow = { name: String, tier: String, owner: String };
// An agent backend: builtin, claude-code, codex.
entity Backend;
// A model id as the agent asks for it (claude-sonnet-5, gpt-5.5...).
entity Model;
// A drover tool kind: read, write, edit, glob, grep, bash, web, subagent, other.
entity Tool;
// A file, by its real path (symlinks resolved); name is its last component.
entity Path = { path: String, name: String };
// A shell command an sh() step runs (the sandbox, not this string, decides what it can do).
entity Command = { command: String };
// A network destination ("*" = any host).
entity Host;
// An agent's result, before the workflow uses it (id "result"; match on its label and backend).
entity AgentResult = { label: String, backend: String };
// A setting whose value comes from the annotations of the permits that apply (settings.ts).
entity Setting;

type PathContext = { inWorkspace: Bool, inWorktree: Bool, inHome: Bool };

action useBackend appliesTo { principal: Workflow, resource: Backend };
action useModel appliesTo { principal: Workflow, resource: Model, context: { backend: String } };
action useTool appliesTo { principal: Workflow, resource: Tool, context: { backend: String } };
action readPath appliesTo { principal: Workflow, resource: Path, context: PathContext };
action writePath appliesTo { principal: Workflow, resource: Path, context: PathContext };
action runCommand appliesTo { principal: Workflow, resource: Command };
action network appliesTo { principal: Workflow, resource: Host };
// Allowed = a human must approve first (a durable question); the permits that matched are the rules.
action requireApproval appliesTo { principal: Workflow, resource: [Command, AgentResult] };
action configure appliesTo { principal: Workflow, resource: Setting };
`;
