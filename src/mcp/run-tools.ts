/**
 * @module The MCP server's run tools — `run_list`, `run_status`, `run_cost`, `run_answer`, `run_stop` — and
 * the MCP Apps resources that show a run and a task list inline (`ui://drover/run/<id>`,
 * `ui://drover/tasks/<list>`). Each tool reads the same views as the dashboard (src/ui), so the
 * page, `drover status` and an MCP client agree.
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Store } from '../store/index.js';
import { answer, callTree, listInbox, listRunsPage, runCost, taskBoard } from '../ui/index.js';
import { runHeader } from '../ui/runs.js';
import { stopRun } from '../workflow/control.js';
import { appHtml, MCP_APP_MIME, runAppUri, tasksAppUri } from './apps.js';
import { guarded, ok } from './results.js';

/** What `run_status` returns and the run app renders. */
async function runStatus(store: Store, runId: string) {
  const [header, tree, cost, inbox] = await Promise.all([
    runHeader(store, runId),
    callTree(store, runId),
    runCost(store, runId),
    listInbox(store),
  ]);
  return {
    header: {
      id: header.id,
      name: header.name,
      status: header.status,
      agents: { done: header.agentsDone, total: header.agentsTotal },
      spendUsd: header.spendUsd,
      capUsd: header.capUsd,
      capTokens: header.capTokens,
    },
    tree,
    cost: { total: cost.total },
    questions: inbox.filter((q) => q.runId === runId).map((q) => ({ id: q.id, question: q.question, choices: q.choices })),
  };
}

const usd = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `$${v.toFixed(4)}`);

/** Registers the run tools and both app resources on `server`. */
export function registerRunTools(server: McpServer, store: Store): void {
  const appMeta = (uri: string) => ({ ui: { resourceUri: uri } });

  server.registerTool(
    'run_list',
    {
      description: 'List drover runs in the store, newest first: status, workflow, agents done, spend.',
      inputSchema: {
        status: z.string().optional().describe('running, waiting, completed, failed, stopped, budget_exceeded, interrupted'),
        workflow: z.string().optional().describe('exact workflow name (meta.name)'),
        text: z.string().optional().describe('text in the run id, name or description'),
        limit: z.number().int().min(1).max(500).optional(),
      },
    },
    (input) =>
      guarded(async () => {
        const page = await listRunsPage(store, input);
        const lines = page.runs.map(
          (r) =>
            `${r.id}  ${r.status}  ${r.name}  agents ${r.agents.done}/${r.agents.total}  ${usd(r.spendUsd)}${r.capUsd ? ` of ${usd(r.capUsd)}` : ''}`,
        );
        return ok(lines.join('\n') || 'No runs found', { ...page });
      }),
  );

  server.registerTool(
    'run_status',
    {
      description: "A run's status: its header, phases and calls (state, model, tokens, cost) and questions waiting for an answer.",
      inputSchema: { runId: z.string().min(1) },
      _meta: appMeta('ui://drover/run'),
    },
    ({ runId }) =>
      guarded(async () => {
        const s = await runStatus(store, runId);
        const lines = [
          `${s.header.name} (${runId}): ${s.header.status}, agents ${s.header.agents.done}/${s.header.agents.total}, spend ${usd(s.header.spendUsd)}${s.header.capUsd ? ` of ${usd(s.header.capUsd)}` : ''}`,
          ...s.tree.phases.flatMap((p) => [
            `${p.title ?? '(no phase)'}: ${p.done}/${p.calls.length} done`,
            ...p.calls.map((c) => `  ${c.label}  ${c.state}${c.model ? `  ${c.model}` : ''}  ${usd(c.costUsd)}`),
          ]),
          ...s.questions.map((q) => `waiting: ${q.id}: ${q.question}`),
        ];
        return { ...ok(lines.join('\n'), s), _meta: appMeta(runAppUri(runId)) };
      }),
  );

  server.registerTool(
    'run_cost',
    {
      description: "A run's cost from the ledger: totals and the breakdown by phase, agent, model and token class (USD, tokens).",
      inputSchema: { runId: z.string().min(1) },
    },
    ({ runId }) =>
      guarded(async () => {
        const cost = await runCost(store, runId);
        const line = (b: { key: string; costUsd: number | null; requests: number }) =>
          `  ${b.key}: ${usd(b.costUsd)} (${b.requests} requests)`;
        const text = [
          `total ${usd(cost.total.costUsd)} over ${cost.total.requests} requests${cost.total.unpriced ? `, ${cost.total.unpriced} unpriced` : ''}`,
          'by phase:',
          ...cost.byPhase.map(line),
          'by model:',
          ...cost.byModel.map(line),
        ].join('\n');
        return ok(text, { ...cost });
      }),
  );

  server.registerTool(
    'run_answer',
    {
      description: 'Answer a question a run is waiting for (an ask); the run continues when it is resumed or its driver sees the answer.',
      inputSchema: { runId: z.string().min(1), questionId: z.string().min(1), answer: z.string() },
    },
    ({ runId, questionId, answer: text }) =>
      guarded(async () => {
        const q = await answer(store, runId, questionId, text);
        return ok(`answered ${questionId} of ${runId}; it continues with: ${q.resume}`, { question: q });
      }),
  );

  server.registerTool(
    'run_stop',
    {
      description:
        'Stop a run (as `drover stop`): its driver ends it as stopped within a second, cancelling agents in flight; `drover resume` continues it without paying for finished calls again.',
      inputSchema: {
        runId: z.string().min(1),
        waitMs: z.number().int().min(0).max(60_000).optional().describe('wait for the driver to end it (ms)'),
      },
    },
    ({ runId, waitMs }) =>
      guarded(async () => {
        const r = await stopRun(store, runId, { waitMs: waitMs ?? 5000 });
        const said = {
          stopped: `run ${runId} is stopped; drover resume ${runId} continues it`,
          requested: `asked run ${runId}'s driver${r.driver ? ` (pid ${r.driver.pid} on ${r.driver.host})` : ''} to stop; it has not ended the run yet`,
          'already-stopped': `run ${runId} was already stopped`,
          ended: `run ${runId} had already ended (${r.status}): nothing to stop`,
        }[r.outcome];
        return ok(said, { ...r });
      }),
  );

  server.registerResource(
    'run-app',
    new ResourceTemplate('ui://drover/run/{runId}', {
      list: async () => ({
        resources: (await store.listRuns({ limit: 50 })).map((r) => ({
          uri: runAppUri(r.id),
          name: `run ${r.name} (${r.id})`,
          mimeType: MCP_APP_MIME,
        })),
      }),
    }),
    { description: 'A run, live view (MCP App)', mimeType: MCP_APP_MIME },
    async (uri, variables) => {
      const runId = decodeURIComponent(String(variables.runId));
      return {
        contents: [{ uri: uri.href, mimeType: MCP_APP_MIME, text: appHtml('run', `drover run ${runId}`, await runStatus(store, runId)) }],
      };
    },
  );
  // The app the tool definition names: it renders the tool result the host hands it.
  server.registerResource(
    'run-app-template',
    'ui://drover/run',
    { description: 'A run (MCP App; shows a run_status result)', mimeType: MCP_APP_MIME },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: MCP_APP_MIME, text: appHtml('run', 'drover run', null) }],
    }),
  );

  server.registerResource(
    'tasks-app',
    new ResourceTemplate('ui://drover/tasks/{listId}', {
      list: async () => ({
        resources: (await store.tasks.listTaskLists()).map((id) => ({
          uri: tasksAppUri(id),
          name: `task board ${id}`,
          mimeType: MCP_APP_MIME,
        })),
      }),
    }),
    { description: "A task list's board (MCP App)", mimeType: MCP_APP_MIME },
    async (uri, variables) => {
      const listId = decodeURIComponent(String(variables.listId));
      return {
        contents: [
          { uri: uri.href, mimeType: MCP_APP_MIME, text: appHtml('tasks', `drover tasks ${listId}`, await taskBoard(store, listId)) },
        ],
      };
    },
  );
}
