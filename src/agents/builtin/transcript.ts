import type { Effort, JsonSchema, RequestUsage } from '../types.js';

/**
 * The built-in agent's conversation, independent of any provider. Providers turn
 * it into their wire format the same way every time, so a request is always the
 * previous request plus what happened since: a cacheable prefix.
 */
export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolResult {
  callId: string;
  name: string;
  output: string;
  isError: boolean;
}

export type Entry =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; calls: ToolCall[] }
  | { role: 'tool'; results: ToolResult[] };

export interface ToolDefinition {
  name: string;
  description: string;
  parameters: JsonSchema;
}

export interface ModelRequest {
  model: string;
  system: string;
  tools: readonly ToolDefinition[];
  entries: readonly Entry[];
  maxTokens: number;
  /** Stable per agent: lets OpenAI route to the same prefix cache. */
  cacheKey: string;
  /** Reasoning effort, for providers that take one (OpenAI's `reasoning.effort`). */
  effort?: Effort;
  /** Extra HTTP headers (x-drover-agent, x-drover-call). */
  headers: Record<string, string>;
  signal: AbortSignal;
}

export interface ModelTurn {
  text: string;
  calls: ToolCall[];
  stopReason: string | null;
  model: string;
  usage: RequestUsage;
}

/** One model API the built-in agent can talk to. Throws the SDK's errors (with `status`) on failure. */
export interface ModelProvider {
  readonly name: string;
  send(request: ModelRequest): Promise<ModelTurn>;
}
