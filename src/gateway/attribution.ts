/**
 * @module Who a model request is for. In order: `x-drover-*` headers (clients that can send
 * them: the builtin agent, Claude Code through ANTHROPIC_CUSTOM_HEADERS, Codex through
 * `http_headers`); the `/r/<run>/c/<call>` path prefix (clients that only take a base URL); the
 * run of an in-process gateway; else the client's own session header
 * (`x-claude-code-session-id`); else nothing (`unattributed`).
 * Header values may be percent-encoded (labels are not always Latin-1); they are decoded.
 */
import type { Attribution } from '../budget/ledger-types.js';
import { type HeaderBag, header } from './sim-request.js';

/** The attribution headers; stripped before a request goes to a provider. */
export const ATTRIBUTION_HEADERS = {
  run: 'x-drover-run',
  call: 'x-drover-call',
  label: 'x-drover-label',
  phase: 'x-drover-phase',
  workflow: 'x-drover-workflow',
} as const;

export const SESSION_HEADER = 'x-claude-code-session-id';

function decoded(headers: HeaderBag, name: string): string | null {
  const v = header(headers, name);
  if (v === undefined || v === '') return null;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/**
 * Attribution of one request.
 * @param prefix run and call from the path prefix (null when none)
 * @param defaults the run (and workflow) an in-process gateway serves, used when the request names none
 */
export function attributionOf(
  headers: HeaderBag,
  prefix: { runId: string | null; callKey: string | null },
  defaults: { runId?: string; workflow?: string } = {},
): Attribution {
  const runId = decoded(headers, ATTRIBUTION_HEADERS.run) ?? prefix.runId ?? defaults.runId ?? null;
  const callKey = decoded(headers, ATTRIBUTION_HEADERS.call) ?? prefix.callKey;
  const named = runId !== null || callKey !== null;
  return {
    runId,
    callKey,
    agentLabel: decoded(headers, ATTRIBUTION_HEADERS.label),
    phase: decoded(headers, ATTRIBUTION_HEADERS.phase),
    workflow: decoded(headers, ATTRIBUTION_HEADERS.workflow) ?? defaults.workflow ?? null,
    session: named ? null : decoded(headers, SESSION_HEADER),
  };
}

/** Headers that carry an attribution to another drover gateway (values percent-encoded). */
export function attributionHeaders(a: Attribution): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, v: string | null) => {
    if (v !== null) out[name] = encodeURIComponent(v);
  };
  put(ATTRIBUTION_HEADERS.run, a.runId);
  put(ATTRIBUTION_HEADERS.call, a.callKey);
  put(ATTRIBUTION_HEADERS.label, a.agentLabel);
  put(ATTRIBUTION_HEADERS.phase, a.phase);
  put(ATTRIBUTION_HEADERS.workflow, a.workflow);
  return out;
}
