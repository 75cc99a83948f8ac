import { gatewayRoot } from '../endpoint.js';
import type { RequestUsage } from '../types.js';

interface GatewayRecord {
  startedAt?: number;
  at?: number;
  requestId: string | null;
  model: string;
  usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number } | null;
  /** The ledger row (drover's gateway since issue 12): cache writes split 5m / 1h. Absent from the sim's own log. */
  ledger?: { cacheWrite5mTokens: number; cacheWrite1hTokens: number; stopReason: string | null };
}

/**
 * Exact usage of every model request a call made, as drover's gateway measured it
 * (`GET /_drover/usage?tag=<call>`), one record per message id. null when the
 * endpoint is not a drover gateway: the caller falls back to the agent's own report.
 */
export async function gatewayUsage(gatewayUrl: string, tag: string): Promise<RequestUsage[] | null> {
  let body: { requests?: GatewayRecord[] };
  try {
    const res = await fetch(`${gatewayRoot(gatewayUrl)}/_drover/usage?tag=${encodeURIComponent(tag)}`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) return null;
    body = (await res.json()) as { requests?: GatewayRecord[] };
  } catch {
    return null;
  }
  if (!Array.isArray(body.requests)) return null;
  const seen = new Set<string>();
  const out: RequestUsage[] = [];
  for (const r of body.requests) {
    if (!r.usage) continue;
    if (r.requestId) {
      if (seen.has(r.requestId)) continue;
      seen.add(r.requestId);
    }
    out.push({
      requestId: r.requestId,
      model: r.model,
      inputTokens: r.usage.input_tokens,
      outputTokens: r.usage.output_tokens,
      cacheReadTokens: r.usage.cache_read_input_tokens,
      cacheWrite5mTokens: r.ledger ? r.ledger.cacheWrite5mTokens : r.usage.cache_creation_input_tokens,
      cacheWrite1hTokens: r.ledger ? r.ledger.cacheWrite1hTokens : 0,
      stopReason: r.ledger?.stopReason ?? null,
      ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      ...(r.at ? { endedAt: r.at } : {}),
    });
  }
  return out;
}
