/**
 * @module Each backend's tool names and the drover tool kind each one is (`read`, `write`,
 * `edit`, `glob`, `grep`, `bash`, `web`, `subagent`, `other`), so one policy on kinds governs
 * every backend. A name not listed here is `other`.
 */
import type { ToolKind } from './schema.js';

/** The builtin agent's tools (src/agents/builtin/tools). */
export const BUILTIN_TOOL_KINDS: Readonly<Record<string, ToolKind>> = {
  bash: 'bash',
  edit_file: 'edit',
  glob: 'glob',
  grep: 'grep',
  read_file: 'read',
  write_file: 'write',
};

/** Claude Code's tools (reference/claude-code.md; names as `--allowedTools` takes them). */
export const CLAUDE_TOOL_KINDS: Readonly<Record<string, ToolKind>> = {
  Read: 'read',
  Write: 'write',
  Edit: 'edit',
  MultiEdit: 'edit',
  NotebookEdit: 'edit',
  Glob: 'glob',
  Grep: 'grep',
  LS: 'glob',
  Bash: 'bash',
  BashOutput: 'bash',
  KillShell: 'bash',
  WebFetch: 'web',
  WebSearch: 'web',
  Task: 'subagent',
  Agent: 'subagent',
};

/** The kind of a backend's tool name. */
export function toolKind(backend: string, name: string): ToolKind {
  const table = backend === 'builtin' ? BUILTIN_TOOL_KINDS : backend === 'claude-code' ? CLAUDE_TOOL_KINDS : {};
  return table[name] ?? 'other';
}

/** Every tool name of a backend that is of one of `kinds`. */
export function toolNamesOf(backend: string, kinds: readonly ToolKind[]): string[] {
  const table = backend === 'builtin' ? BUILTIN_TOOL_KINDS : backend === 'claude-code' ? CLAUDE_TOOL_KINDS : {};
  return Object.entries(table)
    .filter(([, k]) => kinds.includes(k))
    .map(([n]) => n);
}
