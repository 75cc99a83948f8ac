/**
 * @module Rate-limit state for the live tree: while the run's gateway paces requests to the
 * providers (429s, adaptive concurrency), a `rate_limit` progress event says so, once a second at
 * most and only when something changed.
 */
import type { LimitSnapshot } from '../gateway/rate-limit/limiter.js';
import type { ProgressListener } from './events.js';

/** How often the limits are looked at (ms). */
const WATCH_INTERVAL_MS = 1000;

/** A limit worth showing: it is lowered, requests wait for it, or the upstream paused it (a limit back at its maximum is not). */
export function isPacing(s: LimitSnapshot): boolean {
  return s.limit < s.max || s.queued > 0 || s.pausedUntil !== null;
}

/**
 * One line per (upstream, model) being paced, e.g.
 * `anthropic claude-sonnet-5: 4 in flight of 8 (lowered 2×), 12 waiting, 9 throttled, paused 3s`.
 */
export function describeLimit(s: LimitSnapshot, now = Date.now()): string {
  const parts = [`${s.inFlight} in flight of ${s.limit}${s.decreases ? ` (lowered ${s.decreases}×)` : ''}`];
  if (s.queued) parts.push(`${s.queued} waiting`);
  if (s.throttled) parts.push(`${s.throttled} throttled`);
  if (s.pausedUntil !== null && s.pausedUntil > now) parts.push(`paused ${Math.ceil((s.pausedUntil - now) / 1000)}s`);
  return `${s.upstream} ${s.model}: ${parts.join(', ')}`;
}

/** Starts watching `limits()`; returns the function that stops it. */
export function watchRateLimits(limits: () => LimitSnapshot[], emit: ProgressListener): () => void {
  // Nothing is said until something is paced.
  let last = '[]';
  const timer = setInterval(() => {
    const pacing = limits().filter(isPacing);
    const key = JSON.stringify(pacing.map((s) => [s.upstream, s.model, s.limit, s.inFlight, s.queued, s.throttled, s.pausedUntil]));
    if (key === last) return;
    last = key;
    emit({ type: 'rate_limit', limits: pacing, at: Date.now() });
  }, WATCH_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
