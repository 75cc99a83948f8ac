// Files, not ../../tasks/index.js: `tasks claim`/`done` run in loops and must not load the Claude
// Code bridge (zod, proper-lockfile) they do not use; sync/export/import load it when they run.
import { InputError } from '../../core/errors.js';
import type { TaskRecord, TaskStatus } from '../../store/task-types.js';
import { openIds, parseLease, parseWait, READY_PAGE, TaskBoard, taskLine } from '../../tasks/board.js';
import type { SyncReport } from '../../tasks/claude-bridge.js';
import { toAsciiTree, toDot, toMermaid } from '../../tasks/graph.js';
import { resolveTaskListId } from '../../tasks/list-id.js';
import { type GlobalFlags, openStore } from '../context.js';
import { color, EXIT, printJson } from '../output.js';

export interface TaskFlags extends GlobalFlags {
  list?: string;
  actor?: string;
}

const STATUSES: TaskStatus[] = ['pending', 'in_progress', 'completed', 'cancelled'];

/**
 * Opens the store and the list, runs `fn`, prints its value (JSON last line with --json).
 * `readOnly`: the command only reads, so a missing store is NoStoreError (exit 2), not created.
 */
export async function withBoard(
  flags: TaskFlags,
  fn: (board: TaskBoard) => Promise<{ json: unknown; text: string }>,
  readOnly = false,
): Promise<number> {
  const { store } = openStore(flags, { readOnly });
  try {
    const listId = resolveTaskListId(flags.list ? { explicit: flags.list } : {});
    const session = process.env.DROVER_SESSION ?? process.env.CLAUDE_CODE_SESSION_ID;
    const actor = { name: flags.actor ?? process.env.DROVER_ACTOR ?? process.env.USER ?? 'cli', ...(session ? { session } : {}) };
    const out = await fn(new TaskBoard(store, listId, actor));
    if (flags.json) printJson(out.json);
    else if (out.text) process.stdout.write(`${out.text}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

export function parseStatus(value: string | undefined, where: string): TaskStatus | undefined {
  if (value === undefined) return undefined;
  if (!STATUSES.includes(value as TaskStatus)) throw new InputError(`${where}: "${value}" must be one of ${STATUSES.join(', ')}`);
  return value as TaskStatus;
}

function parsePriority(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 9)
    throw new InputError(`--priority: "${value}" must be a whole number from 0 (most urgent) to 9`);
  return n;
}

function parseMetadata(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InputError(`--metadata-json: not valid JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InputError('--metadata-json: must be a JSON object');
  return parsed as Record<string, unknown>;
}

function show(t: TaskRecord): string {
  const lines = [`${color.bold(`#${t.id}`)} [${t.status}] ${t.subject}`];
  if (t.description) lines.push(`  ${t.description}`);
  if (t.owner) lines.push(`  owner: ${t.owner}${t.leaseExpiresAt ? ` (lease until ${new Date(t.leaseExpiresAt).toISOString()})` : ''}`);
  if (t.blockedBy.length) lines.push(`  blocked by: ${t.blockedBy.map((b) => `#${b}`).join(', ')}`);
  if (t.blocks.length) lines.push(`  blocks: ${t.blocks.map((b) => `#${b}`).join(', ')}`);
  lines.push(`  priority ${t.priority}${t.labels.length ? `; labels: ${t.labels.join(', ')}` : ''}`);
  return lines.join('\n');
}

const one = (t: TaskRecord) => ({ json: t, text: show(t) });

/** `--wait`'s note on stderr, once, when it starts waiting (scripts and tests wait for it). */
function waiting(b: TaskBoard): () => void {
  let said = false;
  return () => {
    if (said) return;
    said = true;
    process.stderr.write(`waiting for a change of task list ${b.listId}…\n`);
  };
}

/**
 * For `tasks sync --watch`: which pass reports to print. The first one always; after it, one that
 * moved something (either way, a conflict, a renumbering) or whose refusals, held edges or bad files
 * differ from the last printed ones — a pass that changed nothing, or repeats them, stays quiet.
 */
export function reportFilter(): (r: SyncReport) => boolean {
  let last: string | undefined;
  return (r) => {
    const moved = r.toDrover.length + r.toClaude.length + r.conflicts.length + r.renumbered.length > 0;
    const standing = JSON.stringify([r.refused, r.held, r.problems.map((p) => [p.path, p.message])]);
    const print = last === undefined || moved || standing !== last;
    last = standing;
    return print;
  };
}

export const tasksCommands = {
  add: (
    subject: string,
    f: TaskFlags & {
      description?: string;
      blockedBy?: string[];
      priority?: string;
      label?: string[];
      activeForm?: string;
      metadataJson?: string;
    },
  ) =>
    withBoard(f, async (b) => {
      const metadata = parseMetadata(f.metadataJson);
      const priority = parsePriority(f.priority);
      return one(
        await b.create({
          subject,
          ...(f.description !== undefined ? { description: f.description } : {}),
          ...(f.activeForm !== undefined ? { activeForm: f.activeForm } : {}),
          ...(f.blockedBy ? { blockedBy: f.blockedBy } : {}),
          ...(priority !== undefined ? { priority } : {}),
          ...(f.label ? { labels: f.label } : {}),
          ...(metadata ? { metadata } : {}),
        }),
      );
    }),
  update: (
    id: string,
    f: TaskFlags & {
      subject?: string;
      description?: string;
      status?: string;
      owner?: string;
      priority?: string;
      label?: string[];
      activeForm?: string;
      metadataJson?: string;
    },
  ) =>
    withBoard(f, async (b) => {
      const status = parseStatus(f.status, '--status');
      const priority = parsePriority(f.priority);
      const metadata = parseMetadata(f.metadataJson);
      return one(
        await b.update(id, {
          ...(f.subject !== undefined ? { subject: f.subject } : {}),
          ...(f.description !== undefined ? { description: f.description } : {}),
          ...(f.activeForm !== undefined ? { activeForm: f.activeForm } : {}),
          ...(status ? { status } : {}),
          ...(f.owner !== undefined ? { owner: f.owner === '' ? null : f.owner } : {}),
          ...(priority !== undefined ? { priority } : {}),
          ...(f.label ? { labels: f.label } : {}),
          ...(metadata ? { metadata } : {}),
        }),
      );
    }),
  depAdd: (id: string, f: TaskFlags & { blockedBy: string }) => withBoard(f, async (b) => one(await b.addDependency(id, f.blockedBy))),
  depRm: (id: string, f: TaskFlags & { blockedBy: string }) => withBoard(f, async (b) => one(await b.removeDependency(id, f.blockedBy))),
  ready: (f: TaskFlags & { limit?: number; all?: boolean; wait?: string | boolean }) =>
    withBoard(
      f,
      async (b) => {
        const limit = f.all ? Number.POSITIVE_INFINITY : (f.limit ?? READY_PAGE);
        const waitMs = parseWait(f.wait);
        const tasks = waitMs === undefined ? await b.ready(limit) : await b.readyWait(limit, { waitMs, onWait: waiting(b) });
        const more = tasks.length > 0 && !f.all ? (await b.readyCount()) - tasks.length : 0;
        const lines = tasks.map((t) => taskLine(t, new Set()));
        if (more > 0) lines.push(`… and ${more} more ready (--limit <n> or --all to see them)`);
        return { json: tasks, text: tasks.length ? lines.join('\n') : 'nothing is ready' };
      },
      true,
    ),
  claim: (id: string | undefined, f: TaskFlags & { owner?: string; lease?: string; wait?: string | boolean }) =>
    withBoard(f, async (b) => {
      const request = { ...(id ? { id } : {}), ...(f.owner ? { owner: f.owner } : {}), leaseMs: parseLease(f.lease) };
      const waitMs = parseWait(f.wait);
      return one(waitMs === undefined ? await b.claim(request) : await b.claimWait({ ...request, waitMs, onWait: waiting(b) }));
    }),
  heartbeat: (id: string, f: TaskFlags & { owner?: string; lease?: string }) =>
    withBoard(f, async (b) => one(await b.heartbeat(id, { ...(f.owner ? { owner: f.owner } : {}), leaseMs: parseLease(f.lease) }))),
  done: (id: string, f: TaskFlags & { owner?: string }) =>
    withBoard(f, async (b) => one(await b.complete(id, f.owner ? { owner: f.owner } : {}))),
  release: (id: string, f: TaskFlags & { owner?: string }) =>
    withBoard(f, async (b) => one(await b.release(id, f.owner ? { owner: f.owner } : {}))),
  cancel: (id: string, f: TaskFlags) => withBoard(f, async (b) => one(await b.cancel(id))),
  delete: (id: string, f: TaskFlags & { cascade?: boolean }) =>
    withBoard(f, async (b) => {
      const deleted = await b.delete(id, f.cascade === true);
      return { json: { deleted }, text: `deleted ${deleted.map((d) => `#${d}`).join(', ')}` };
    }),
  list: (f: TaskFlags & { status?: string; owner?: string; label?: string }) =>
    withBoard(
      f,
      async (b) => {
        const status = parseStatus(f.status, '--status');
        const tasks = await b.list({
          ...(status ? { status } : {}),
          ...(f.owner ? { owner: f.owner } : {}),
          ...(f.label ? { label: f.label } : {}),
        });
        const open = openIds(await b.list());
        return { json: tasks, text: tasks.length ? tasks.map((t) => taskLine(t, open)).join('\n') : `no tasks in ${b.listId}` };
      },
      true,
    ),
  show: (id: string, f: TaskFlags) =>
    withBoard(
      f,
      async (b) => {
        const t = await b.get(id);
        if (!t) throw new InputError(`task #${id} does not exist in list ${b.listId}`, 'MISSING_TASK');
        return one(t);
      },
      true,
    ),
  history: (id: string | undefined, f: TaskFlags) =>
    withBoard(
      f,
      async (b) => {
        const events = await b.history(id);
        const text = events
          .map(
            (e) =>
              `${new Date(e.at).toISOString()}  #${e.taskId} ${e.kind.padEnd(13)} ${e.actor}${e.session ? `@${e.session}` : ''}  ${JSON.stringify(e.data)}`,
          )
          .join('\n');
        return { json: events, text: text || 'no history' };
      },
      true,
    ),
  graph: (f: TaskFlags & { format?: string }) =>
    withBoard(
      f,
      async (b) => {
        const tasks = await b.list();
        const format = f.format ?? (process.stdout.isTTY ? 'tree' : 'mermaid');
        if (!['mermaid', 'dot', 'tree'].includes(format)) throw new InputError(`--format: "${format}" must be mermaid, dot or tree`);
        const text = format === 'dot' ? toDot(tasks) : format === 'tree' ? toAsciiTree(tasks) : toMermaid(tasks);
        return { json: { format, graph: text }, text };
      },
      true,
    ),
  export: (dir: string, f: TaskFlags) =>
    withBoard(
      f,
      async (b) => {
        const { exportTasks } = await import('../../tasks/export.js');
        const r = await exportTasks(b, dir);
        return { json: r, text: `wrote ${r.written} task files to ${dir}${r.removed ? `, removed ${r.removed}` : ''}` };
      },
      true,
    ),
  import: (dir: string, f: TaskFlags) =>
    withBoard(f, async (b) => {
      const { importTasks } = await import('../../tasks/export.js');
      const r = await importTasks(b, dir);
      return { json: r, text: `created ${r.created.length}, updated ${r.updated.length}, unchanged ${r.unchanged.length}` };
    }),
  sync: (f: TaskFlags & { claudeDir: string; watch?: boolean }) =>
    withBoard(f, async (b) => {
      const { ClaudeTaskBridge } = await import('../../tasks/claude-bridge.js');
      const bridge = new ClaudeTaskBridge(b, f.claudeDir);
      const describe = (r: SyncReport) =>
        [
          `synced ${b.listId} ⇄ ${f.claudeDir}: ${r.toDrover.length} to drover, ${r.toClaude.length} to Claude Code`,
          ...r.conflicts.map((c) => `  conflict #${c.id}: ${c.winner} won (newer change wins)`),
          ...r.renumbered.map((x) => `  renumbered drover task #${x.from} to #${x.to} (id taken in Claude Code)`),
          ...r.refused.map((x) => `  ${color.yellow('refused')} #${x.id}: ${x.reason}`),
          ...r.held.map(
            (x) => `  ${color.yellow('held')} #${x.id} blocked by #${x.blockedBy} (kept in Claude Code's file, not in drover): ${x.reason}`,
          ),
          ...r.problems.map((p) => `  ${color.red('bad file')} ${p.path}: ${p.message}`),
        ].join('\n');
      if (!f.watch) {
        const r = await bridge.syncOnce();
        return { json: r, text: describe(r) };
      }
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      const worth = reportFilter();
      await bridge.watch(controller.signal, (r) => {
        if (!worth(r)) return;
        if (f.json) printJson(r);
        else process.stdout.write(`${describe(r)}\n`);
      });
      return { json: { stopped: true }, text: '' };
    }),
};
