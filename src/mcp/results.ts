/** @module Tool results shared by the MCP server's tools. */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DroverError } from '../core/index.js';
import { redactDeep, redactSecrets } from '../redact/index.js';

/** A text answer with the same data as `structuredContent`; both redacted (src/redact) — what the store holds already is, this covers the rest. */
export function ok(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: redactSecrets(text) }], structuredContent: redactDeep(structured) };
}

/** drover's refusals (not found, cycle, blocked, already claimed…) come back as tool errors (`CODE: message`), not protocol failures. */
export async function guarded(fn: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DroverError)
      return { isError: true, content: [{ type: 'text', text: redactSecrets(`${err.code}: ${err.message}`) }] };
    throw err;
  }
}
