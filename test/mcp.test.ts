import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { serveHttp } from '../src/mcp/index.js';
import { TaskBoard } from '../src/tasks/index.js';
import { CLI, onCleanup, tempDir, tempStore } from './helpers.js';

type ToolResult = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: Record<string, unknown> };

async function exercise(client: Client, other: TaskBoard) {
  const names = (await client.listTools()).tools.map((t) => t.name).sort();
  expect(names).toEqual([
    'TaskCreate',
    'TaskGet',
    'TaskList',
    'TaskUpdate',
    'run_answer',
    'run_cost',
    'run_list',
    'run_status',
    'run_stop',
    'task_claim',
    'task_graph',
    'task_heartbeat',
    'task_ready',
  ]);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;

  const created = await call('TaskCreate', { subject: 'Build service', description: 'compile' });
  expect(created.content[0]?.text).toBe('Task #1 created successfully: Build service');
  expect(created.structuredContent?.task).toMatchObject({ id: '1', status: 'pending' });
  await call('TaskCreate', { subject: 'Test service', description: 'run tests' });
  await call('TaskUpdate', { taskId: '2', addBlockedBy: ['1'] });
  const list = await call('TaskList', {});
  expect(list.content[0]?.text).toBe('#1 [pending] Build service\n#2 [pending] Test service [blocked by #1]');

  // Rules come back as tool errors, not protocol failures.
  const cycle = await call('TaskUpdate', { taskId: '1', addBlockedBy: ['2'] });
  expect(cycle.isError).toBe(true);
  expect(cycle.content[0]?.text).toMatch(/^CYCLE: #1 blocked by #2 would close a cycle/);
  const blocked = await call('task_claim', { taskId: '2' });
  expect(blocked).toMatchObject({ isError: true, content: [{ text: 'BLOCKED: task #2 cannot be claimed: blocked by unfinished #1' }] });

  const claim = await call('task_claim', { owner: 'agent-a', leaseSeconds: 60 });
  expect(claim.structuredContent?.task).toMatchObject({ id: '1', owner: 'agent-a', status: 'in_progress' });
  const again = await call('task_claim', { taskId: '1' });
  expect(again.content[0]?.text).toMatch(/^ALREADY_CLAIMED: task #1 is already claimed by agent-a/);
  expect((await call('task_heartbeat', { taskId: '1', owner: 'agent-a' })).isError).toBeFalsy();

  // Subscribed resource: a change made by another process-side board is notified.
  const uri = 'drover://tasks/mcp-list';
  const updated = new Promise<string>((resolve) =>
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
  );
  await client.subscribeResource({ uri });
  await other.update('2', { description: 'changed elsewhere' });
  expect(await updated).toBe(uri);
  const resource = await client.readResource({ uri });
  const body = JSON.parse((resource.contents[0] as { text: string }).text);
  expect(body.tasks.map((t: { id: string }) => t.id)).toEqual(['1', '2']);
  expect((await client.listResources()).resources.map((r) => r.uri)).toContain(uri);

  const done = await call('TaskUpdate', { taskId: '1', status: 'completed' });
  expect(done.isError).toBeFalsy();
  expect((await call('task_ready', {})).content[0]?.text).toBe('#2 [pending] Test service');
  expect((await call('task_graph', { format: 'mermaid' })).content[0]?.text).toContain('t1 --> t2');
}

describe('drover mcp', () => {
  it('serves the task tools over stdio', async () => {
    const dir = tempDir();
    const storePath = join(dir, 's.db');
    const { createStore } = await import('../src/store/index.js');
    const store = createStore(storePath);
    onCleanup(() => store.close());
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--store', storePath, '--list', 'mcp-list'],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'test-client', version: '1.0.0' });
    await client.connect(transport);
    onCleanup(() => client.close());
    await exercise(client, new TaskBoard(store, 'mcp-list', { name: 'other' }));
    const history = await new TaskBoard(store, 'mcp-list', { name: 'x' }).history('1');
    // The session is the connection: mcp:<client>:<connection id>.
    expect(history[0]).toMatchObject({
      kind: 'created',
      actor: 'test-client',
      session: expect.stringMatching(/^mcp:test-client:[0-9a-f]{8}$/),
    });
  });

  it('serves the task tools over streamable HTTP on loopback, refusing foreign origins', async () => {
    const { store } = tempStore();
    const http = await serveHttp({ store, listId: 'mcp-list', port: 0 });
    onCleanup(() => http.close());
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const client = new Client({ name: 'http-client', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
    onCleanup(() => client.close());
    await exercise(client, new TaskBoard(store, 'mcp-list', { name: 'other' }));
    const evil = await fetch(http.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin: 'http://evil.example' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
    });
    expect(evil.status).toBe(403);
  });
});
