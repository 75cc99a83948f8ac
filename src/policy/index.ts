/**
 * @module Governance: the policy engine (Cedar) with drover's schema, the shipped tiers, the
 * project's policies (`.drover/policy/*.cedar` and the YAML form), a workflow's effective policy
 * and the questions the enforcement points ask. See docs/governance.md.
 */
export { BACKEND_NAMES_FOR_POLICY } from './backends.js';
export { type AllowedItem, type EffectivePolicy, effectivePolicy, formatEffectivePolicy } from './effective.js';
export {
  DEFAULT_DENY,
  type Decision,
  ENGINE_ERROR,
  type LoadedPolicy,
  lineColumn,
  PolicyEngine,
  type PolicyEntity,
  type PolicyRequest,
  type PolicySource,
  type Principal,
  parsePolicyFile,
  parsePolicySources,
} from './engine.js';
export { PolicyDeniedError, PolicyFileError } from './errors.js';
export {
  type LoadedPolicies,
  loadPolicyEngine,
  type PolicyLoadOptions,
  projectPolicyDir,
  readPolicies,
  SHIPPED_POLICY_DIR,
} from './load.js';
export {
  ACTIONS,
  CEDAR_SCHEMA,
  type PolicyAction,
  SETTINGS,
  type SettingName,
  TIERS,
  type Tier,
  TOOL_KINDS,
  type ToolKind,
} from './schema.js';
export { BUILTIN_TOOL_KINDS, CLAUDE_TOOL_KINDS, toolKind, toolNamesOf } from './tools.js';
export {
  type AgentToolPolicy,
  type AuditSink,
  BUILT_IN,
  type CaptureMode,
  type PolicyAuditEvent,
  type PolicyCaps,
  principalOf,
  type Ruled,
  type SandboxSetting,
  WorkflowPolicy,
} from './workflow-policy.js';
export { compileYamlPolicy, type PolicyYaml, PolicyYamlSchema, yamlPolicySources } from './yaml-form.js';
