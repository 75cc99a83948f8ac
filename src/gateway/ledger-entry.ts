/** @module One ledger row from a finished request: the provider's usage, an estimate, or nothing; priced. */
import type { GatewayMode, LedgerEntry, RefusalKind, TokenUsage } from '../budget/ledger-types.js';
import { type PriceOverrides, priceUsage } from '../budget/prices.js';
import type { GatewayRequest } from './pipeline/types.js';
import { estimateUsage, type PartialUsage, type WireMeter } from './usage/index.js';
import { ZERO_USAGE } from './usage/meter.js';

export interface RequestEnd {
  /** Status the client got (0: stream cut after the headers; 499: the client hung up). */
  status: number;
  /** Status the source answered with, null when it never answered. */
  sourceStatus: number | null;
  endedAt: number;
  ttfbMs: number | null;
  meter: WireMeter | null;
  /** Set when the gateway refused the request before sending it (a cap, the policy). */
  refusedBy?: RefusalKind;
}

/**
 * The row of a request that ended. Usage, in order: the provider's own (priced, or unpriced for
 * an unknown model); an estimate when a successful answer ended before its usage (`estimated`:
 * a cut stream, a hang-up); zero for refusals and errors (they cost nothing). Priced with the
 * price sheet and `prices` (drover.config.json overrides): the same prices the caps hold against.
 */
export function ledgerEntry(request: GatewayRequest, mode: GatewayMode, end: RequestEnd, prices?: PriceOverrides): LedgerEntry {
  const metered = end.meter?.finish() ?? null;
  let usage: TokenUsage = ZERO_USAGE;
  let seen: PartialUsage | null = null;
  let estimated = false;
  if (metered) usage = metered.usage;
  else if (end.meter && end.sourceStatus !== null && end.sourceStatus >= 200 && end.sourceStatus < 300) {
    seen = end.meter.partial();
    usage = estimateUsage(request.body, seen);
    estimated = true;
  }
  const price = priceUsage(request.model, usage, prices);
  const a = request.attribution;
  // Field by field, not `{ ...a, ..., ...usage }`: see fullUsage in usage/meter.ts (GC pauses).
  return {
    runId: a.runId,
    callKey: a.callKey,
    agentLabel: a.agentLabel,
    phase: a.phase,
    workflow: a.workflow,
    session: a.session,
    provider: request.provider,
    wire: request.wire,
    mode,
    model: request.model,
    requestId: metered?.requestId ?? seen?.requestId ?? end.meter?.partial().requestId ?? null,
    status: end.status,
    stopReason: metered?.stopReason ?? seen?.stopReason ?? null,
    inputTokens: usage.inputTokens,
    cacheReadTokens: usage.cacheReadTokens,
    cacheWrite5mTokens: usage.cacheWrite5mTokens,
    cacheWrite1hTokens: usage.cacheWrite1hTokens,
    outputTokens: usage.outputTokens,
    reasoningTokens: usage.reasoningTokens,
    serverToolUses: Object.assign({}, usage.serverToolUses),
    costUsd: price.costUsd,
    priceFlag: estimated && price.priceFlag === 'priced' ? 'estimated' : price.priceFlag,
    startedAt: request.receivedAt,
    endedAt: end.endedAt,
    ttfbMs: end.ttfbMs,
    refusedBy: end.refusedBy ?? null,
  };
}
