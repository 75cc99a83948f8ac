/** @module Progress of a run as plain lines (CI, pipes, --json); the live tree is in tty-progress.ts. */
import type { ProgressEvent, ProgressListener } from '../workflow/events.js';
import { describeLimit } from '../workflow/rate-limit-watch.js';

export interface ProgressRenderer {
  listener: ProgressListener;
  stop(): void;
}

/** Plain lines (CI, pipes, --json): one line per event that matters. */
export function plainProgress(write: (line: string) => void): ProgressRenderer {
  const listener = (e: ProgressEvent) => {
    switch (e.type) {
      case 'run':
        return write(`run ${e.runId} ${e.state}: ${e.name}`);
      case 'phase':
        return write(`phase ${e.title}`);
      case 'log':
        return write(`log ${e.message}`);
      case 'retry':
        return write(`retry ${e.label} attempt ${e.attempt} in ${e.delayMs}ms: ${e.reason}`);
      case 'activity':
        return write(`tool ${e.label} ${e.tool}${e.ok ? '' : ' failed'}: ${e.summary.split('\n')[0]?.slice(0, 100) ?? ''}`);
      case 'call':
        if (e.state === 'running' && e.kind !== 'agent') return;
        return write(
          `${e.kind} ${e.state} ${e.label}${e.outputTokens !== undefined ? ` (${e.inputTokens ?? 0} in${e.cacheTokens ? ` + ${e.cacheTokens} cache` : ''} / ${e.outputTokens} out)` : ''}${e.error ? `: ${e.error}` : ''}`,
        );
      case 'rate_limit':
        return write(e.limits.length ? `rate limit ${e.limits.map((l) => describeLimit(l)).join('; ')}` : 'rate limit: none paced');
    }
  };
  return { listener, stop: () => {} };
}
