/**
 * `drover ui`'s server and JSON API over real HTTP on 127.0.0.1, against a real SQLite store
 * filled by real runs (in-process, against the sim gateway): the security checks (Host, Origin,
 * token), paging and filters, the waterfall's server-side folding and filter, cost roll-ups, the
 * inbox, and live updates caused by another connection's writes.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { traceIdForRun } from '../src/telemetry/traceparent.js';
import { spanPage, startUiServer, type UiServer } from '../src/ui/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, onCleanup, tempDir, tempStore } from './helpers.js';

const SCENARIO = `
rules:
  - name: echo
    match: { prompt: '^(.*)$' }
    usage: { input_tokens: 100, output_tokens: 10 }
    turns: [{ text: 'echo {{1}}' }]
`;

const FANOUT = `
phase('Scan');
const found = await parallel(['a', 'b', 'c'].map((x) => () => agent('look at ' + x, { label: 'look-' + x })));
phase('Decide');
const go = await ask('ship it?', { choices: ['yes', 'no'] });
return { found, go };
`;

async function setup() {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const { store, path } = tempStore(dir);
  const run = (body: string, name = 'fanout', runId?: string) =>
    runWorkflow({
      store,
      script: ccScript(dir, body, `${name}.js`, name),
      gateway: gw.url,
      workdir: dir,
      backoff: FAST_BACKOFF,
      ...(runId ? { runId } : {}),
    });
  const ui = await startUiServer({ store, pollMs: 20 });
  onCleanup(() => ui.close());
  return { dir, store, path, run, ui };
}

const get = async (ui: UiServer, path: string, headers: Record<string, string> = {}) => {
  const res = await fetch(new URL(path, ui.url), { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
};

/** GET /api/runs with this Host header; resolves with the status. */
const statusWithHost = (ui: UiServer, host: string) =>
  new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ui.port, path: '/api/runs', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });

const post = (ui: UiServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(new URL(path, ui.url), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('drover ui: security', () => {
  it('refuses a foreign Host, a write without the token, and a write from a foreign Origin (403); the token makes it pass', async () => {
    const { run, ui, store } = await setup();
    const summary = await run(FANOUT);
    expect(summary.status).toBe('waiting');
    const q = (await store.listQuestions(summary.runId))[0];
    if (!q) throw new Error('no question');
    const path = `/api/runs/${summary.runId}/questions/${q.id}/answer`;

    // DNS rebinding: a name that resolves to 127.0.0.1 but is not this server.
    // (node:http: fetch does not let a caller set Host.)
    expect(await statusWithHost(ui, `evil.example:${ui.port}`)).toBe(403);
    expect(await statusWithHost(ui, `localhost:${ui.port}`)).toBe(200);

    const noToken = await post(ui, path, { answer: 'yes' });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { error: { message: string } }).error.message).toMatch(/token/);
    const wrongToken = await post(ui, path, { answer: 'yes' }, { 'x-drover-token': `${ui.token}x` });
    expect(wrongToken.status).toBe(403);
    const foreign = await post(ui, path, { answer: 'yes' }, { 'x-drover-token': ui.token, origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect((await store.getQuestion(summary.runId, q.id))?.status).toBe('pending');

    const ok = await post(ui, path, { answer: 'yes' }, { 'x-drover-token': ui.token, origin: ui.url.replace(/\/$/, '') });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect((await store.getQuestion(summary.runId, q.id))?.answer).toBe('yes');
  });

  it('trades the opened URL token for an HttpOnly SameSite=Strict cookie that authorises writes; a wrong token gets 403', async () => {
    const { ui } = await setup();
    const wrong = await fetch(`${ui.url}?token=nope`, { redirect: 'manual' });
    expect(wrong.status).toBe(403);
    const res = await fetch(ui.openUrl, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toContain(ui.token);
    // With the cookie, a write reaches the handler (an unknown run: 404, not 403).
    const write = await post(ui, '/api/runs/none/questions/q/answer', { answer: 'x' }, { cookie: cookie.split(';')[0] as string });
    expect(write.status).toBe(404);
    // The page forbids inline script and framing.
    const page = await fetch(ui.url);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  });
});

describe('drover ui: JSON API', () => {
  it('pages and filters runs by status, workflow and text', async () => {
    const { run, ui } = await setup();
    await run(`return agent('one');`, 'alpha', 'run-alpha-1');
    await run(`return agent('two');`, 'alpha', 'run-alpha-2');
    await run(FANOUT, 'beta', 'run-beta-1');
    const all = await get(ui, '/api/runs');
    expect(all.body.total).toBe(3);
    expect(all.body.workflows).toEqual(['alpha', 'beta']);
    const rows = all.body.runs as { id: string; status: string; agents: { done: number; total: number }; spendUsd: number | null }[];
    expect(rows.map((r) => r.id)).toEqual(['run-beta-1', 'run-alpha-2', 'run-alpha-1']);
    expect(rows[0]).toMatchObject({ status: 'waiting', agents: { done: 3, total: 3 } });
    expect(rows[0]?.spendUsd).toBeGreaterThan(0);

    expect(((await get(ui, '/api/runs?workflow=alpha')).body.runs as { id: string }[]).map((r) => r.id)).toEqual([
      'run-alpha-2',
      'run-alpha-1',
    ]);
    expect(((await get(ui, '/api/runs?status=waiting')).body.runs as { id: string }[]).map((r) => r.id)).toEqual(['run-beta-1']);
    expect(((await get(ui, '/api/runs?q=ALPHA-1')).body.runs as { id: string }[]).map((r) => r.id)).toEqual(['run-alpha-1']);
    const page2 = await get(ui, '/api/runs?offset=1&limit=1');
    expect(page2.body).toMatchObject({ total: 3, offset: 1, limit: 1 });
    expect((page2.body.runs as { id: string }[]).map((r) => r.id)).toEqual(['run-alpha-2']);
    const badStatus = await get(ui, '/api/runs?status=done');
    expect(badStatus.status).toBe(400);
    expect(JSON.stringify(badStatus.body)).toMatch(/running, interrupted, waiting, completed, failed/);
    const bad = await get(ui, '/api/runs?limit=ten');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/limit/);
    expect((await get(ui, '/api/runs/nope')).status).toBe(404);
    expect((await get(ui, '/api/nothing')).status).toBe(404);
  });

  it('gives the phase → call tree with tokens and cost, and a call with its requests', async () => {
    const { run, ui } = await setup();
    const s = await run(FANOUT);
    const tree = (await get(ui, `/api/runs/${s.runId}/calls`)).body as unknown as {
      phases: {
        title: string;
        calls: { key: string; label: string; state: string; inputTokens: number; outputTokens: number; costUsd: number }[];
      }[];
    };
    expect(tree.phases.map((p) => p.title)).toEqual(['Scan', 'Decide']);
    expect(tree.phases[0]?.calls.map((c) => c.label).sort()).toEqual(['look-a', 'look-b', 'look-c']);
    expect(tree.phases[0]?.calls.every((c) => c.state === 'done' && c.outputTokens === 10 && c.costUsd > 0)).toBe(true);
    expect(tree.phases[1]?.calls).toMatchObject([{ label: 'ship it?', state: 'waiting' }]);
    const key = tree.phases[0]?.calls.find((c) => c.label === 'look-b')?.key as string;
    const detail = (await get(ui, `/api/runs/${s.runId}/calls/${encodeURIComponent(key)}`)).body as unknown as {
      inputs: { prompt: string };
      result: string;
      requests: { model: string; outputTokens: number; inputTokens: number }[];
    };
    expect(detail.inputs.prompt).toBe('look at b');
    expect(detail.result).toBe('echo look at b');
    expect(detail.requests).toHaveLength(1);
    expect(detail.requests[0]).toMatchObject({ inputTokens: 100, outputTokens: 10 });

    const cost = (await get(ui, `/api/runs/${s.runId}/cost`)).body as unknown as {
      total: { requests: number; costUsd: number; outputTokens: number };
      byAgent: { key: string; costUsd: number }[];
      byPhase: { key: string; requests: number }[];
    };
    expect(cost.total).toMatchObject({ requests: 3, outputTokens: 30 });
    expect(cost.byAgent.map((b) => b.key).sort()).toEqual(['look-a', 'look-b', 'look-c']);
    expect(cost.byAgent.reduce((a, b) => a + b.costUsd, 0)).toBeCloseTo(cost.total.costUsd, 12);
    expect(cost.byPhase).toMatchObject([{ key: 'Scan', requests: 3 }]);

    const graph = (await get(ui, `/api/runs/${s.runId}/graph`)).body as unknown as { nodes: { id: string }[]; edges: unknown[] };
    expect(graph.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(['run', 'phase:0', 'phase:1', key]));
    const script = (await get(ui, `/api/runs/${s.runId}/script`)).body as unknown as { source: string };
    expect(script.source).toContain("ask('ship it?'");
  });

  it("prefers the gateway's ledger rows (status, latency, price flag) over usage rows once a run has them", async () => {
    const { run, ui, store } = await setup();
    const s = await run(FANOUT);
    const tree = (await get(ui, `/api/runs/${s.runId}/calls`)).body as unknown as { phases: { calls: { key: string; label: string }[] }[] };
    const key = tree.phases[0]?.calls.find((c) => c.label === 'look-a')?.key as string;
    const row = {
      runId: s.runId,
      callKey: key,
      agentLabel: 'look-a',
      phase: 'Scan',
      workflow: 'fanout',
      session: null,
      provider: 'anthropic' as const,
      wire: 'anthropic' as const,
      model: 'claude-opus-4-8',
      requestId: 'msg_1',
      status: 200,
      stopReason: 'end_turn',
      startedAt: 1_000,
      endedAt: 1_750,
      ttfbMs: 120,
      inputTokens: 10,
      cacheReadTokens: 2_000,
      cacheWrite5mTokens: 0,
      cacheWrite1hTokens: 300,
      outputTokens: 40,
      reasoningTokens: 0,
      serverToolUses: {},
      costUsd: 0.5,
      priceFlag: 'priced' as const,
      mode: 'sim' as const,
    };
    await store.ledger.record(row);
    await store.ledger.record({
      ...row,
      requestId: null,
      status: 429,
      costUsd: null,
      priceFlag: 'unpriced',
      outputTokens: 0,
      startedAt: 2_000,
      endedAt: 2_010,
    });
    const detail = (await get(ui, `/api/runs/${s.runId}/calls/${encodeURIComponent(key)}`)).body as unknown as {
      requests: {
        source: string;
        status: number;
        latencyMs: number;
        ttfbMs: number;
        cacheWrite1hTokens: number;
        costUsd: number | null;
        priceFlag: string;
      }[];
    };
    // The run's own gateway wrote the agent's real request too; the two rows added here are beside it.
    expect(detail.requests.every((r) => r.source === 'ledger')).toBe(true);
    expect(detail.requests.filter((r) => r.latencyMs === 750 || r.status === 429)).toMatchObject([
      { source: 'ledger', status: 200, latencyMs: 750, ttfbMs: 120, cacheWrite1hTokens: 300, costUsd: 0.5, priceFlag: 'priced' },
      { source: 'ledger', status: 429, costUsd: null, priceFlag: 'unpriced' },
    ]);
    const cost = (await get(ui, `/api/runs/${s.runId}/cost`)).body as unknown as {
      source: string;
      total: { requests: number; costUsd: number; unpriced: number };
      byModel: { key: string }[];
      overTime: { usd: number }[];
    };
    const rows = await store.ledger.listByRun(s.runId);
    const spent = rows.reduce((n, r) => n + (r.costUsd ?? 0), 0);
    expect(cost).toMatchObject({ source: 'ledger', total: { requests: rows.length, unpriced: 1 } });
    expect(cost.total.costUsd).toBeCloseTo(spent, 9);
    expect(cost.byModel.map((m) => m.key)).toContain('claude-opus-4-8');
    // Spend over time, in the order requests ended: the two rows added here ended first (1970).
    expect(cost.overTime.slice(0, 2).map((p) => p.usd)).toEqual([0.5, 0.5]);
    expect(cost.overTime.at(-1)?.usd).toBeCloseTo(spent, 9);
  });

  it('folds the waterfall by depth and duration and filters it server-side, keeping ancestors; rows carry no attributes', async () => {
    const { run, ui } = await setup();
    const s = await run(FANOUT);
    type Page = {
      spans: number;
      total: number;
      rows: { name: string; depth: number; folded: number; match: boolean; attributes?: unknown; facts: string[] }[];
    };
    const all = (await get(ui, `/api/runs/${s.runId}/spans`)).body as unknown as Page;
    expect(all.spans).toBeGreaterThanOrEqual(8);
    expect(all.total).toBe(all.spans);
    expect(all.rows.every((r) => r.attributes === undefined)).toBe(true);
    // Key facts come from each span's attributes, read for the page's rows only (the trace is read as outlines).
    const withTokens = all.rows.filter((r) => r.facts.includes('100/10 tok'));
    expect(withTokens.length).toBeGreaterThanOrEqual(3); // each agent's span and its chat span
    const byFact = (await get(ui, `/api/runs/${s.runId}/spans?filter=${encodeURIComponent('100/10 tok')}`)).body as unknown as Page;
    expect(byFact.rows.filter((r) => r.match).map((r) => r.name)).toEqual(withTokens.map((r) => r.name));
    const deep = all.rows.filter((r) => r.depth > 1).length;
    expect(deep).toBeGreaterThan(0);

    const d1 = (await get(ui, `/api/runs/${s.runId}/spans?depth=1`)).body as unknown as Page;
    expect(d1.rows.every((r) => r.depth <= 1)).toBe(true);
    expect(d1.total).toBe(all.total - deep);
    expect(d1.rows.reduce((a, r) => a + r.folded, 0)).toBe(deep);

    const filtered = (await get(ui, `/api/runs/${s.runId}/spans?filter=look-b`)).body as unknown as Page;
    const names = filtered.rows.map((r) => r.name);
    expect(names).toContain('invoke_agent look-b');
    expect(names.some((n) => n.includes('look-a') || n.includes('look-c'))).toBe(false);
    expect(filtered.rows[0]).toMatchObject({ depth: 0, match: false });
    expect(filtered.rows.find((r) => r.name === 'invoke_agent look-b')?.match).toBe(true);

    const long = (await get(ui, `/api/runs/${s.runId}/spans?minMs=100000`)).body as unknown as Page;
    expect(long.rows.map((r) => r.depth)).toEqual([0]);
    expect(long.rows[0]?.folded).toBe(all.total - 1);

    const paged = (await get(ui, `/api/runs/${s.runId}/spans?offset=2&limit=3`)).body as unknown as Page;
    expect(paged.rows.map((r) => r.name)).toEqual(all.rows.slice(2, 5).map((r) => r.name));
  });

  it('prepares a trace once for readers that arrive together (a fold, a filter and the first page), and answers each correctly', async () => {
    const { run, store } = await setup();
    const s = await run(`phase('Scan'); return parallel(['a', 'b', 'c'].map((x) => () => agent('look at ' + x, { label: 'look-' + x })));`);
    const read = store.spans.querySpanOutlines.bind(store.spans);
    let reads = 0;
    store.spans.querySpanOutlines = async (traceId: string) => {
      reads++;
      return read(traceId);
    };
    const [all, d1, filtered] = await Promise.all([
      spanPage(store, s.runId),
      spanPage(store, s.runId, { depth: 1 }),
      spanPage(store, s.runId, { filter: 'look-b' }),
    ]);
    expect(reads).toBe(1);
    expect(all.total).toBe(all.spans);
    expect(d1.rows.every((r) => r.depth <= 1)).toBe(true);
    expect(d1.total).toBeLessThan(all.total);
    expect(filtered.rows.filter((r) => r.match).map((r) => r.name)).toEqual(['invoke_agent look-b']);
    // Paging through a fold cut once gives the same rows as one big page.
    const paged = [
      ...(await spanPage(store, s.runId, { limit: 3 })).rows,
      ...(await spanPage(store, s.runId, { offset: 3, limit: 500 })).rows,
    ];
    expect(paged.map((r) => r.spanId)).toEqual(all.rows.map((r) => r.spanId));
    expect(reads).toBe(1);
  });

  it('sees spans added to a trace it has already shown, whichever connection wrote them', async () => {
    const { run, ui, path, store } = await setup();
    const s = await run(FANOUT);
    type Page = { spans: number; rows: { name: string; spanId: string }[] };
    const before = (await get(ui, `/api/runs/${s.runId}/spans`)).body as unknown as Page;
    const root = before.rows[0] as { spanId: string };
    const late = (spanId: string, name: string) => ({
      traceId: traceIdForRun(s.runId),
      spanId,
      parentSpanId: root.spanId,
      name,
      kind: 1,
      startUs: Date.now() * 1000,
      endUs: Date.now() * 1000 + 1000,
      statusCode: 0,
      statusMessage: null,
      service: 'elsewhere',
      scope: null,
      attributes: {},
      resource: {},
      events: [],
      runId: s.runId,
    });
    const other: Store = createStore(path);
    onCleanup(() => other.close());
    await other.spans.insertSpans([late('00000000000000a1', 'late from another process')]);
    const after = (await get(ui, `/api/runs/${s.runId}/spans`)).body as unknown as Page;
    expect(after.spans).toBe(before.spans + 1);
    expect(after.rows.map((r) => r.name)).toContain('late from another process');
    // A parent whose recorded end is before a child's (a live run's root is written at its end) is
    // drawn to that child and marked open — never shorter than what runs under it.
    type Row = { name: string; spanId: string; startUs: number; durationUs: number; open: boolean };
    const rows = after.rows as unknown as Row[];
    const top = rows[0] as Row;
    const child = rows.find((r) => r.name === 'late from another process') as Row;
    expect(top.open).toBe(true);
    expect(top.startUs + top.durationUs).toBe(child.startUs + child.durationUs);
    expect(child.open).toBe(false);
    await store.spans.insertSpans([late('00000000000000a2', 'late from this connection')]);
    const again = (await get(ui, `/api/runs/${s.runId}/spans?filter=late`)).body as unknown as Page;
    expect(again.rows.map((r) => r.name)).toEqual([
      expect.stringMatching(/^invoke_workflow/),
      'late from another process',
      'late from this connection',
    ]);
  });

  it('lists pending questions across runs and answers one; a wrong choice is refused with the choices named', async () => {
    const { run, ui, store } = await setup();
    const a = await run(FANOUT, 'first');
    const b = await run(`return ask('free text?');`, 'second');
    const inbox = (await get(ui, '/api/questions')).body as unknown as { runId: string; question: string; runName: string; id: string }[];
    expect(inbox.map((q) => [q.runName, q.question])).toEqual([
      ['first', 'ship it?'],
      ['second', 'free text?'],
    ]);
    const first = inbox[0] as { runId: string; id: string };
    const bad = await post(
      ui,
      `/api/runs/${first.runId}/questions/${first.id}/answer`,
      { answer: 'maybe' },
      { 'x-drover-token': ui.token },
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not one of the choices: "yes", "no"/);
    const empty = await post(ui, `/api/runs/${first.runId}/questions/${first.id}/answer`, {}, { 'x-drover-token': ui.token });
    expect(empty.status).toBe(400);
    const ok = await post(
      ui,
      `/api/runs/${b.runId}/questions/${(inbox[1] as { id: string }).id}/answer`,
      { answer: '<b>bold</b>' },
      {
        'x-drover-token': ui.token,
      },
    );
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'answered', answer: '<b>bold</b>', resume: `drover resume ${b.runId}` });
    expect((await store.getQuestion(b.runId, (inbox[1] as { id: string }).id))?.answer).toBe('<b>bold</b>');
    const again = await post(
      ui,
      `/api/runs/${b.runId}/questions/${(inbox[1] as { id: string }).id}/answer`,
      { answer: 'other' },
      {
        'x-drover-token': ui.token,
      },
    );
    expect(again.status).toBe(409);
    expect((await store.getQuestion(b.runId, (inbox[1] as { id: string }).id))?.answer).toBe('<b>bold</b>');
    expect(((await get(ui, '/api/questions')).body as unknown as { runId: string }[]).map((q) => q.runId)).toEqual([a.runId]);
  });

  it('shows a list of tasks as a laid-out DAG with ready work marked', async () => {
    const { store, ui } = await setup();
    const actor = { name: 'test' };
    const now = Date.now();
    const t1 = await store.tasks.createTask('board', { subject: 'design' }, actor, now);
    const t2 = await store.tasks.createTask('board', { subject: 'build', blockedBy: [t1.id] }, actor, now);
    await store.tasks.createTask('board', { subject: 'ship', blockedBy: [t2.id] }, actor, now);
    const board = (await get(ui, '/api/tasks?list=board')).body as unknown as {
      tasks: { id: string; ready: boolean }[];
      dag: { nodes: { id: string; y: number }[]; edges: { from: string; to: string }[] };
    };
    expect(board.tasks.filter((t) => t.ready).map((t) => t.id)).toEqual([t1.id]);
    expect(board.dag.edges).toHaveLength(2);
    const y = (id: string) => board.dag.nodes.find((n) => n.id === id)?.y as number;
    expect(y(t1.id)).toBeLessThan(y(t2.id));
    const history = (await get(ui, `/api/tasks/board/history?task=${t2.id}`)).body as unknown as { kind: string }[];
    expect(history.map((e) => e.kind)).toContain('created');
  });
});

describe('drover ui: assets', () => {
  it('serves the page and every module it loads, ≤ 200 KB gzipped in all', async () => {
    const { ui } = await setup();
    const page = await (await fetch(ui.url)).text();
    const queue = ['/', ...[...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string)];
    const seen = new Set<string>();
    let gzipped = 0;
    while (queue.length > 0) {
      const path = queue.pop() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await fetch(new URL(path, ui.url));
      expect(res.status, path).toBe(200);
      const body = await res.text();
      gzipped += gzipSync(body, { level: 9 }).length;
      if (path.endsWith('.mjs'))
        for (const m of body.matchAll(/(?:import|from)\s*["']([^"']+)["']/g))
          queue.push(new URL(m[1] as string, new URL(path, ui.url)).pathname);
    }
    expect(seen.size).toBe(10); // the page, its stylesheet, 5 modules of its own (boot.mjs first), preact, hooks, htm
    expect(gzipped).toBeLessThanOrEqual(200 * 1024);
  });
});

describe('drover ui: live updates', () => {
  it('sends a change event when another connection writes to the store', async () => {
    const { ui, path } = await setup();
    const res = await fetch(new URL('/api/events', ui.url));
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const changes = () => text.split('event: change').length - 1;
    const until = async (n: number) => {
      while (changes() < n) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended after ${changes()} change events`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await until(1); // the current mark, sent on connect
    const other: Store = createStore(path);
    onCleanup(() => other.close());
    await other.tasks.createTask('elsewhere', { subject: 'written by another connection' }, { name: 't' }, Date.now());
    await until(2);
    await reader.cancel();
    expect(changes()).toBe(2);
  });

  it("starts the stream with the store's mark that API answers carry, so a page reloads only what is older", async () => {
    const { ui, path } = await setup();
    const before = (await fetch(new URL('/api/runs', ui.url))).headers.get('x-drover-mark');
    expect(before).toMatch(/\S/);
    const res = await fetch(new URL('/api/events', ui.url));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended before its first event');
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    const first = JSON.parse((/data: (.*)/.exec(text) as RegExpExecArray)[1] as string) as { mark: string };
    expect(first.mark).toBe(before);
    // Another connection's write moves the mark the next answer carries.
    const other: Store = createStore(path);
    onCleanup(() => other.close());
    await other.tasks.createTask('elsewhere', { subject: 'a write' }, { name: 't' }, Date.now());
    const after = (await fetch(new URL('/api/runs', ui.url))).headers.get('x-drover-mark');
    expect(after).not.toBe(before);
  });
});

describe('drover ui: found by a new user', () => {
  it('phases set per call are shown in the order they began; resuming a completed run is refused (400 NOT_RESUMABLE)', async () => {
    const { run, ui } = await setup();
    const s = await run(
      `phase('Collect');
await agent('first', { label: 'c1' });
await agent('then verify', { label: 'v1', phase: 'Verify' });
phase('Summarize');
return await agent('last', { label: 's1' });`,
      'phased',
    );
    expect(s.status).toBe('completed');
    const tree = (await get(ui, `/api/runs/${s.runId}/calls`)).body as unknown as { phases: { title: string | null }[] };
    expect(tree.phases.map((p) => p.title)).toEqual(['Collect', 'Verify', 'Summarize']);
    const res = await post(ui, `/api/runs/${s.runId}/resume`, {}, { 'x-drover-token': ui.token, origin: ui.url.replace(/\/$/, '') });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_RESUMABLE');
  });
});
