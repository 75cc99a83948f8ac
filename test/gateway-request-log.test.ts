import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../src/budget/ledger-types.js';
import { RequestLog } from '../src/gateway/request-log.js';

const row = (n: number, callKey: string | null): LedgerEntry => ({ callKey, requestId: `req-${n}` }) as unknown as LedgerEntry;

describe('the rows a gateway keeps in memory', () => {
  it('keeps the latest rows, oldest first, never more than the limit', () => {
    const log = new RequestLog(() => false, { recentRows: 3 });
    for (let n = 1; n <= 10; n++) {
      log.add(row(n, null));
      expect(log.latest().length).toBe(Math.min(n, 3));
    }
    expect(log.latest().map((r) => r.requestId)).toEqual(['req-8', 'req-9', 'req-10']);
  });

  it("drops the oldest calls' rows whole past the limit, never a call still in flight", () => {
    const inFlight = new Set(['a']);
    const log = new RequestLog((k) => inFlight.has(k), { callRows: 4 });
    log.add(row(1, 'a'));
    log.add(row(2, 'b'));
    log.add(row(3, 'b'));
    log.add(row(4, 'c'));
    expect(log.forCall('b').map((r) => r.requestId)).toEqual(['req-2', 'req-3']);
    // A fifth row: 'a' is the oldest but still in flight, so 'b' goes (both its rows).
    log.add(row(5, 'd'));
    expect(log.forCall('a')).toHaveLength(1);
    expect(log.forCall('b')).toEqual([]);
    expect(log.forCall('c').map((r) => r.requestId)).toEqual(['req-4']);
    expect(log.forCall('d').map((r) => r.requestId)).toEqual(['req-5']);
    // Once 'a' ends, it is the next to go.
    inFlight.delete('a');
    log.add(row(6, 'd'));
    log.add(row(7, 'd'));
    expect(log.forCall('a')).toEqual([]);
    // Only as many as needed go: 'c' stays.
    expect(log.forCall('c')).toHaveLength(1);
    expect(log.forCall('d')).toHaveLength(3);
  });

  it('hands out copies: a caller cannot change what the gateway keeps', () => {
    const log = new RequestLog(() => false);
    log.add(row(1, 'a'));
    log.forCall('a').pop();
    log.latest().pop();
    expect(log.forCall('a')).toHaveLength(1);
    expect(log.latest()).toHaveLength(1);
  });
});
