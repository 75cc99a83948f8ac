/**
 * @module drover
 *
 * The library: everything the CLI can do, as functions. Run a workflow (`runWorkflow`,
 * `resumeRun`), open a store (`createStore`), drive the task board (`TaskBoard`), start the sim
 * gateway (`startSimGateway`), serve MCP, and the typed errors (`DroverError` and its `code`s).
 * Importing it loads the whole library (~1 s of start-up). A workflow file needs only
 * `defineWorkflow` and the types: import those from `drover/workflow` (src/workflow-entry.ts),
 * which loads no dependency.
 *
 * ES module; CommonJS code can `require('drover')` on Node >= 20.19 (the engines floor), which
 * loads ES modules synchronously. See docs/install.md.
 */
export type { AgentBackend, AgentOutcome, AgentRequest, RequestUsage } from './agents/index.js';
export { BuiltinBackend, createBackend } from './agents/index.js';
export * from './budget/index.js';
export * from './budget/reports.js';
export type { Config } from './config/index.js';
export { findProjectRoot, resolveConfig } from './config/index.js';
export * from './core/index.js';
export { parseYamlInput } from './core/yaml-input.js';
export type { RunningGateway, SimStats } from './gateway/index.js';
export { loadScenario, parseScenario, ScenarioError, startSimGateway } from './gateway/index.js';
export * from './inventory/index.js';
export * from './mcp/index.js';
export * from './policy/index.js';
export {
  SandboxError,
  type SandboxErrorCode,
  type SandboxMeta,
  type SandboxSpec,
  type SandboxStatus,
  sandboxStatus,
} from './sandbox/index.js';
export type * from './store/control-types.js';
export {
  createStore,
  diagnosePostgres,
  diagnoseStore,
  SQLITE_SCHEMA_VERSION,
  SqliteStore,
  STORE_CORRUPT_EXIT_CODE,
  StoreCorruptError,
} from './store/index.js';
export {
  type ColumnClass,
  type MigrateOptions,
  migrateStore,
  type StoreComparison,
  type TableCheck,
  type TableShape,
  TargetNotEmptyError,
  verifyStores,
} from './store/migrate.js';
export type * from './store/transcript-types.js';
export type * from './store/types.js';
export type * from './store/workflow-types.js';
export * from './tasks/index.js';
export type { Stage, Thunk, WorkflowTasks } from './workflow/api.js';
export * from './workflow/index.js';
export type { ShellResult } from './workflow/shell.js';
