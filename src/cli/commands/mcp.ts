/** @module `drover mcp`: flags here, the work in ../handlers/mcp.ts. */
import type { Command } from 'commander';
import { action, int } from '../action.js';

export function register(program: Command): void {
  program
    .command('mcp')
    .description('MCP server for the task board: stdio, or streamable HTTP on 127.0.0.1 with --http')
    .option('--http <port>', 'serve streamable HTTP on this port (0 picks one)', int('--http', 0))
    .option('--list <id>', 'task list (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
    .option('--json', 'with --http, print the URL as JSON')
    .action(action<[]>(async (f) => (await import('../handlers/mcp.js')).mcpCommand(f as never)));
}
