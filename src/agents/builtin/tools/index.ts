import { bashTool } from './bash-tool.js';
import { editFileTool, readFileTool, writeFileTool } from './file-tools.js';
import { globTool, grepTool } from './search-tools.js';
import type { ToolSpec } from './tool.js';

export { capOutput, scrubbedEnv } from './bash-tool.js';
export { DEFAULT_SEARCH_TIME_LIMIT_MS, type SearchToolOptions, searchTools } from './search-tools.js';
export type { ToolContext, ToolSpec } from './tool.js';
export { type Located, ToolError, Workspace } from './workspace.js';

/** The built-in agent's tools, sorted by name so the prompt prefix never changes order. */
export const CODING_TOOLS: readonly ToolSpec[] = [bashTool, editFileTool, globTool, grepTool, readFileTool, writeFileTool].sort((a, b) =>
  a.name.localeCompare(b.name),
);

export const CODING_TOOL_NAMES = CODING_TOOLS.map((t) => t.name);
