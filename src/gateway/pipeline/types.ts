import type { Attribution, GatewayMode, LedgerEntry, LedgerWire, ProviderName, TokenUsage } from '../../budget/ledger-types.js';

/**
 * The gateway is one pipeline shared by its four modes:
 *   attribution → policy hook → cap reservation → source (upstream | cassette | scenario) → metering → settlement.
 * Each stage is a small object behind one of these interfaces (OpenTelemetry-JS style: processors
 * compose). Types only; implementations live beside this file.
 */

/** One model request as the pipeline sees it, parsed once. */
export interface GatewayRequest {
  /** Arrival time, ms since the epoch. */
  receivedAt: number;
  method: string;
  /** Path after any `/r/<run>/c/<call>` attribution prefix, e.g. `/v1/messages`. */
  path: string;
  /** The query string with its `?` (Claude Code sends `?beta=true`), '' when none. Forwarded as is. */
  query?: string;
  /** Request headers, lower-case names. Secrets are still present here: never persist them. */
  headers: Record<string, string | string[] | undefined>;
  /** The exact bytes the client sent. */
  rawBody: Buffer;
  /** The parsed JSON body (validated as an object). */
  body: Record<string, unknown>;
  wire: LedgerWire;
  provider: ProviderName;
  model: string;
  stream: boolean;
  /** `max_tokens` / `max_output_tokens` / `max_completion_tokens` of the request; null when absent. */
  maxTokens: number | null;
  attribution: Attribution;
}

/** An answer as it arrives: status and headers first, then the body chunk by chunk (never buffered whole). */
export interface SourceResponse {
  status: number;
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
  /**
   * Applied to the body after metering, to what the client gets: the proxy drops the usage-only
   * Chat chunk it asked for on the client's behalf. Absent: the client gets the bytes as they are.
   */
  clientFilter?: ChunkFilter;
}

/** A stateful byte filter between the meter and the client. */
export interface ChunkFilter {
  /** Bytes to send now for this chunk (may hold back an unfinished event). */
  push(chunk: Uint8Array): Uint8Array;
  /** Bytes held back, at the end of the body. */
  end(): Uint8Array;
}

/** What a source answers on drover's own routes (`/_drover/...`), or null when the route is not its. */
export interface AdminAnswer {
  status: number;
  body: unknown;
}

/** Where answers come from: the real upstream (proxy, record), a cassette (replay), a scenario (sim). */
export interface AnswerSource {
  readonly mode: GatewayMode;
  /** Answers the request. `signal` aborts when the client hangs up or the gateway closes. */
  answer(request: GatewayRequest, signal: AbortSignal): Promise<SourceResponse>;
  /**
   * True when this request's answer comes from another drover gateway writing the same store
   * (`storeId`): that gateway meters it and holds the caps, so this one writes no ledger row and
   * reserves nothing. Absent: never.
   */
  sharesLedger?(request: GatewayRequest, storeId: string): Promise<boolean>;
  /** The source's own `/_drover/...` routes (the sim's gates, stats, reset); null when not its. */
  adminRoute?(method: string, path: string, query: URLSearchParams): AdminAnswer | null;
  /** Releases what the source holds (waits at gates, open connections). */
  close?(): Promise<void>;
}

/**
 * Reads a response's usage as it streams past (Anthropic `message_start` + `message_delta`,
 * Responses `response.completed`, Chat's final usage chunk, or a whole JSON body).
 */
export interface UsageMeter {
  /** Sees every chunk the client gets, in order. */
  observe(chunk: Uint8Array): void;
  /** The provider's usage once the response ended; null when it never arrived (cut stream, error body). */
  finish(): { usage: TokenUsage; requestId: string | null; stopReason: string | null } | null;
}

/** The policy hook (empty for now; the governance issue fills it). Returns a refusal message or null. */
export interface PolicyStage {
  check(request: GatewayRequest): Promise<string | null>;
}

/** A hold on budget for one request (see src/budget/caps-types.ts). */
export interface HeldBudget {
  /** Replaces the hold with the request's real cost (or releases it when the entry cost nothing). */
  settle(entry: LedgerEntry): Promise<void>;
}

/**
 * Cap reservation. `reserve` resolves once the worst case fits every cap (waiting for in-flight
 * reservations to settle when that would make it fit) and rejects with BudgetExceededError
 * (`BUDGET_EXCEEDED`) when it cannot fit even then — before anything is sent upstream.
 */
export interface ReservationStage {
  reserve(request: GatewayRequest, signal: AbortSignal): Promise<HeldBudget>;
}
