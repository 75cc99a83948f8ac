// Propagation judged by links, never by timestamps: a skewed clock does not move the blame.
import { describe, expect, it } from 'vitest';
import { evaluateSpec, parseSpec } from '../src/assert/index.js';
import type { StoredSpan } from '../src/store/index.js';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const INTERNAL = 1;

let next = 1;
function span(
  traceId: string,
  name: string,
  service: string,
  kind: number,
  parent: StoredSpan | null,
  startMs: number,
  attributes: StoredSpan['attributes'] = {},
): StoredSpan {
  const spanId = (next++).toString(16).padStart(16, '0');
  return {
    traceId: traceId.repeat(32).slice(0, 32),
    spanId,
    parentSpanId: parent ? parent.spanId : null,
    name,
    kind,
    startUs: startMs * 1000,
    endUs: startMs * 1000 + 20_000,
    statusCode: 0,
    statusMessage: null,
    service,
    scope: null,
    attributes,
    resource: { 'service.name': service },
    events: [],
    runId: null,
  };
}

/** checkout calls inventory, which dropped the context; `skewMs` moves inventory's clock. */
function brokenCheckout(skewMs: number): StoredSpan[] {
  const t = 1_800_000_000_000;
  const root = span('a', 'GET /checkout', 'checkout', SERVER, null, t, { 'http.route': '/checkout' });
  const call = span('a', 'GET inventory', 'checkout', CLIENT, root, t + 1, { 'http.request.method': 'GET' });
  const inv = span('b', 'GET /inventory', 'inventory', SERVER, null, t + 2 + skewMs, { 'http.route': '/inventory' });
  const db = span('b', 'db.query', 'inventory', INTERNAL, inv, t + 3 + skewMs, { 'db.system': 'postgresql' });
  return [root, call, inv, db];
}

const SPEC = parseSpec(`
name: checkout propagates to inventory
assertions:
  - name: one request, one trace
    select: { kind: server }
    expect: { count: '= 2', sameTrace: true }
  - name: the query runs under the checkout request
    select: { name: db.query }
    expect: { ancestor: { name: GET /checkout, service: checkout } }
`);

const BLAME =
  `broken link: 'GET /inventory' (service inventory) started new trace ${'b'.repeat(32)} instead of joining trace ${'a'.repeat(32)} ` +
  `(root 'GET /checkout' (service checkout)): trace context did not propagate into service inventory; ` +
  `its caller is 'GET inventory' (service checkout), a client span with no child`;

describe('sameTrace names the service that dropped the context, whatever the clocks say', () => {
  it('blames inventory with its clock 5 s behind, 5 s ahead or right, in any input order (the issue: it blamed checkout)', () => {
    for (const skew of [-5000, 0, 5000]) {
      for (const spans of [brokenCheckout(skew), brokenCheckout(skew).reverse()]) {
        const r = evaluateSpec(SPEC, spans);
        expect(r.results[0]?.failures, `skew ${skew}`).toEqual(['selected spans are in 2 traces, expected one', BLAME]);
        expect(r.results[1]?.failures[0]).toBe(
          `'db.query' (service inventory) has no ancestor among spans with name "GET /checkout", service checkout: chain 'db.query' ← 'GET /inventory'; 'GET /inventory' (service inventory) starts a new trace`,
        );
      }
    }
  });

  it('places each break in a chain of calls (a → b → c, b and c dropped the context) by the calls left without a child', () => {
    const t = 1_800_000_000_000;
    const a = span('a', 'GET /a', 'a', SERVER, null, t);
    const aCall = span('a', 'GET /b', 'a', CLIENT, a, t + 1, { 'url.full': 'http://b:8080/b' });
    // b's clock is 10 s ahead of everyone, c's 10 s behind: the order of start times is c, a, b.
    const b = span('b', 'GET /b', 'b', SERVER, null, t + 10_000, { 'url.path': '/b' });
    const bCall = span('b', 'GET /c', 'b', CLIENT, b, t + 10_001, { 'url.full': 'http://c:8080/c' });
    const bDb = span('b', 'SELECT', 'b', CLIENT, b, t + 10_002, { 'db.system': 'postgresql' }); // a database is not a callee
    const c = span('c', 'GET /c', 'c', SERVER, null, t - 10_000, { 'url.path': '/c' });
    const spec = parseSpec('assertions:\n  - select: { kind: server }\n    expect: { sameTrace: true }\n');
    const r = evaluateSpec(spec, [c, bDb, b, bCall, a, aCall]);
    const A = 'a'.repeat(32);
    const B = 'b'.repeat(32);
    const C = 'c'.repeat(32);
    expect(r.results[0]?.failures).toEqual([
      'selected spans are in 3 traces, expected one',
      `broken link: 'GET /b' (service b) started new trace ${B} instead of joining trace ${A} (root 'GET /a' (service a)): trace context did not propagate into service b; its caller is 'GET /b' (service a), a client span with no child`,
      `broken link: 'GET /c' (service c) started new trace ${C} instead of joining trace ${B} (root 'GET /b' (service b)): trace context did not propagate into service c; its caller is 'GET /c' (service b), a client span with no child`,
    ]);
  });

  it('links a consumer to its producer by the destination, and says when no call links the traces', () => {
    const t = 1_800_000_000_000;
    const api = span('a', 'POST /orders', 'api', SERVER, null, t);
    const publish = span('a', 'orders publish', 'api', PRODUCER, api, t + 1, { 'messaging.destination.name': 'orders' });
    const consume = span('b', 'orders process', 'worker', CONSUMER, null, t - 3000, { 'messaging.destination.name': 'orders' });
    const spec = parseSpec("assertions:\n  - select: { name: '/orders/' }\n    expect: { sameTrace: true }\n");
    const linked = evaluateSpec(spec, [consume, api, publish]);
    expect(linked.results[0]?.failures[1]).toBe(
      `broken link: 'orders process' (service worker) started new trace ${'b'.repeat(32)} instead of joining trace ${'a'.repeat(32)} (root 'POST /orders' (service api)): trace context did not propagate into service worker; its caller is 'orders publish' (service api), a producer span with no child`,
    );
    // Two requests, nothing calling out: no link to blame, and the message says so.
    const one = span('a', 'GET /x', 'x', SERVER, null, t);
    const two = span('b', 'GET /x', 'x', SERVER, null, t - 5000);
    const apart = evaluateSpec(parseSpec('assertions:\n  - select: { name: GET /x }\n    expect: { sameTrace: true }\n'), [two, one]);
    expect(apart.results[0]?.failures).toEqual([
      'selected spans are in 2 traces, expected one',
      `no call links 2 of the traces to each other: trace ${'a'.repeat(32)} (root 'GET /x' (service x)), trace ${'b'.repeat(32)} (root 'GET /x' (service x)) (no client or producer span in one is missing the server or consumer span that starts another)`,
    ]);
  });
});

describe('linkedTo: a span links to a span matching a selector', () => {
  const producer = span('a', 'publish orders', 'shop', PRODUCER, null, 0, { 'messaging.system': 'kafka' });
  const other = span('a', 'publish audit', 'shop', PRODUCER, null, 0);
  const link = (to: StoredSpan, attributes: StoredSpan['attributes'] = {}) => ({ traceId: to.traceId, spanId: to.spanId, attributes });
  const spec = parseSpec(`
assertions:
  - name: consumers link to the orders producer
    select: { kind: consumer }
    expect: { linkedTo: { name: publish orders, kind: producer, attributes: { messaging.system: kafka } } }
`);

  it('passes when each selected span links to a matching span, in another trace', () => {
    const consumer = { ...span('b', 'process orders', 'worker', CONSUMER, null, 5), links: [link(other), link(producer)] };
    const r = evaluateSpec(spec, [producer, other, consumer]);
    expect(r.results[0]?.failures).toEqual([]);
    expect(r.passed).toBe(true);
  });

  it('names the span without links, the link to the wrong span and the link to a span that is not there', () => {
    const bare = span('b', 'process orders', 'worker', CONSUMER, null, 5);
    const wrong = { ...span('c', 'process audit', 'worker', CONSUMER, null, 5), links: [link(other)] };
    const lost = {
      ...span('d', 'process late', 'worker', CONSUMER, null, 5),
      links: [{ traceId: 'f'.repeat(32), spanId: 'e'.repeat(16), attributes: {} }],
    };
    const r = evaluateSpec(spec, [producer, other, bare, wrong, lost]);
    expect(r.passed).toBe(false);
    const failures = r.results[0]?.failures.join('\n') ?? '';
    expect(failures).toContain("'process orders' (service worker) has no links; expected a link to");
    expect(failures).toContain("'process audit' (service worker) links to 'publish audit' (service shop); none matches");
    expect(failures).toContain(
      `'process late' (service worker) links to span ${'e'.repeat(16)} of trace ${'f'.repeat(32)}, which is not there`,
    );
  });

  it('reports a linkedTo selector that matches no span as such (a typo), not as missing links', () => {
    const consumer = { ...span('b', 'process orders', 'worker', CONSUMER, null, 5), links: [link(producer)] };
    const typo = parseSpec('assertions:\n  - select: { kind: consumer }\n    expect: { linkedTo: { name: publish ordres } }\n');
    const r = evaluateSpec(typo, [producer, consumer]);
    expect(r.results[0]?.failures).toEqual([
      expect.stringMatching(
        /^no span matches the linkedTo selector \(spans with name "publish ordres"\): no span has name "publish ordres"; .*\(check the selector\)$/,
      ),
    ]);
  });
});

describe('noDuplicateSpanIds', () => {
  const root = span('a', 'GET /', 'web', SERVER, null, 0);
  const child = span('a', 'db.query', 'web', INTERNAL, root, 1);
  const clash = { ...span('a', 'cache.get', 'web', INTERNAL, root, 2), spanId: child.spanId };

  it('fails when two different spans of a trace share a span id, naming them; passes without', () => {
    const spec = parseSpec('assertions:\n  - expect: { noDuplicateSpanIds: true }\n');
    expect(evaluateSpec(spec, [root, child]).passed).toBe(true);
    const r = evaluateSpec(spec, [root, child, clash]);
    expect(r.passed).toBe(false);
    expect(r.results[0]?.failures).toEqual([
      `trace ${root.traceId}: 2 different spans share span id ${child.spanId} ('db.query' (service web), 'cache.get' (service web))`,
    ]);
  });

  it('is on with oneRootPerTrace and noOrphans unless turned off', () => {
    const on = parseSpec('assertions:\n  - expect: { oneRootPerTrace: true, noOrphans: true }\n');
    expect(evaluateSpec(on, [root, child, clash]).results[0]?.failures).toEqual([expect.stringContaining('share span id')]);
    const off = parseSpec('assertions:\n  - expect: { oneRootPerTrace: true, noDuplicateSpanIds: false }\n');
    expect(evaluateSpec(off, [root, child, clash]).passed).toBe(true);
  });
});
