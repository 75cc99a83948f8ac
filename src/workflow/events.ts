import type { LimitSnapshot } from '../gateway/rate-limit/limiter.js';
/** Progress events a run emits while it goes; the CLI renders them, libraries may listen. */
export type CallState = 'running' | 'done' | 'failed' | 'reused' | 'waiting';

export type ProgressEvent =
  | { type: 'run'; runId: string; name: string; state: 'started' | 'resumed'; at: number }
  | { type: 'phase'; title: string; at: number }
  | {
      type: 'call';
      kind: 'agent' | 'sh' | 'step' | 'ask' | 'sleep' | 'task';
      key: string;
      label: string;
      phase: string | null;
      state: CallState;
      at: number;
      outputTokens?: number;
      /** Input tokens not read from or written to the prompt cache (as the ledger's `inputTokens`). */
      inputTokens?: number;
      /** Cache reads and writes (5m and 1h), apart from `inputTokens` as in `drover cost`. */
      cacheTokens?: number;
      error?: string;
    }
  | { type: 'retry'; label: string; attempt: number; delayMs: number; reason: string; at: number }
  /** A tool call inside a running agent (read_file, Bash, exec_command, ...). */
  | { type: 'activity'; key: string; label: string; tool: string; ok: boolean; summary: string; at: number }
  /** A cap of the run crossed 50/80/100% (also said as a warning): the live tree keeps the latest on its header. */
  | { type: 'budget'; message: string; share: number; at: number }
  /** The run's gateway is pacing requests to a provider (429s, lowered concurrency): the (upstream, model) limits being paced; empty when none is any more. */
  | { type: 'rate_limit'; limits: LimitSnapshot[]; at: number }
  /** A script's log line; `level: 'warning'` for what drover ignored in the script (shown with a `warning:` prefix). */
  | { type: 'log'; message: string; at: number; level?: 'warning' };

export type ProgressListener = (event: ProgressEvent) => void;
