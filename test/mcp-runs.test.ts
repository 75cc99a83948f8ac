/**
 * `drover mcp`'s run tools and MCP Apps resources, over the real streamable HTTP transport with the
 * official client, against a store filled by real runs (in process, against the sim gateway).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { serveHttp } from '../src/mcp/index.js';
import { TaskBoard } from '../src/tasks/index.js';
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
const found = await parallel(['a', 'b'].map((x) => () => agent('look at ' + x, { label: 'look-' + x, model: 'claude-sonnet-5' })));
phase('Decide');
const go = await ask('ship <b>it</b>?', { choices: ['yes', 'no'] });
return { found, go };
`;

type ToolResult = {
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
};

async function setup() {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const { store } = tempStore(dir);
  const run = (body: string, name: string) =>
    runWorkflow({ store, script: ccScript(dir, body, `${name}.js`, name), gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF });
  const http = await serveHttp({ store, listId: 'board', port: 0 });
  onCleanup(() => http.close());
  const client = new Client({ name: 'runs-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  onCleanup(() => client.close());
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
  return { dir, store, run, client, call };
}

describe('drover mcp: run tools', () => {
  it('run_list, run_status, run_cost and run_answer read and act on the store like the dashboard does', async () => {
    const { store, run, call } = await setup();
    const waiting = await run(FANOUT, 'fanout');
    expect(waiting.status).toBe('waiting');
    const done = await run("return await agent('one thing', { label: 'solo', model: 'claude-sonnet-5' });", 'solo');
    expect(done.status).toBe('completed');

    const list = await call('run_list', {});
    const rows = (list.structuredContent?.runs ?? []) as { id: string; status: string }[];
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      [done.runId, 'completed'],
      [waiting.runId, 'waiting'],
    ]);
    expect((await call('run_list', { status: 'waiting' })).structuredContent?.runs).toHaveLength(1);

    const status = await call('run_status', { runId: waiting.runId });
    expect(status.isError).toBeFalsy();
    expect(status._meta).toEqual({ ui: { resourceUri: `ui://drover/run/${waiting.runId}` } });
    const s = status.structuredContent as {
      header: { status: string; agents: { done: number; total: number } };
      tree: { phases: { title: string; calls: { label: string; state: string }[] }[] };
      questions: { id: string; question: string }[];
    };
    expect(s.header).toMatchObject({ status: 'waiting', agents: { done: 2, total: 2 } });
    expect(s.tree.phases.map((p) => p.title)).toEqual(['Scan', 'Decide']);
    expect(s.questions.map((q) => q.question)).toEqual(['ship <b>it</b>?']);
    expect(status.content[0]?.text).toContain('waiting: ');

    // Cost equals the ledger's sum for the run.
    const cost = await call('run_cost', { runId: waiting.runId });
    const rowsUsd = (await store.ledger.listByRun(waiting.runId)).reduce((n, r) => n + (r.costUsd ?? 0), 0);
    expect((cost.structuredContent as { total: { costUsd: number; requests: number } }).total).toMatchObject({ requests: 2 });
    expect((cost.structuredContent as { total: { costUsd: number } }).total.costUsd).toBeCloseTo(rowsUsd, 12);
    expect(rowsUsd).toBeGreaterThan(0);

    // A bad choice is a tool error naming the choices; a good one is stored.
    const qid = s.questions[0]?.id as string;
    const bad = await call('run_answer', { runId: waiting.runId, questionId: qid, answer: 'maybe' });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/yes.*no/);
    const good = await call('run_answer', { runId: waiting.runId, questionId: qid, answer: 'yes' });
    expect(good.isError).toBeFalsy();
    expect((await store.listPendingQuestions()).length).toBe(0);

    // run_stop: a finished run has nothing to stop; a run waiting for an answer (no driver) stops at once.
    expect((await call('run_stop', { runId: done.runId })).structuredContent).toMatchObject({ outcome: 'ended', status: 'completed' });
    const another = await run(FANOUT, 'fanout');
    const stopped = await call('run_stop', { runId: another.runId });
    expect(stopped.structuredContent).toMatchObject({ outcome: 'stopped', status: 'stopped' });
    expect((await store.getRun(another.runId))?.status).toBe('stopped');
    expect(stopped.content[0]?.text).toContain(`drover resume ${another.runId}`);

    const missing = await call('run_status', { runId: 'no-such-run' });
    expect(missing.isError).toBe(true);
    expect(missing.content[0]?.text).toMatch(/no-such-run/);
  });
});

describe('drover mcp: MCP Apps resources', () => {
  it('ui://drover/run/<id> and ui://drover/tasks/<list> are listed and read as text/html;profile=mcp-app, data as text only', async () => {
    const { store, run, client } = await setup();
    const waiting = await run(FANOUT, 'fanout');
    const board = new TaskBoard(store, 'board', { name: 'test', session: 's' });
    const a = await board.create({ subject: 'first <script>', description: '' });
    await board.create({ subject: 'second', description: '', blockedBy: [a.id] });

    const tools = await client.listTools();
    const meta = Object.fromEntries(tools.tools.map((t) => [t.name, t._meta]));
    expect(meta.run_status).toEqual({ ui: { resourceUri: 'ui://drover/run' } });
    expect(meta.TaskList).toEqual({ ui: { resourceUri: 'ui://drover/tasks/board' } });
    for (const name of ['run_list', 'run_status', 'run_cost', 'run_answer', 'run_stop']) expect(Object.keys(meta)).toContain(name);

    const listed = await client.listResources();
    const uris = listed.resources.filter((r) => r.mimeType === 'text/html;profile=mcp-app').map((r) => r.uri);
    expect(uris).toEqual(expect.arrayContaining([`ui://drover/run/${waiting.runId}`, 'ui://drover/tasks/board', 'ui://drover/run']));

    const page = await client.readResource({ uri: `ui://drover/run/${waiting.runId}` });
    const html = (page.contents[0] as { text: string; mimeType: string }).text;
    expect(page.contents[0]?.mimeType).toBe('text/html;profile=mcp-app');
    // The question's markup is data, never markup: escaped inside the JSON, no raw tag in the page.
    expect(html).not.toContain('<b>it</b>');
    const data = JSON.parse(
      (/<script type="application\/json" id="drover-data">(.*?)<\/script>/s.exec(html) as RegExpExecArray)[1] as string,
    );
    expect(data.questions[0].question).toBe('ship <b>it</b>?');
    expect(data.tree.phases.map((p: { title: string }) => p.title)).toEqual(['Scan', 'Decide']);
    expect(html).toContain('textContent');

    const tasks = await client.readResource({ uri: 'ui://drover/tasks/board' });
    const tasksHtml = (tasks.contents[0] as { text: string }).text;
    expect(tasksHtml).not.toContain('first <script>');
    const board2 = JSON.parse((/id="drover-data">(.*?)<\/script>/s.exec(tasksHtml) as RegExpExecArray)[1] as string);
    expect(board2.tasks.map((t: { subject: string; ready: boolean }) => [t.subject, t.ready])).toEqual([
      ['first <script>', true],
      ['second', false],
    ]);
  });
});
