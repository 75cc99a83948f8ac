import type { JsonSchema } from '../../types.js';
import type { Workspace } from './workspace.js';

export interface ToolContext {
  workspace: Workspace;
  signal: AbortSignal;
}

/** One tool of the built-in agent: its schema as the model sees it, and what it does. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: JsonSchema;
  run(input: Record<string, unknown>, ctx: ToolContext): Promise<string>;
}
