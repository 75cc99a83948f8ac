/**
 * @module What an upstream's headers say about when to send again.
 *
 * Read, in order of precedence:
 * - `retry-after-ms` (milliseconds; sent by OpenAI and honoured by both official SDKs);
 * - `retry-after`: delay-seconds (integer or decimal) or an HTTP-date (RFC 9110 §10.2.3);
 * - Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining` with
 *   their `-reset` (an RFC 3339 time): the latest reset of a class whose remaining count is 0
 *   (https://docs.anthropic.com/en/api/rate-limits#response-headers);
 * - OpenAI's `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-reset-{requests,tokens}`
 *   (a duration such as `1s`, `6m0s`, `20ms`, `1h2m3.5s`): the latest reset of an exhausted class
 *   (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers).
 */

type Headers = Record<string, string | undefined>;

/** When to try again, from one response's headers. */
export interface RetryHint {
  /** From `retry-after-ms` / `retry-after`, in ms (≥ 0); null when absent or unreadable. */
  retryAfterMs: number | null;
  /** The latest reset of a rate-limit class whose remaining count is 0, in ms from now; null when none is exhausted. */
  exhaustedResetMs: number | null;
}

/** [remaining, reset] header names per class, named once rather than per answer. */
const ANTHROPIC_CLASSES = ['requests', 'tokens', 'input-tokens', 'output-tokens'].map(
  (c) => [`anthropic-ratelimit-${c}-remaining`, `anthropic-ratelimit-${c}-reset`] as const,
);
const OPENAI_CLASSES = ['requests', 'tokens'].map((c) => [`x-ratelimit-remaining-${c}`, `x-ratelimit-reset-${c}`] as const);

/** Reads a response's rate-limit headers (names lower-case). `now` is ms since the epoch. */
export function retryHint(headers: Headers, now: number = Date.now()): RetryHint {
  return { retryAfterMs: retryAfterMs(headers, now), exhaustedResetMs: exhaustedResetMs(headers, now) };
}

/** `retry-after-ms`, else `retry-after` (seconds or HTTP-date), in ms from `now`; null when neither is readable. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const ms = headers['retry-after-ms']?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const value = headers['retry-after']?.trim();
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function exhaustedResetMs(headers: Headers, now: number): number | null {
  let latest: number | null = null;
  for (const [remaining, reset] of ANTHROPIC_CLASSES) {
    if (headers[remaining]?.trim() !== '0') continue;
    const value = headers[reset];
    const at = value ? Date.parse(value) : Number.NaN;
    if (!Number.isNaN(at)) latest = Math.max(latest ?? 0, Math.max(0, at - now));
  }
  for (const [remaining, reset] of OPENAI_CLASSES) {
    if (headers[remaining]?.trim() !== '0') continue;
    const ms = parseDuration(headers[reset]);
    if (ms !== null) latest = Math.max(latest ?? 0, ms);
  }
  return latest;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** `6m0s`, `1s`, `20ms`, `1h2m3.5s`, `0.5s` → ms; a bare number is seconds; null when unreadable. */
export function parseDuration(text: string | undefined): number | null {
  const value = text?.trim();
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    end = re.lastIndex;
  }
  return end === value.length && end > 0 ? total : null;
}
