/**
 * @module How a cap refusal travels from the gateway to whoever sent the request: an HTTP
 * error body (any client, any process) and, in process, a note by call key (any backend).
 */
import { BudgetExceededError, type Cap, type CapScope } from './caps-types.js';

/** HTTP status of a cap refusal: 402 Payment Required (the request was not sent upstream). */
export const BUDGET_REFUSAL_STATUS = 402;

/** The `error.type` of a refusal body. */
export const BUDGET_REFUSAL_TYPE = 'budget_exceeded';

const SCOPES: readonly CapScope[] = ['run', 'phase', 'call', 'workflow-day', 'store-day'];

/**
 * The body the gateway answers a refused request with. Anthropic's error shape
 * (`{type:"error", error:{type, message}}`), which OpenAI clients also read (`error.message`,
 * `error.type`, `error.code`), plus the cap and what was spent.
 */
export function budgetRefusalBody(err: BudgetExceededError): Record<string, unknown> {
  return {
    type: 'error',
    error: {
      type: BUDGET_REFUSAL_TYPE,
      code: err.code,
      message: err.message,
      cap: err.cap,
      spent: { usd: err.spentUsd, tokens: err.spentTokens },
    },
  };
}

function parse(body: unknown): Record<string, unknown> | null {
  let value = body;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * The refusal a gateway's HTTP error stands for, or null when it is not one. `body` may be the
 * raw text/bytes or the parsed JSON (an SDK error's `error` field). A 4xx whose `error.type`
 * is `budget_exceeded` is a refusal; the cap and spend are read when present.
 */
export function isBudgetRefusal(status: number | undefined, body: unknown): BudgetExceededError | null {
  if (status !== undefined && (status < 400 || status >= 500)) return null;
  const parsed = parse(body);
  if (!parsed) return null;
  const error = parse(parsed.error) ?? (parsed.type === BUDGET_REFUSAL_TYPE ? parsed : null);
  if (!error || error.type !== BUDGET_REFUSAL_TYPE) return null;
  const raw = parse(error.cap);
  const cap: Cap =
    raw && typeof raw.key === 'string' && SCOPES.includes(raw.scope as CapScope)
      ? {
          scope: raw.scope as CapScope,
          key: raw.key,
          ...(typeof raw.limitUsd === 'number' ? { limitUsd: raw.limitUsd } : {}),
          ...(typeof raw.limitTokens === 'number' ? { limitTokens: raw.limitTokens } : {}),
        }
      : { scope: 'run', key: '?' };
  const spent = parse(error.spent);
  return new BudgetExceededError(
    cap,
    { usd: typeof spent?.usd === 'number' ? spent.usd : 0, tokens: typeof spent?.tokens === 'number' ? spent.tokens : 0 },
    typeof error.message === 'string' ? error.message : 'budget exceeded',
  );
}

/**
 * Refusals of this process's gateways by call key, so the runtime can reject `agent()` with the
 * exact error whatever backend made the request (a CLI agent only prints the HTTP error).
 * Bounded: the oldest notes go first.
 */
const refusedCalls = new Map<string, BudgetExceededError>();
const MAX_NOTES = 10_000;

/** Notes that a request of call `callKey` (journal key) of run `runId` was refused. */
export function noteRefusal(runId: string, callKey: string, err: BudgetExceededError): void {
  const key = `${runId}\0${callKey}`;
  refusedCalls.delete(key);
  refusedCalls.set(key, err);
  if (refusedCalls.size > MAX_NOTES) refusedCalls.delete(refusedCalls.keys().next().value as string);
}

/** The refusal noted for call `callKey` of run `runId` (and forgets it), or undefined. */
export function takeRefusal(runId: string, callKey: string): BudgetExceededError | undefined {
  const key = `${runId}\0${callKey}`;
  const err = refusedCalls.get(key);
  refusedCalls.delete(key);
  return err;
}
