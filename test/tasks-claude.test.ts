import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClaudeTaskBridge, TaskBoard } from '../src/tasks/index.js';
import { CLI, gateway, runClaude, tempDir, tempStore, write } from './helpers.js';

describe('the real claude CLI and the task board', () => {
  it('Claude Code task tools on a bridged directory: each side sees the other’s tasks', async () => {
    const home = tempDir();
    const { store } = tempStore();
    const board = new TaskBoard(store, 'shared', { name: 'drover-bridge' });
    const bridge = new ClaudeTaskBridge(board, join(home, '.claude', 'tasks', 'shared'));
    await board.create({ subject: 'Drover task', description: 'planned in drover' });
    await bridge.syncOnce();
    const gw = await gateway(`
rules:
  - name: plan
    match: { prompt: 'plan the work' }
    turns:
      - tool_use: { name: TaskCreate, input: { subject: 'Claude task', description: 'made by claude' } }
      - tool_use: { name: TaskUpdate, input: { taskId: '2', addBlockedBy: ['1'] } }
      - tool_use: { name: TaskList, input: {} }
      - text: planned
`);
    const r = await runClaude(['-p', 'plan the work', '--allowedTools', 'TaskCreate,TaskUpdate,TaskList'], {
      gatewayUrl: gw.url,
      home,
      env: { CLAUDE_CODE_TASK_LIST_ID: 'shared' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.lines[r.lines.length - 1]).toMatchObject({ type: 'result', is_error: false, result: 'planned' });
    // The real TaskList showed drover's task, and Claude's own.
    const log = gw.stats().log;
    expect(log[3]?.last).toBe('#1 [pending] Drover task\n#2 [pending] Claude task [blocked by #1]');
    const report = await bridge.syncOnce();
    expect(report.problems).toEqual([]);
    expect(report.refused).toEqual([]);
    const tasks = await board.list();
    expect(tasks.map((t) => [t.id, t.subject, t.status, t.blockedBy])).toEqual([
      ['1', 'Drover task', 'pending', []],
      ['2', 'Claude task', 'pending', ['1']],
    ]);
    expect((await board.history('2'))[0]).toMatchObject({ kind: 'created', actor: 'drover-bridge' });
  });

  it('Claude Code claims and completes a task through drover’s MCP server', async () => {
    const dir = tempDir();
    const { store, path } = tempStore(dir);
    const board = new TaskBoard(store, 'mcp', { name: 'planner' });
    await board.create({ subject: 'Fix the bug' });
    await board.create({ subject: 'Ship it', blockedBy: ['1'] });
    const config = write(
      dir,
      'mcp.json',
      JSON.stringify({ mcpServers: { drover: { command: process.execPath, args: [CLI, 'mcp', '--store', path, '--list', 'mcp'] } } }),
    );
    const gw = await gateway(`
rules:
  - name: work
    match: { prompt: 'do the work' }
    turns:
      - tool_use: { name: mcp__drover__task_claim, input: { owner: claude-worker } }
      - tool_use: { name: mcp__drover__task_claim, input: { taskId: '2' } }
      - tool_use: { name: mcp__drover__TaskUpdate, input: { taskId: '1', status: completed } }
      - text: finished
`);
    const r = await runClaude(
      ['-p', 'do the work', '--mcp-config', config, '--allowedTools', 'mcp__drover__task_claim,mcp__drover__TaskUpdate'],
      { gatewayUrl: gw.url, home: tempDir() },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.lines[0]).toMatchObject({ type: 'system', subtype: 'init', mcp_servers: [{ name: 'drover', status: 'connected' }] });
    const log = gw.stats().log;
    expect(log[1]?.last).toContain('"owner":"claude-worker"');
    // Claiming the blocked task came back as a tool error with the reason.
    expect(log[2]?.last).toContain('BLOCKED: task #2 cannot be claimed: blocked by unfinished #1');
    expect(await board.get('1')).toMatchObject({ status: 'completed', owner: 'claude-worker' });
    expect((await board.ready()).map((t) => t.id)).toEqual(['2']);
    const history = await board.history('1');
    expect(history.map((e) => [e.kind, e.actor])).toEqual([
      ['created', 'planner'],
      ['claimed', 'claude-code'],
      ['completed', 'claude-code'],
    ]);
  });
});
