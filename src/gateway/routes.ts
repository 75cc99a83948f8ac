/**
 * @module The model API paths the gateway answers, and which wire and provider each is.
 * Paths with and without `/v1` are accepted for OpenAI (its SDK and Codex take a base URL that
 * may or may not end in /v1); upstream they are always sent as `/v1/...`.
 */
import type { LedgerWire, ProviderName } from '../budget/ledger-types.js';

export interface ModelRoute {
  wire: LedgerWire;
  provider: ProviderName;
  /** The path sent upstream. */
  upstreamPath: string;
  /** `POST /v1/messages/count_tokens`: answered (sim) or passed through (proxy), never metered. */
  countOnly: boolean;
}

const ROUTES: Record<string, ModelRoute> = {
  '/v1/messages': { wire: 'anthropic', provider: 'anthropic', upstreamPath: '/v1/messages', countOnly: false },
  '/v1/messages/count_tokens': { wire: 'anthropic', provider: 'anthropic', upstreamPath: '/v1/messages/count_tokens', countOnly: true },
  '/v1/responses': { wire: 'responses', provider: 'openai', upstreamPath: '/v1/responses', countOnly: false },
  '/responses': { wire: 'responses', provider: 'openai', upstreamPath: '/v1/responses', countOnly: false },
  '/v1/chat/completions': { wire: 'chat', provider: 'openai', upstreamPath: '/v1/chat/completions', countOnly: false },
  '/chat/completions': { wire: 'chat', provider: 'openai', upstreamPath: '/v1/chat/completions', countOnly: false },
};

/** The route of a path (already without its attribution prefix and query), or null. */
export function routeOf(path: string): ModelRoute | null {
  return ROUTES[path] ?? null;
}

/**
 * Splits the attribution prefix off a path: `/r/<run>/c/<call>/v1/...` or `/r/<run>/v1/...`
 * (segments percent-encoded). For CLIs that only take a base URL (Codex with `base_url`).
 */
export function splitAttributionPrefix(path: string): { path: string; runId: string | null; callKey: string | null } {
  const m = /^\/r\/([^/]+)(?:\/c\/([^/]+))?(\/.*)$/.exec(path);
  if (!m) return { path, runId: null, callKey: null };
  const decode = (s: string | undefined) => {
    if (s === undefined) return null;
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { path: m[3] as string, runId: decode(m[1]), callKey: decode(m[2]) };
}

/** The base URL that attributes every request to a run and call: `<root>/r/<run>/c/<call>`. */
export function attributedBase(root: string, runId: string, callKey?: string): string {
  const r = root.replace(/\/$/, '');
  return `${r}/r/${encodeURIComponent(runId)}${callKey ? `/c/${encodeURIComponent(callKey)}` : ''}`;
}

/** The request's output cap: `max_tokens` (Anthropic, Chat), `max_output_tokens` (Responses), `max_completion_tokens` (Chat). */
export function maxTokensOf(body: Record<string, unknown>): number | null {
  for (const key of ['max_tokens', 'max_output_tokens', 'max_completion_tokens']) {
    const v = body[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return null;
}
