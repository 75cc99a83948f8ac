import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, encodeSpanRows, type Store, type StoredSpan } from '../src/store/index.js';
import { ON_POSTGRES, onCleanup, tempDir, tempStore } from './helpers.js';

// Runs on SQLite and, in the `postgres` project (vitest.config.ts), on PostgreSQL. Every query of
// the span store is asked of the store under test and of a reference SQLite store holding the same
// rows: the answers must be equal (on SQLite this pins the semantics checked below; on PostgreSQL it
// pins the port to SQLite's answers, row ids included).

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const TRACES = ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b74bf92f3577b34da6', 'abcdef0123456789abcdef0123456789'];

/** A deterministic mix of spans: three traces, two runs, retries, a reused span id, odd text, costs of every kind. */
function spansFor(): StoredSpan[] {
  const resourceA = { 'service.name': 'checkout', 'host.name': 'box-1' };
  const resourceB = { 'service.name': 'inventory' };
  const out: StoredSpan[] = [];
  const costs: unknown[] = [0.0125, 0, 3, true, false, 'free', null, -1.5e-3, 1e21];
  for (let i = 0; i < 60; i++) {
    const traceId = TRACES[i % 3] as string;
    const cost = costs[i % costs.length];
    // The cost key first, after flat values, or after a nested object (which may hold the same key).
    const attrs: Record<string, unknown> = i % 4 === 0 && i % 11 !== 0 ? { 'drover.cost.usd': cost } : {};
    Object.assign(attrs, { 'http.route': `/items/${i}`, n: i });
    if (i % 4 === 1) attrs['drover.cost.usd'] = cost;
    if (i % 13 === 0) attrs['odd "drover.cost.usd'] = 42; // a key that ends in the searched text
    attrs.nested = { deep: [i, `v${i}`] };
    if (i % 4 === 2) attrs['drover.cost.usd'] = cost;
    if (i % 7 === 0) attrs['gen_ai.input.messages'] = `prompt \u0000 with a NUL, a lone \ud800 surrogate and 😀 (${i})`;
    if (i % 11 === 0) attrs.nested = { 'drover.cost.usd': 99 }; // only the top-level key counts
    out.push({
      traceId,
      spanId: hex(0x1000 + i, 16),
      parentSpanId: i < 3 ? null : hex(0x1000 + i - 3, 16),
      name: `op-${i % 5}`,
      kind: i % 6,
      // Some starts tie, so the row id orders them.
      startUs: 1_700_000_000_000_000 + Math.floor(i / 2) * 1000,
      endUs: 1_700_000_000_000_000 + Math.floor(i / 2) * 1000 + (i % 9) * 250,
      statusCode: i % 3,
      statusMessage: i % 3 === 2 ? `failed ${i}` : null,
      service: i % 2 ? 'checkout' : 'inventory',
      scope: i % 5 === 0 ? 'drover' : 'io.opentelemetry.http',
      attributes: attrs as StoredSpan['attributes'],
      resource: i % 2 ? resourceA : resourceB,
      events: i % 4 === 0 ? [{ timeUs: 1_700_000_000_000_100, name: 'retry', attributes: { attempt: i } }] : [],
      runId: i % 3 === 2 ? null : `run-${i % 2}`,
      ...(i % 5 === 1 ? { startNanos: `${1_700_000_000_000_000 + Math.floor(i / 2) * 1000}123`, endNanos: '17' } : {}),
      ...(i % 8 === 5 ? { traceState: 'k=v', flags: 257, droppedAttributesCount: 2, anomalies: ['end_before_start' as const] } : {}),
      ...(i % 9 === 4 ? { links: [{ traceId: TRACES[0] as string, spanId: hex(7, 16), attributes: { why: 'follows' } }] } : {}),
      ...(i % 10 === 6 ? { origin: { scopeVersion: '1.2.3', resourceSchemaUrl: 'https://opentelemetry.io/schemas/1.24.0' } } : {}),
    });
  }
  return out;
}

const plain = <T>(x: T): T => (x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T));

/** The store under test and a reference SQLite store, both fed `spans` in the same batches. */
async function pair(batches: StoredSpan[][]): Promise<{ store: Store; ref: Store }> {
  const dir = tempDir();
  const { store } = tempStore(dir);
  const ref = createStore(join(dir, 'reference.db'));
  onCleanup(() => ref.close());
  for (const b of batches) {
    expect(await store.spans.insertSpans(b)).toBe(b.length);
    expect(await ref.spans.insertSpans(b)).toBe(b.length);
  }
  return { store, ref };
}

describe(`span store (${ON_POSTGRES ? 'postgres' : 'sqlite'}): the same rows give SQLite's answers`, () => {
  it('full reads by trace, run and time; outlines; attributes; one span; trace lists; deletion by age', async () => {
    const spans = spansFor();
    // An exact retry of a batch (read once), and a different span under a reused id (both read).
    const retry = spans.slice(10, 20);
    const clash = { ...(spans[4] as StoredSpan), name: 'another span, same id', statusCode: 2 };
    const { store, ref } = await pair([spans.slice(0, 30), spans.slice(30), retry, [clash]]);
    const same = async <T>(ask: (s: Store) => Promise<T>): Promise<T> => {
      const [got, want] = await Promise.all([ask(store), ask(ref)]);
      expect(plain(got)).toEqual(plain(want));
      return got;
    };

    for (const traceId of [...TRACES, 'ffffffffffffffffffffffffffffffff', 'not-hex']) {
      const full = await same((s) => s.spans.querySpans({ traceId }));
      const outline = await same((s) => s.spans.querySpanOutlines(traceId));
      await same((s) => s.spans.querySpans({ traceId, sinceUs: 1_700_000_000_010_000 }));
      const input = spans.filter((s) => s.traceId === traceId);
      // Retries read once, the reused id read twice: the inputs plus the clash.
      expect(full.length).toBe(input.length + (traceId === clash.traceId ? 1 : 0));
      expect(outline.map((o) => o.spanId)).toEqual(full.map((f) => f.spanId));
      for (let k = 1; k < full.length; k++) {
        const [a, b] = [full[k - 1] as StoredSpan, full[k] as StoredSpan];
        expect(a.startUs < b.startUs || (a.startUs === b.startUs && (a.rowId as number) < (b.rowId as number))).toBe(true);
      }
      for (const o of outline) {
        const cost = input.find((s) => s.spanId === o.spanId)?.attributes['drover.cost.usd'];
        const want = typeof cost === 'number' ? cost : typeof cost === 'boolean' ? Number(cost) : undefined;
        expect(o.attributes['drover.cost.usd']).toBe(want);
      }
    }
    const odd = (await store.spans.querySpans({ traceId: TRACES[0] as string })).find((s) => s.spanId === hex(0x1000, 16));
    expect(odd?.attributes['gen_ai.input.messages']).toBe(spans[0]?.attributes['gen_ai.input.messages']);

    for (const runId of ['run-0', 'run-1', 'run-none']) {
      await same((s) => s.spans.querySpans({ runId }));
      await same((s) => s.spans.querySpans({ runId, sinceUs: 1_700_000_000_020_000 }));
      await same((s) => s.spans.listTraces({ runId }));
    }
    await same((s) => s.spans.querySpans({}));
    await same((s) => s.spans.querySpans({ sinceUs: 1_700_000_000_015_000, limit: 7 }));
    const traces = await same((s) => s.spans.listTraces());
    expect(traces.map((t) => t.spans).reduce((a, b) => a + b)).toBe(spans.length + retry.length + 1);
    await same((s) => s.spans.listTraces({ limit: 2 }));

    const ids = (await store.spans.querySpans({ traceId: TRACES[1] as string })).map((s) => s.rowId as number);
    const attrs = await same(async (s) => [...(await s.spans.spanAttributes([...ids, 999_999]))]);
    expect(attrs.map(([id]) => id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(await store.spans.spanAttributes([])).toEqual(new Map());

    // The last copy of a reused id is the one getSpan gives.
    const got = await same((s) => s.spans.getSpan(clash.traceId, clash.spanId));
    expect(got?.name).toBe(clash.name);
    await same((s) => s.spans.getSpan(TRACES[2] as string, hex(0x1000 + 5, 16)));
    expect(await same((s) => s.spans.getSpan(TRACES[0] as string, 'ffffffffffffffff'))).toBeUndefined();

    const cutoff = 1_700_000_000_012_000;
    const removed = await same((s) => s.spans.deleteSpansBefore(cutoff));
    expect(removed).toBe([...spans, ...retry, clash].filter((s) => s.endUs < cutoff).length);
    await same((s) => s.spans.listTraces());
    await same((s) => s.spans.querySpans({}));
  });

  it('a batch larger than one insert statement keeps arrival order in its row ids, and encoded rows store the same', async () => {
    const base = spansFor()[1] as StoredSpan;
    const many = Array.from({ length: 12_345 }, (_, i) => ({ ...base, spanId: hex(i, 16), startUs: base.startUs + (i % 100) }));
    const dir = tempDir();
    const { store } = tempStore(dir);
    expect(await store.spans.insertEncodedSpans(encodeSpanRows(many))).toBe(many.length);
    expect(await store.spans.insertEncodedSpans([])).toBe(0);
    const read = await store.spans.querySpans({ traceId: base.traceId });
    expect(read).toHaveLength(many.length);
    const byId = new Map(read.map((s) => [s.spanId, s.rowId as number]));
    const order = many.map((s) => byId.get(s.spanId) as number);
    expect(order.every((id, k) => k === 0 || id > (order[k - 1] as number))).toBe(true);
    const outline = await store.spans.querySpanOutlines(base.traceId);
    expect(outline.map((o) => o.spanId)).toEqual(read.map((s) => s.spanId));
    expect(outline.every((o) => o.attributes['drover.cost.usd'] === base.attributes['drover.cost.usd'])).toBe(true);
  });

  it("recordCalls' replacing rewrites drover's own span of a run, never a received span with the same ids", async () => {
    const { store } = tempStore();
    const [own, other] = spansFor().slice(0, 2) as [StoredSpan, StoredSpan];
    const mine = { ...own, scope: 'drover', runId: 'run-x', name: 'workflow (open)' };
    const received = { ...mine, scope: 'io.opentelemetry.http', name: 'received' };
    const otherRun = { ...mine, runId: 'run-y', name: 'other run' };
    const noRun = { ...mine, runId: null, name: 'no run' };
    await store.recordCalls([], [], [mine, received, otherRun, noRun, other]);
    await store.recordCalls([], [], [], [], undefined, [{ ...mine, name: 'workflow', endUs: mine.endUs + 5 }]);
    await store.recordCalls([], [], [], [], undefined, [{ ...noRun, name: 'no run, replaced' }]);
    const names = (await store.spans.querySpans({ traceId: mine.traceId })).filter((s) => s.spanId === mine.spanId).map((s) => s.name);
    expect(names.sort()).toEqual(['no run, replaced', 'other run', 'received', 'workflow']);
    expect((await store.spans.getSpan(mine.traceId, mine.spanId))?.name).toBe('no run, replaced');
  });

  it("a NUL in a received span's name or service is kept by SQLite and stored as U+FFFD by PostgreSQL, whose text cannot hold it; the batch is stored", async () => {
    const { store } = tempStore();
    const [a, b] = spansFor().slice(0, 2) as [StoredSpan, StoredSpan];
    const odd = { ...a, name: 'GET /\u0000admin', service: 'svc\u0000', statusMessage: 'bad\u0000', runId: 'run\u0000x' };
    expect(await store.spans.insertSpans([odd, b])).toBe(2);
    const kept = (s: string) => (ON_POSTGRES ? s.replaceAll('\u0000', '\uFFFD') : s);
    const back = await store.spans.getSpan(a.traceId, a.spanId);
    expect(back).toMatchObject({
      name: kept(odd.name),
      service: kept(odd.service),
      statusMessage: kept(odd.statusMessage),
      runId: kept(odd.runId),
    });
    expect((await store.spans.querySpans({ runId: odd.runId })).map((s) => s.spanId)).toContain(a.spanId);
    expect(await store.spans.listTraces({ runId: odd.runId })).toHaveLength(1);
  });
});
