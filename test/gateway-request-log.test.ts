import { describe, expect, it } from 'vitest';
import { gatewayUsage } from '../src/agents/cli/gateway-usage.js';
import type { LedgerEntry } from '../src/budget/ledger-types.js';
import { RequestLog } from '../src/gateway/request-log.js';
import { startGateway } from '../src/gateway/server.js';
import { ProxySource } from '../src/gateway/sources/proxy.js';
import { gateway, onCleanup } from './helpers.js';

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
    expect(log.forCall('b')?.map((r) => r.requestId)).toEqual(['req-2', 'req-3']);
    // A fifth row: 'a' is the oldest but still in flight, so 'b' goes (both its rows).
    log.add(row(5, 'd'));
    expect(log.forCall('a')).toHaveLength(1);
    // Dropped reads as "no longer known" (null), not as "made no requests" ([]).
    expect(log.forCall('b')).toBeNull();
    expect(log.forCall('never-seen')).toEqual([]);
    expect(log.forCall('c')?.map((r) => r.requestId)).toEqual(['req-4']);
    expect(log.forCall('d')?.map((r) => r.requestId)).toEqual(['req-5']);
    // Once 'a' ends, it is the next to go.
    inFlight.delete('a');
    log.add(row(6, 'd'));
    log.add(row(7, 'd'));
    expect(log.forCall('a')).toBeNull();
    // Only as many as needed go: 'c' stays.
    expect(log.forCall('c')).toHaveLength(1);
    expect(log.forCall('d')).toHaveLength(3);
  });

  it("a dropped call's later rows are not kept (a partial list would read as its whole usage)", () => {
    const log = new RequestLog(() => false, { callRows: 1 });
    log.add(row(1, 'a'));
    log.add(row(2, 'b'));
    expect(log.forCall('a')).toBeNull();
    log.add(row(3, 'a'));
    expect(log.forCall('a')).toBeNull();
    expect(log.forCall('b')?.map((r) => r.requestId)).toEqual(['req-2']);
  });

  it('remembers a bounded number of dropped calls, earliest forgotten first', () => {
    const log = new RequestLog(() => false, { callRows: 1, droppedCalls: 2 });
    for (const [n, key] of ['a', 'b', 'c', 'd'].entries()) log.add(row(n, key));
    // a, b, c dropped in that order; only the latest two are remembered.
    expect(log.forCall('a')).toEqual([]);
    expect(log.forCall('b')).toBeNull();
    expect(log.forCall('c')).toBeNull();
    expect(log.forCall('d')).toHaveLength(1);
  });

  it('hands out copies: a caller cannot change what the gateway keeps', () => {
    const log = new RequestLog(() => false);
    log.add(row(1, 'a'));
    log.forCall('a')?.pop();
    log.latest().pop();
    expect(log.forCall('a')).toHaveLength(1);
    expect(log.latest()).toHaveLength(1);
  });
});

describe('GET /_drover/usage for a call whose rows were dropped from memory', () => {
  it('answers 410, so a CLI agent falls back to its own usage report instead of recording zero', async () => {
    // As in `drover run --sim`: the run's gateway (a proxy, keeping the rows) in front of the sim.
    const sim = await gateway('rules: [{ name: any, usage: { input_tokens: 7, output_tokens: 3 }, turns: [{ text: ok }] }]');
    const gw = await startGateway({ mode: 'proxy', source: new ProxySource({ anthropic: sim.url }), logLimits: { callRows: 1 } });
    onCleanup(() => gw.close());
    for (const call of ['first', 'second']) {
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-drover-call': call },
        body: JSON.stringify({ model: 'claude-sim-1', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(200);
    }
    const dropped = await fetch(`${gw.url}/_drover/usage?tag=first`);
    expect(dropped.status).toBe(410);
    expect(await dropped.text()).toContain('no longer kept');
    expect(await gatewayUsage(gw.url, 'first')).toBeNull();
    expect(await gatewayUsage(gw.url, 'second')).toMatchObject([{ inputTokens: 7, outputTokens: 3 }]);
    expect(await gatewayUsage(gw.url, 'made-none')).toEqual([]);
  });
});
