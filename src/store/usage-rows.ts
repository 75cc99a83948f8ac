import { type PriceOverrides, priceUsage, providerOfModel } from '../budget/prices.js';
import type { UsageRecord, UsageTotals } from './types.js';

/** Totals of a run's (or a call's) ledger rows, with the cache-hit ratio. */
export function totalsFromRow(r: Omit<UsageTotals, 'cacheHitRatio'>): UsageTotals {
  const prompt = r.inputTokens + r.cacheReadTokens + r.cacheWriteTokens;
  return { ...r, costUsd: r.requests === 0 ? 0 : r.costUsd, cacheHitRatio: prompt > 0 ? r.cacheReadTokens / prompt : null };
}

/**
 * A usage row the runtime reports (no gateway saw the request) as ledger parameters: mode
 * `reported`, status 200, label/phase from the call and workflow from the run (looked up by the
 * insert), priced now.
 */
export function reportedParams(u: UsageRecord, prices: PriceOverrides | undefined) {
  const provider = providerOfModel(u.model, prices);
  const usage = { ...u, reasoningTokens: 0, serverToolUses: {} };
  const { costUsd, priceFlag } = priceUsage(u.model, usage, prices);
  return {
    run_id: u.runId,
    call_key: u.callKey,
    provider,
    wire: provider === 'anthropic' ? 'anthropic' : 'responses',
    model: u.model,
    request_id: u.requestId,
    stop_reason: u.stopReason,
    input_tokens: u.inputTokens,
    cache_read_tokens: u.cacheReadTokens,
    cache_write_5m_tokens: u.cacheWrite5mTokens,
    cache_write_1h_tokens: u.cacheWrite1hTokens,
    output_tokens: u.outputTokens,
    cost_usd: costUsd,
    price_flag: priceFlag,
    at: u.createdAt,
  };
}
