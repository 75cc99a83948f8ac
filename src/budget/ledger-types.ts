/**
 * The ledger: one row per model request that reached drover's gateway, written by the gateway
 * when the request ends — answered, refused, failed or cut. The single source of truth for
 * spend: per-call usage, `budget`, `status`, traces and reports are all derived from these rows.
 * Types only (no I/O): the store persists them (table `ledger`, schema v7), the gateway writes them.
 */

/**
 * How a row's `costUsd` was obtained.
 * - `priced`: the provider's own usage × the model's price (prices.json or config override).
 * - `unpriced`: the model has no price; tokens are exact, `costUsd` is null (never shown as $0).
 * - `estimated`: the stream ended before the provider's usage arrived; tokens were counted with
 *   the tokenizer from what was sent and received, and priced.
 */
export type PriceFlag = 'priced' | 'unpriced' | 'estimated';

/** Who a request is for. Every field is null when the gateway could not tell (`unattributed`). */
export interface Attribution {
  /** `x-drover-run` header, the `/r/<run>/…` path prefix, or the run of an in-process gateway. */
  runId: string | null;
  /** `x-drover-call` header or the `/c/<call>/…` path prefix: the journal key of the agent call. */
  callKey: string | null;
  /** The agent's label (`x-drover-label`), as shown in `status`. */
  agentLabel: string | null;
  /** The phase the call ran in (`x-drover-phase`). */
  phase: string | null;
  /** The workflow's name (`x-drover-workflow`): the key of per-workflow daily caps. */
  workflow: string | null;
  /** A client session id when nothing else names the request (`x-claude-code-session-id`). */
  session: string | null;
}

/** The provider whose price sheet and usage shape apply. */
export type ProviderName = 'anthropic' | 'openai';

/** The wire API a request came in on (see src/gateway/sim-request.ts `WireName`). */
export type LedgerWire = 'anthropic' | 'responses' | 'chat';

/** Token counts of one request, in the provider's classes. All integers ≥ 0, in tokens. */
export interface TokenUsage {
  /**
   * Uncached input tokens. Anthropic's `input_tokens` (which excludes cache reads and writes);
   * for OpenAI, `input_tokens` / `prompt_tokens` minus the cached tokens.
   */
  inputTokens: number;
  /** Anthropic `cache_read_input_tokens`; OpenAI `input_tokens_details.cached_tokens` / `prompt_tokens_details.cached_tokens`. */
  cacheReadTokens: number;
  /** Anthropic `cache_creation.ephemeral_5m_input_tokens` (or `cache_creation_input_tokens` when no split is given). */
  cacheWrite5mTokens: number;
  /** Anthropic `cache_creation.ephemeral_1h_input_tokens`. */
  cacheWrite1hTokens: number;
  /** Output tokens, reasoning included (Anthropic `output_tokens`; OpenAI `output_tokens` / `completion_tokens`). */
  outputTokens: number;
  /** Of `outputTokens`, the reasoning tokens (OpenAI `output_tokens_details.reasoning_tokens`); 0 when not reported. */
  reasoningTokens: number;
  /** Server-side tool uses billed per use, e.g. `{ web_search_requests: 2 }` (Anthropic `server_tool_use`). */
  serverToolUses: Record<string, number>;
}

/** One ledger row. */
export interface LedgerEntry extends TokenUsage, Attribution {
  /** Row id assigned by the store (absent before insert). */
  id?: number;
  provider: ProviderName;
  wire: LedgerWire;
  /** The model id as the client asked for it. */
  model: string;
  /** The provider's message / response / completion id; null when there was no answer. */
  requestId: string | null;
  /**
   * HTTP status the client got: 200 answered; 4xx/5xx refused or failed (drover's own refusals
   * included, e.g. 402 for a cap); 0 for a stream cut after the headers; 499 for a client hang-up.
   */
  status: number;
  /** Stop reason of the answer (`end_turn`, `tool_use`, `stop`, …), null when none. */
  stopReason: string | null;
  /** Request start (ms since the epoch) to its end, in ms. */
  startedAt: number;
  endedAt: number;
  /** Time to the first response byte from the upstream, in ms; null when none came. */
  ttfbMs: number | null;
  /** USD; null when `priceFlag` is `unpriced`. */
  costUsd: number | null;
  priceFlag: PriceFlag;
  /**
   * `proxy`, `record`, `replay` or `sim`: where the answer came from (replayed and simulated requests
   * cost nothing real). `reported`: no gateway saw the request; the agent backend reported its usage
   * (`Store.recordCalls`' usage rows, and usage rows of stores older than the ledger, schema < 7).
   */
  mode: LedgerMode;
  /**
   * Set when drover's gateway refused the request before sending it anywhere: `budget` (a cap, HTTP
   * 402) or `policy` (HTTP 403). Such a row costs nothing and is counted apart (`refusedRequests`).
   * Absent or null for every request that was sent (whatever its status).
   */
  refusedBy?: RefusalKind | null;
}

/** Why drover's gateway refused a request before sending it. */
export type RefusalKind = 'budget' | 'policy';

/** The gateway's four modes (see `drover gateway --mode`). */
export type GatewayMode = 'proxy' | 'record' | 'replay' | 'sim';

/** A ledger row's mode: the gateway's, or `reported` (no gateway saw the request). */
export type LedgerMode = GatewayMode | 'reported';

/** Every ledger mode, in the order reports list them. */
export const LEDGER_MODES: readonly LedgerMode[] = ['proxy', 'record', 'replay', 'sim', 'reported'];

/**
 * Modes whose answers no provider billed (a scenario, a cassette): priced like real ones, but not
 * spend — `drover usage` leaves them out by default and daily caps do not count them.
 */
export const UNBILLED_MODES: readonly LedgerMode[] = ['replay', 'sim'];

/** Every other mode: what `drover usage` counts by default (`reported` usage was real spend too). */
export const BILLED_MODES: readonly LedgerMode[] = LEDGER_MODES.filter((m) => !UNBILLED_MODES.includes(m));

/** Where the gateway writes ledger rows (the store, in practice). Must not throw for a valid row. */
export interface LedgerSink {
  /** Persists one row; resolves with its id. */
  record(entry: LedgerEntry): Promise<number>;
}
