import type { SandboxSpec } from '../../../sandbox/index.js';
import type { JsonSchema } from '../../types.js';
import type { Workspace } from './workspace.js';

export interface ToolContext {
  workspace: Workspace;
  signal: AbortSignal;
  /** The run's OS sandbox: `bash` runs its command inside it (or refuses); absent or disabled: none. */
  sandbox?: SandboxSpec;
}

/** One tool of the built-in agent: its schema as the model sees it, and what it does. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: JsonSchema;
  run(input: Record<string, unknown>, ctx: ToolContext): Promise<string>;
}
