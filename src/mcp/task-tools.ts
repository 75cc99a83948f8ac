import { randomBytes } from 'node:crypto';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { redactDeep, redactSecrets } from '../redact/index.js';
import type { Store, TaskRecord } from '../store/index.js';
import { openIds, TaskBoard, taskLine, toAsciiTree, toDot, toMermaid } from '../tasks/index.js';
import { tasksAppUri } from './apps.js';
import { guarded, ok } from './results.js';
import { registerRunTools } from './run-tools.js';

export interface TaskServerOptions {
  store: Store;
  listId: string;
  /** How often subscribed lists are checked for changes made elsewhere. */
  pollMs?: number;
}

const taskUri = (listId: string) => `drover://tasks/${encodeURIComponent(listId)}`;

/**
 * An MCP server for one task list: Claude Code's task tools (same names and
 * inputs: TaskCreate, TaskGet, TaskList, TaskUpdate) plus drover's leased
 * claims. Each list is a resource `drover://tasks/<list>` with update notifications.
 */
export function createTaskServer(options: TaskServerOptions): { server: McpServer; close: () => void } {
  const server = new McpServer(
    { name: 'drover', version: '0.1.0' },
    { capabilities: { resources: { subscribe: true, listChanged: true }, tools: {} } },
  );
  // One session per connection: a claim made here is held by this connection (two Claude Code
  // processes share a client name, never a session), so a stale one cannot complete another's claim.
  const connection = randomBytes(4).toString('hex');
  // Claims made without an owner name this connection, not just the client: two Claude Code
  // processes are both "claude-code", and must not hold each other's claims.
  const defaultOwner = () => `${server.server.getClientVersion()?.name ?? 'mcp'}@${connection}`;
  const board = () => {
    const client = server.server.getClientVersion();
    return new TaskBoard(options.store, options.listId, {
      name: client?.name ?? 'mcp',
      session: `mcp:${client?.name ?? 'client'}:${connection}`,
    });
  };
  const lines = async (b: TaskBoard, tasks: TaskRecord[]) => {
    const open = openIds(await b.list());
    return tasks.map((t) => taskLine(t, open)).join('\n') || 'No tasks found';
  };

  server.registerTool(
    'TaskCreate',
    {
      description: 'Create a task in the shared task list.',
      inputSchema: {
        subject: z.string().min(1).describe('Brief title'),
        description: z.string().describe('What needs to be done'),
        activeForm: z.string().optional().describe('Present continuous form shown while in progress'),
        metadata: z.record(z.string(), z.unknown()).optional(),
        blockedBy: z.array(z.string()).optional().describe('drover: ids this task waits for'),
        priority: z.number().int().min(0).max(9).optional().describe('drover: 0 is most urgent'),
        labels: z.array(z.string()).optional(),
      },
    },
    (input) =>
      guarded(async () => {
        const t = await board().create({ ...input, ...(input.activeForm === undefined ? {} : { activeForm: input.activeForm }) });
        return ok(`Task #${t.id} created successfully: ${t.subject}`, { task: t });
      }),
  );

  server.registerTool('TaskGet', { description: 'Get a task by id.', inputSchema: { taskId: z.string().min(1) } }, ({ taskId }) =>
    guarded(async () => {
      const t = await board().get(taskId);
      if (!t) return { isError: true, content: [{ type: 'text', text: redactSecrets(`Task #${taskId} not found`) }] };
      return ok(`${taskLine(t)}\n${t.description}`, { task: t });
    }),
  );

  server.registerTool(
    'TaskList',
    { description: 'List all tasks.', inputSchema: {}, _meta: { ui: { resourceUri: tasksAppUri(options.listId) } } },
    () =>
      guarded(async () => {
        const b = board();
        const tasks = await b.list();
        return ok(await lines(b, tasks), { tasks });
      }),
  );

  server.registerTool(
    'TaskUpdate',
    {
      description:
        'Update a task: fields, status (deleted removes it), owner, metadata (merged; null deletes a key), dependencies. Status and owner of a task claimed with task_claim change only by the claim’s holder.',
      inputSchema: {
        taskId: z.string().min(1),
        subject: z.string().min(1).optional(),
        description: z.string().optional(),
        activeForm: z.string().optional(),
        status: z.enum(['pending', 'in_progress', 'completed', 'deleted']).optional(),
        owner: z.string().optional(),
        metadata: z.record(z.string(), z.unknown()).optional(),
        addBlocks: z.array(z.string()).optional(),
        addBlockedBy: z.array(z.string()).optional(),
      },
    },
    (input) =>
      guarded(async () => {
        const b = board();
        if (input.status === 'deleted') {
          const deleted = await b.delete(input.taskId);
          return ok(`Deleted task #${deleted.join(', #')}`, { deleted });
        }
        for (const blocker of input.addBlockedBy ?? []) await b.addDependency(input.taskId, blocker);
        for (const dependent of input.addBlocks ?? []) await b.addDependency(dependent, input.taskId);
        const t = await b.update(input.taskId, {
          ...(input.subject !== undefined ? { subject: input.subject } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.activeForm !== undefined ? { activeForm: input.activeForm } : {}),
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.owner !== undefined ? { owner: input.owner } : {}),
          ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
        });
        return ok(`Updated task #${t.id}: ${taskLine(t)}`, { task: t });
      }),
  );

  server.registerTool(
    'task_ready',
    {
      description: 'Tasks that can be claimed now, best first (priority, then age); the best 100 unless limit says otherwise.',
      inputSchema: { limit: z.number().int().positive().optional() },
    },
    ({ limit }) =>
      guarded(async () => {
        const tasks = await board().ready(limit);
        return ok(tasks.map((t) => taskLine(t, new Set())).join('\n') || 'Nothing is ready', { tasks });
      }),
  );

  server.registerTool(
    'task_claim',
    {
      description:
        'Atomically claim a task (or the best ready one) with a lease; renew it with task_heartbeat, or it returns to pending. The owner defaults to <client>@<connection>.',
      inputSchema: {
        taskId: z.string().optional(),
        owner: z.string().optional(),
        leaseSeconds: z.number().positive().max(86_400).optional(),
      },
    },
    ({ taskId, owner, leaseSeconds }) =>
      guarded(async () => {
        const t = await board().claim({
          ...(taskId ? { id: taskId } : {}),
          owner: owner ?? defaultOwner(),
          ...(leaseSeconds ? { leaseMs: leaseSeconds * 1000 } : {}),
        });
        return ok(`Claimed task #${t.id}: ${t.subject} (lease until ${new Date(t.leaseExpiresAt ?? 0).toISOString()})`, { task: t });
      }),
  );

  server.registerTool(
    'task_heartbeat',
    {
      description: 'Extend the lease of a task you hold.',
      inputSchema: { taskId: z.string().min(1), owner: z.string().optional(), leaseSeconds: z.number().positive().max(86_400).optional() },
    },
    ({ taskId, owner, leaseSeconds }) =>
      guarded(async () => {
        const t = await board().heartbeat(taskId, {
          owner: owner ?? defaultOwner(),
          ...(leaseSeconds ? { leaseMs: leaseSeconds * 1000 } : {}),
        });
        return ok(`Lease of #${t.id} extended until ${new Date(t.leaseExpiresAt ?? 0).toISOString()}`, { task: t });
      }),
  );

  server.registerTool(
    'task_graph',
    { description: 'The dependency graph of the list.', inputSchema: { format: z.enum(['mermaid', 'dot', 'tree']).optional() } },
    ({ format }) =>
      guarded(async () => {
        const tasks = await board().list();
        const f = format ?? 'mermaid';
        const graph = f === 'dot' ? toDot(tasks) : f === 'tree' ? toAsciiTree(tasks) : toMermaid(tasks);
        return ok(graph, { format: f, graph });
      }),
  );

  server.registerResource(
    'task-list',
    new ResourceTemplate('drover://tasks/{listId}', {
      list: async () => ({
        resources: (await options.store.tasks.listTaskLists()).map((id) => ({
          uri: taskUri(id),
          name: `tasks ${id}`,
          mimeType: 'application/json',
        })),
      }),
    }),
    { description: 'A task list as JSON', mimeType: 'application/json' },
    async (uri, variables) => {
      const listId = decodeURIComponent(String(variables.listId));
      const tasks = await options.store.tasks.listTasks(listId, Date.now());
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(redactDeep({ listId, tasks }), null, 2) }] };
    },
  );

  // Subscriptions: a watch of each subscribed list (TaskStore.watchTasks) sees changes from any
  // process: at once on PostgreSQL (LISTEN/NOTIFY), by polling the list's event sequence on SQLite.
  const subscribed = new Map<string, AbortController>();
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (subscribed.has(uri)) return {};
    const listId = decodeURIComponent(uri.replace(/^drover:\/\/tasks\//, ''));
    const stop = new AbortController();
    subscribed.set(uri, stop);
    const watch = await options.store.tasks.watchTasks(listId, options.pollMs !== undefined ? { pollMs: options.pollMs } : {});
    void (async () => {
      try {
        while (!stop.signal.aborted) {
          const woke = await watch.next({ signal: stop.signal });
          // A lease running out is a change only once someone reads the list (which records it).
          if (woke === 'notify' || woke === 'poll') await server.server.sendResourceUpdated({ uri }).catch(() => {});
        }
      } catch {
        // the store closed
      } finally {
        await watch.close().catch(() => {});
      }
    })();
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscribed.get(req.params.uri)?.abort();
    subscribed.delete(req.params.uri);
    return {};
  });
  let knownLists = -1;
  const timer = setInterval(async () => {
    try {
      const lists = (await options.store.tasks.listTaskLists()).length;
      if (knownLists !== -1 && lists !== knownLists) await server.server.sendResourceListChanged();
      knownLists = lists;
    } catch {
      // not connected yet, or closing
    }
  }, options.pollMs ?? 300);
  timer.unref();
  registerRunTools(server, options.store);
  return {
    server,
    close: () => {
      clearInterval(timer);
      for (const stop of subscribed.values()) stop.abort();
      subscribed.clear();
    },
  };
}
