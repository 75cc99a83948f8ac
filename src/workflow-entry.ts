/**
 * @module drover/workflow
 *
 * The light entry for module-form workflow files: `defineWorkflow` and the types a workflow
 * body sees, nothing else. Importing it loads two small files and no dependency (~10 ms), where
 * `import { defineWorkflow } from 'drover'` loads the whole library (store, gateway, agents,
 * telemetry: ~1 s). Use it in every workflow file:
 *
 * ```ts
 * import { defineWorkflow } from 'drover/workflow';
 *
 * export default defineWorkflow({ name: 'release-notes', description: 'Draft notes from merged PRs' }, async (ctx) => {
 *   const log = await ctx.sh('git log --oneline -20');
 *   return ctx.agent(`Write release notes for:\n${log.stdout}`);
 * });
 * ```
 *
 * Works from ES modules and from CommonJS (`require('drover/workflow')`, Node >= 20.19 loads the
 * ES module). A definition made by any copy of drover is recognised by any other
 * (`WORKFLOW_MARK` is a registered symbol), so a project's own drover and a global one mix.
 * This file must keep importing only `./workflow/api.js`, which itself imports only types;
 * test/package.test.ts checks the loaded graph.
 */
export type { Effort, JsonSchema } from './agents/types.js';
export type {
  AgentOptions,
  AskOptions,
  Budget,
  ShOptions,
  Stage,
  Thunk,
  WorkflowApi,
  WorkflowDefinition,
  WorkflowMeta,
  WorkflowTasks,
} from './workflow/api.js';
export { defineWorkflow, WORKFLOW_MARK } from './workflow/api.js';
export type { ShellResult } from './workflow/shell.js';
