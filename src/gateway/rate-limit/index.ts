export { isQuotaExhausted, QUOTA_EXHAUSTED_HEADER, QuotaExhaustedError } from '../../budget/quota.js';
export { parseDuration, type RetryHint, retryAfterMs, retryHint } from './headers.js';
export { AimdLimiter, type LimiterOptions, type LimitSnapshot, type Slot } from './limiter.js';
export {
  DEFAULT_MAX_CONCURRENCY,
  type RateLimitedSource,
  type RateLimitOptions,
  RETRIES_HEADER,
  type RetryEvent,
  withRateLimits,
} from './with-rate-limits.js';
