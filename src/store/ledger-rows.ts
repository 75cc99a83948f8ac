import type { LedgerEntry } from '../budget/ledger-types.js';
import type { LedgerRunGrouping } from './ledger-types.js';
import { safeText } from './rows.js';

/** Row shapes of the `ledger` table and their mapping to entries, shared by the SQLite and PostgreSQL stores. */

export interface LedgerRow {
  id: number;
  run_id: string | null;
  call_key: string | null;
  agent_label: string | null;
  phase: string | null;
  workflow: string | null;
  session: string | null;
  provider: LedgerEntry['provider'];
  wire: LedgerEntry['wire'];
  mode: LedgerEntry['mode'];
  model: string;
  request_id: string | null;
  status: number;
  stop_reason: string | null;
  input_tokens: number;
  cache_read_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  server_tool_uses_json: string | null;
  cost_usd: number | null;
  price_flag: LedgerEntry['priceFlag'];
  started_at: number;
  ended_at: number;
  ttfb_ms: number | null;
  /** Schema v15 (SQLite) / v3 (PostgreSQL). */
  refused_by: LedgerEntry['refusedBy'];
}

/** Row ↔ entry for the `ledger` table (schema v7). */
export function ledgerFromRow(r: LedgerRow): LedgerEntry {
  return {
    id: r.id,
    runId: r.run_id,
    callKey: r.call_key,
    agentLabel: r.agent_label,
    phase: r.phase,
    workflow: r.workflow,
    session: r.session,
    provider: r.provider,
    wire: r.wire,
    mode: r.mode,
    model: r.model,
    requestId: r.request_id,
    status: r.status,
    stopReason: r.stop_reason,
    inputTokens: r.input_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWrite5mTokens: r.cache_write_5m_tokens,
    cacheWrite1hTokens: r.cache_write_1h_tokens,
    outputTokens: r.output_tokens,
    reasoningTokens: r.reasoning_tokens,
    serverToolUses: r.server_tool_uses_json ? (JSON.parse(r.server_tool_uses_json) as Record<string, number>) : {},
    costUsd: r.cost_usd,
    priceFlag: r.price_flag,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    ttfbMs: r.ttfb_ms,
    refusedBy: r.refused_by ?? null,
  };
}

export function ledgerParams(e: LedgerEntry): Omit<LedgerRow, 'id'> {
  return {
    run_id: e.runId,
    call_key: e.callKey,
    agent_label: safeText(e.agentLabel),
    phase: safeText(e.phase),
    workflow: safeText(e.workflow),
    session: safeText(e.session),
    provider: e.provider,
    wire: e.wire,
    mode: e.mode,
    model: e.model,
    request_id: safeText(e.requestId),
    status: e.status,
    stop_reason: e.stopReason,
    input_tokens: e.inputTokens,
    cache_read_tokens: e.cacheReadTokens,
    cache_write_5m_tokens: e.cacheWrite5mTokens,
    cache_write_1h_tokens: e.cacheWrite1hTokens,
    output_tokens: e.outputTokens,
    reasoning_tokens: e.reasoningTokens,
    server_tool_uses_json: Object.keys(e.serverToolUses).length > 0 ? JSON.stringify(e.serverToolUses) : null,
    cost_usd: e.costUsd,
    price_flag: e.priceFlag,
    started_at: e.startedAt,
    ended_at: e.endedAt,
    ttfb_ms: e.ttfbMs,
    refused_by: e.refusedBy ?? null,
  };
}

/** The `ledger` table's columns other than `id`, in `ledgerParams` order. */
export const LEDGER_COLUMNS = Object.keys(
  ledgerParams({
    runId: null,
    callKey: null,
    agentLabel: null,
    phase: null,
    workflow: null,
    session: null,
    provider: 'anthropic',
    wire: 'anthropic',
    mode: 'sim',
    model: '',
    requestId: null,
    status: 0,
    stopReason: null,
    inputTokens: 0,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    serverToolUses: {},
    costUsd: null,
    priceFlag: 'unpriced',
    startedAt: 0,
    endedAt: 0,
    ttfbMs: null,
  }),
) as (keyof Omit<LedgerRow, 'id'>)[];

/** `sumsByRun` groupings: the SQL of each group's key and label (the same on both stores). */
export const RUN_GROUPS: Record<LedgerRunGrouping, { key: string; label: string }> = {
  phase: { key: 'phase', label: 'phase' },
  // Requests no call claims (an SDK client naming only a run) are grouped by their agent label, not lumped together.
  agent: { key: "COALESCE(call_key, 'label:' || agent_label)", label: 'MAX(agent_label)' },
  model: { key: 'model', label: 'model' },
};

/** A row waiting for the next batch, and the promise `record` returned for it. */
export interface PendingRow {
  params: Omit<LedgerRow, 'id'>;
  resolve: (id: number) => void;
  reject: (err: unknown) => void;
}
