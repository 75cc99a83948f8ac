import { createHash, randomBytes } from 'node:crypto';

/**
 * W3C trace context for child processes (the env-carrier convention: TRACEPARENT).
 * A run's trace id is derived from its run id, so every process of one run, in
 * every execution of it, joins one trace.
 */
export function traceIdForRun(runId: string): string {
  return createHash('sha256').update(`drover-run:${runId}`).digest('hex').slice(0, 32);
}

export function traceparent(traceId: string, spanId: string = randomBytes(8).toString('hex')): string {
  return `00-${traceId}-${spanId}-01`;
}
