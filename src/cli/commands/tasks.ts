/** @module `drover tasks …`: flags here, the work in ../handlers/tasks.ts. */
import type { Command } from 'commander';
import { action, collect, int } from '../action.js';

const handlers = async () => (await import('../handlers/tasks.js')).tasksCommands;

export function register(program: Command): void {
  const tasks = program
    .command('tasks')
    .description('the task board: a persistent DAG of tasks shared by agents, people and machines')
    .option('--list <id>', 'task list (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
    .option('--actor <name>', 'who is acting, for the history (default: DROVER_ACTOR or $USER)');
  const taskCmd = (spec: string, description: string) =>
    tasks.command(spec).description(description).option('--json', 'one JSON value on the last line');
  const fields = (c: Command) =>
    c
      .option('--description <text>', 'what the task is')
      .option('--active-form <text>', 'present-tense form shown while it runs')
      .option('--priority <n>', '0 (most urgent) to 9; default 2')
      .option('--label <label>', 'a label (repeatable)', collect)
      .option('--metadata-json <json>', 'metadata object (merged on update; null removes a key)');

  fields(taskCmd('add <subject>', 'add a task').option('--blocked-by <id>', 'a blocker (repeatable)', collect)).action(
    action<[string]>(async (s, f) => (await handlers()).add(s, f)),
  );
  fields(
    taskCmd('update <id>', 'change a task')
      .option('--subject <text>')
      .option('--status <status>', 'pending | in_progress | completed | cancelled')
      .option('--owner <name>', 'owner ("" clears)'),
  ).action(action<[string]>(async (id, f) => (await handlers()).update(id, f)));
  const dep = tasks.command('dep').description('dependencies');
  dep
    .command('add <task>')
    .description('task waits for --blocked-by')
    .requiredOption('--blocked-by <id>')
    .option('--json')
    .action(action<[string]>(async (id, f) => (await handlers()).depAdd(id, f as never)));
  dep
    .command('rm <task>')
    .description('remove a dependency')
    .requiredOption('--blocked-by <id>')
    .option('--json')
    .action(action<[string]>(async (id, f) => (await handlers()).depRm(id, f as never)));
  taskCmd('ready', 'tasks that can be claimed now (priority, then age), the best 100 unless told otherwise')
    .option('--limit <n>', 'at most n (default 100)', int('--limit'))
    .option('--all', 'every ready task')
    .option(
      '--wait [duration]',
      'when nothing is ready, wait (at most duration, e.g. 30s; no limit without one) for a task to become ready',
    )
    .action(action<[]>(async (f) => (await handlers()).ready(f)));
  taskCmd('claim [id]', 'claim a task (or the best ready one) atomically; exit 3 when nothing is ready')
    .option('--owner <name>', 'owner (default: the actor)')
    .option('--lease <duration>', 'lease length, e.g. 30s, 10m (default 10m)')
    .option(
      '--wait [duration]',
      'when nothing can be claimed, wait (at most duration; no limit without one) and claim as soon as a task is ready; exit 3 when the wait runs out',
    )
    .action(action<[string | undefined]>(async (id, f) => (await handlers()).claim(id, f)));
  taskCmd('heartbeat <id>', 'extend the lease of a task you hold')
    .option('--owner <name>')
    .option('--lease <duration>')
    .action(action<[string]>(async (id, f) => (await handlers()).heartbeat(id, f)));
  taskCmd('done <id>', 'complete a task (a claimed one only by its holder)')
    .option('--owner <name>', 'the holder of the claim (default: the actor)')
    .action(action<[string]>(async (id, f) => (await handlers()).done(id, f)));
  taskCmd('release <id>', 'give a claimed task back (only its holder)')
    .option('--owner <name>', 'the holder of the claim (default: the actor)')
    .action(action<[string]>(async (id, f) => (await handlers()).release(id, f)));
  taskCmd('cancel <id>', 'cancel a task (unblocks its dependents)').action(
    action<[string]>(async (id, f) => (await handlers()).cancel(id, f)),
  );
  taskCmd('delete <id>', 'delete a task; refused when others depend on it unless --cascade')
    .option('--cascade', 'also delete what depends on it')
    .action(action<[string]>(async (id, f) => (await handlers()).delete(id, f)));
  taskCmd('list', 'all tasks')
    .option('--status <status>')
    .option('--owner <name>')
    .option('--label <label>')
    .action(action<[]>(async (f) => (await handlers()).list(f)));
  taskCmd('show <id>', 'one task').action(action<[string]>(async (id, f) => (await handlers()).show(id, f)));
  taskCmd('history [id]', 'audit history: who did what, when').action(
    action<[string | undefined]>(async (id, f) => (await handlers()).history(id, f)),
  );
  taskCmd('graph', 'the DAG as Mermaid, DOT, or an ASCII tree (default on a terminal)')
    .option('--format <format>', 'mermaid | dot | tree')
    .action(action<[]>(async (f) => (await handlers()).graph(f)));
  taskCmd('export <dir>', "one JSON file per task, Claude Code's format").action(
    action<[string]>(async (d, f) => (await handlers()).export(d, f)),
  );
  taskCmd('import <dir>', 'read an exported folder back').action(action<[string]>(async (d, f) => (await handlers()).import(d, f)));
  taskCmd('sync', 'two-way sync with a Claude Code task directory (~/.claude/tasks/<id>/)')
    .requiredOption('--claude-dir <dir>', 'the Claude Code task directory')
    .option('--watch', 'keep syncing until Ctrl-C; prints a report only when something changed')
    .action(action<[]>(async (f) => (await handlers()).sync(f as never)));
}
