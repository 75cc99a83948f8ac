/**
 * @module Errors that mean money or quota is gone: retrying them cannot help, so they stop a run.
 *
 * Recognised (body text, any status among 400, 402, 403, 429):
 * - Anthropic: `Your credit balance is too low to access the Anthropic API` (400 invalid_request_error),
 *   `You have reached your specified API usage limits` (a workspace/organisation spend limit),
 *   and errors of type `billing_error`;
 * - OpenAI: type or code `insufficient_quota` (a 429, "You exceeded your current quota"),
 *   `billing_hard_limit_reached`, `billing_not_active`.
 * A plain rate limit (`rate_limit_error`, `rate_limit_exceeded`) is not among them: it is retried.
 */

import { DroverError } from '../core/errors.js';

const STATUSES = new Set([400, 402, 403, 429]);
const PATTERNS = [
  /credit balance is too low/i,
  /reached your specified (?:api )?usage limits?/i,
  /"type"\s*:\s*"billing_error"/,
  /insufficient_quota/,
  /exceeded your current quota/i,
  /billing_hard_limit_reached/,
  /billing_not_active/,
  /spend(?:ing)? limit (?:has been )?(?:reached|exceeded)/i,
];

/** Response header the rate-limit wrapper adds to a quota-exhausted answer (value `1`), so the run can stop with a clear message. */
export const QUOTA_EXHAUSTED_HEADER = 'x-drover-quota-exhausted';

/**
 * Whether an error answer means the account's money or quota is gone (see the module comment).
 * `body` is the response body as text, bytes or parsed JSON.
 */
export function isQuotaExhausted(status: number, body: string | Uint8Array | unknown): boolean {
  if (!STATUSES.has(status)) return false;
  const text =
    typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : JSON.stringify(body ?? null);
  return PATTERNS.some((p) => p.test(text));
}

/**
 * The account behind an upstream has no money or quota left (see `isQuotaExhausted`): the run
 * stops instead of retrying. Code `QUOTA_EXHAUSTED`, exit code 1. `providerMessage` is the
 * provider's own words (`error.message` of the body), `status` its HTTP status.
 */
export class QuotaExhaustedError extends DroverError {
  readonly status: number;
  readonly providerMessage: string;
  constructor(upstream: string, status: number, body: string | Uint8Array | unknown) {
    const said = providerMessageOf(body);
    super(
      'QUOTA_EXHAUSTED',
      `${upstream}: the account's money or quota is gone (HTTP ${status}: ${said}); drover does not retry this — add credit or raise the limit, then resume the run`,
    );
    this.status = status;
    this.providerMessage = said;
  }
}

/** `error.message` of an Anthropic or OpenAI error body, else the body's first 300 characters. */
function providerMessageOf(body: string | Uint8Array | unknown): string {
  const text = typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : null;
  let parsed: unknown = body;
  if (text !== null) {
    try {
      parsed = JSON.parse(text);
    } catch {
      return text.slice(0, 300);
    }
  }
  const message = (parsed as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' ? message : JSON.stringify(parsed).slice(0, 300);
}
