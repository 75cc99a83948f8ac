import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 };

/** Exponential backoff with full jitter; a server's retry-after wins when it is given. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) return Math.min(Math.max(0, retryAfterMs), policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export async function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await delay(ms, undefined, signal ? { signal } : undefined);
}

/** Statuses worth another attempt: rate limits, overload, server errors, timeouts. */
export function isRetryableStatus(status: number | undefined): boolean {
  if (status === undefined) return true; // connection reset, stream cut
  return status === 408 || status === 409 || status === 429 || status >= 500;
}
