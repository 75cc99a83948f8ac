/** @module Tool results shared by the MCP server's tools. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DroverError } from '../core/index.js';

/** A text answer with the same data as `structuredContent`. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/** drover's refusals (not found, cycle, blocked, already claimed…) come back as tool errors (`CODE: message`), not protocol failures. */
export async function guarded(fn: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DroverError) return { isError: true, content: [{ type: 'text', text: `${err.code}: ${err.message}` }] };
    throw err;
  }
}
