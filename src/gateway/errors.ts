/** @module Errors in each wire's own shape, so SDKs and CLIs surface drover's refusals as API errors. */
import type { LedgerWire } from '../budget/ledger-types.js';

/**
 * The error body a client of `wire` understands: Anthropic `{type:'error', error:{type, message}}`,
 * OpenAI `{error:{message, type, code, param}}`.
 */
export function wireError(wire: LedgerWire | null, type: string, message: string, status: number): unknown {
  if (wire === 'anthropic' || wire === null) return { type: 'error', error: { type, message } };
  return { error: { message, type, code: status === 429 ? 'rate_limit_exceeded' : type, param: null } };
}

/**
 * HTTP status of a request refused by a spending cap: 402 Payment Required. Neither Anthropic nor
 * OpenAI use 402, so no client mistakes it for a retryable rate limit (429) or overload (529);
 * Claude Code, Codex and both SDKs surface it as a failed request with the body's message.
 */
export const BUDGET_EXCEEDED_STATUS = 402;
/** HTTP status of a request refused by the policy hook. */
export const POLICY_REFUSED_STATUS = 403;
/** HTTP status when the upstream could not be reached. */
export const UPSTREAM_UNREACHABLE_STATUS = 502;
