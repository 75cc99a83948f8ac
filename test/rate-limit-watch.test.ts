import { afterEach, describe, expect, it, vi } from 'vitest';
import { plainProgress } from '../src/cli/progress.js';
import type { LimitSnapshot } from '../src/gateway/rate-limit/limiter.js';
import type { ProgressEvent } from '../src/workflow/events.js';
import { describeLimit, watchRateLimits } from '../src/workflow/rate-limit-watch.js';

const snap = (over: Partial<LimitSnapshot> = {}): LimitSnapshot => ({
  upstream: 'anthropic',
  model: 'claude-sonnet-5',
  limit: 1024,
  max: 1024,
  inFlight: 3,
  queued: 0,
  decreases: 0,
  throttled: 0,
  retries: 0,
  pausedUntil: null,
  ...over,
});

afterEach(() => vi.useRealTimers());

describe('rate limits in the live tree', () => {
  it('says which (upstream, model) is paced, once per change, and when pacing ends', () => {
    vi.useFakeTimers();
    let now: LimitSnapshot[] = [snap()];
    const events: ProgressEvent[] = [];
    const stop = watchRateLimits(
      () => now,
      (e) => events.push(e),
    );
    vi.advanceTimersByTime(1000);
    expect(events).toEqual([]); // nothing paced: nothing said
    now = [snap({ limit: 8, inFlight: 8, queued: 12, decreases: 1, throttled: 9, retries: 9 })];
    vi.advanceTimersByTime(1000);
    vi.advanceTimersByTime(1000); // unchanged: not said again
    expect(events).toHaveLength(1);
    const paced = events[0] as Extract<ProgressEvent, { type: 'rate_limit' }>;
    expect(paced.limits.map((l) => describeLimit(l))).toEqual([
      'anthropic claude-sonnet-5: 8 in flight of 8 (lowered 1×), 12 waiting, 9 throttled',
    ]);
    const lines: string[] = [];
    plainProgress((l) => lines.push(l)).listener(paced);
    expect(lines).toEqual(['rate limit anthropic claude-sonnet-5: 8 in flight of 8 (lowered 1×), 12 waiting, 9 throttled']);
    now = [snap()];
    vi.advanceTimersByTime(1000);
    expect(events[1]).toMatchObject({ type: 'rate_limit', limits: [] }); // pacing over: said once
    stop();
    now = [snap({ queued: 99 })];
    vi.advanceTimersByTime(5000);
    expect(events).toHaveLength(2);
  });

  it('names a pause the upstream asked for, in whole seconds left', () => {
    expect(describeLimit(snap({ pausedUntil: 10_500, throttled: 1 }), 8_000)).toBe(
      'anthropic claude-sonnet-5: 3 in flight of 1024, 1 throttled, paused 3s',
    );
  });
});
