import type { UsageRecord } from '../store/index.js';

/** The AgentBackend interface: what the workflow runtime asks of any agent. No I/O here. */

export type JsonSchema = Record<string, unknown>;
export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface AgentRequest {
  prompt: string;
  system?: string;
  /** When set, the agent must answer with an object valid against this JSON Schema. */
  schema?: JsonSchema;
  model: string;
  effort?: Effort;
  cwd: string;
  label?: string;
  signal?: AbortSignal;
  onProgress?: (event: AgentProgress) => void;
}

/** Exact usage of one model request, as the provider (or gateway) reported it: a usage row without its run. */
export type RequestUsage = Omit<UsageRecord, 'runId' | 'callKey' | 'createdAt'>;

export type AgentProgress =
  | { type: 'request'; attempt: number }
  | { type: 'retry'; attempt: number; delayMs: number; reason: string }
  | { type: 'usage'; usage: RequestUsage };

export interface AgentFailure {
  code: string;
  message: string;
}

/** Every outcome carries the usage it cost, so money is recorded even when the agent fails. */
export type AgentOutcome =
  | { ok: true; text: string; object?: unknown; model: string; stopReason: string | null; usage: RequestUsage[]; attempts: number }
  | { ok: false; error: AgentFailure; usage: RequestUsage[]; attempts: number };

export interface AgentBackend {
  readonly name: string;
  run(request: AgentRequest): Promise<AgentOutcome>;
}
