#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { assertCommand } from './commands/assert.js';
import { doctorCommand } from './commands/doctor.js';
import { gatewayCommand } from './commands/gateway.js';
import { answerCommand, runsCommand, statusCommand } from './commands/inspect.js';
import { mcpCommand } from './commands/mcp.js';
import { resumeCommand, runCommand } from './commands/run.js';
import { tasksCommands as t } from './commands/tasks.js';
import { traceCollect, traceExport, traceGc, traceGoldenSave, traceImport, traceShow } from './commands/trace.js';
import { fail } from './output.js';

const int =
  (name: string, min = 1) =>
  (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
    return n;
  };

const program = new Command()
  .name('drover')
  .description('Durable, budgeted, observable orchestration for coding-agent workflows')
  .version('0.1.0')
  .option('--store <path>', 'store file (default: .drover/drover.db at the project root; env DROVER_STORE)')
  .showHelpAfterError();

type Flags = Record<string, unknown>;
const globals = (cmd: Command): Flags => cmd.optsWithGlobals();

function action<A extends unknown[]>(fn: (...args: [...A, Flags]) => Promise<number>) {
  return async (...raw: unknown[]) => {
    const cmd = raw[raw.length - 1] as Command;
    const args = raw.slice(0, -2) as A;
    const flags = globals(cmd);
    try {
      const code = await fn(...args, flags);
      process.exitCode = code;
    } catch (err) {
      fail(err, flags.json === true);
    }
  };
}

const runOptions = (cmd: Command) =>
  cmd
    .option('--backend <name>', 'agent backend: builtin, claude-code or codex')
    .option('--provider <api>', 'model API of the builtin backend: anthropic, openai (Responses) or openai-chat (Chat Completions)')
    .option('--model <model>', 'model for agents (default: claude-sonnet-5; gpt-5.5 for codex and openai providers)')
    .option('--concurrency <n>', 'agents at once', int('--concurrency'))
    .option('--max-agents <n>', 'agent backstop per run (default 1000)', int('--max-agents'))
    .option('--budget-tokens <n>', 'output-token ceiling for the run', int('--budget-tokens', 0))
    .option('--gateway <url>', 'model endpoint: a drover gateway or a provider-compatible server')
    .option('--base-url <url>', 'same as --gateway (e.g. http://127.0.0.1:11434/v1 for a local Ollama)')
    .option('--sim <scenario>', 'start an in-process sim gateway with this scenario')
    .option('--task-list <id>', 'task list for tasks.* (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
    .option('--json', 'plain progress on stderr; the last stdout line is one JSON summary');

runOptions(
  program
    .command('run <script>')
    .description('run a workflow script (Claude Code workflow format or a defineWorkflow module)')
    .option('--args-json <json>', 'value the script sees as `args`')
    .option('--run-id <id>', 'choose the run id')
    .option('--from <runId>', 'reuse the finished calls of an earlier run'),
).action(action<[string]>((script, flags) => runCommand(script, flags)));

runOptions(
  program
    .command('resume <runId>')
    .description('continue a run: finished calls are reused, the rest runs')
    .option('--script <path>', 'continue with an edited script instead of the stored one'),
).action(action<[string]>((runId, flags) => resumeCommand(runId, flags)));

program
  .command('runs')
  .description('list recent runs')
  .option('--limit <n>', 'how many', int('--limit'))
  .option('--status <status>', 'only runs with this status')
  .option('--json', 'JSON output')
  .action(action<[]>((flags) => runsCommand(flags)));

program
  .command('status <runId>')
  .description('a run with its phases, agents and questions')
  .option('--json', 'JSON output')
  .action(action<[string]>((runId, flags) => statusCommand(runId, flags)));

program
  .command('answer <runId> <questionId> <text>')
  .description("answer a run's question; then `drover resume` continues it")
  .option('--json', 'JSON output')
  .action(action<[string, string, string]>((runId, q, text, flags) => answerCommand(runId, q, text, flags)));

const collectList = (value: string, previous: string[] = []) => [...previous, value];

const traceCmd = program.command('trace').description('one OpenTelemetry trace per run: show, export, import, collect, gc, golden');
traceCmd
  .command('show <runOrTrace>')
  .description('an indented waterfall of a run or trace (--json: the span tree)')
  .option('--json', 'the span tree as JSON')
  .action(action<[string]>((ref, f) => traceShow(ref, f)));
traceCmd
  .command('export <runOrTrace>')
  .description("every span of the trace (drover's and received ones) as standard OTLP/JSON on stdout")
  .option('--format <format>', 'otlp-json', 'otlp-json')
  .option('--pretty', 'indented JSON')
  .action(action<[string]>((ref, f) => traceExport(ref, f)));
traceCmd
  .command('import <file>')
  .description('read an OTLP/JSON file into the span store')
  .option('--json', 'print counts as JSON')
  .action(action<[string]>((file, f) => traceImport(file, f)));
traceCmd
  .command('collect [command...]')
  .description(
    'OTLP receivers (HTTP /v1/traces JSON and protobuf on 4318, gRPC on 4317) into the span store; with a command after --, run it and stop',
  )
  .option('--port <port>', 'OTLP/HTTP port (0 picks a free one)', '4318')
  .option('--grpc-port <port>', 'OTLP/gRPC port (default 4317, or 0 with --port 0; "off" for none)')
  .option('--inherit-traceparent', "pass this process's TRACEPARENT/TRACESTATE to the command (default: removed)")
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--linger <duration>', 'wait this long for late spans after the command exits', '1s')
  .option('--json', 'print the result as JSON')
  .action(action<[string[]]>((command, f) => traceCollect(command, f)));
traceCmd
  .command('gc')
  .description('delete spans older than a duration')
  .requiredOption('--older-than <duration>', 'e.g. 30d, 12h')
  .option('--json', 'print the count as JSON')
  .action(action<[]>((f) => traceGc(f)));
traceCmd
  .command('golden')
  .description("golden traces: save a trace's structure (names, parent links, key attributes)")
  .command('save <runOrTrace> <file>')
  .description('write the structure of a run or trace to a golden file')
  .option('--json', 'print the result as JSON')
  .action(action<[string, string]>((ref, file, f) => traceGoldenSave(ref, file, f)));

program
  .command('assert [spec]')
  .description('check spans against a spec (and/or a golden trace); exit 1 on a failed assertion, 2 on a spec error')
  .option('--run <id>', 'spans of a run')
  .option('--trace <id>', 'spans of a trace (repeatable)', collectList)
  .option('--file <otlp.json>', 'spans from an OTLP/JSON file')
  .option('--since <when>', 'spans that started since (10m, 2h, or a time)')
  .option('--golden <file>', 'compare the structure with a golden trace')
  .option('--junit <file>', 'also write JUnit XML')
  .option('--json', 'the result as JSON')
  .action(action<[string | undefined]>((spec, f) => assertCommand(spec, f)));

program
  .command('gateway')
  .description('serve a model gateway (sim mode: Anthropic Messages, OpenAI Responses and Chat Completions from a scenario file)')
  .requiredOption('--mode <mode>', 'sim')
  .option('--scenario <file>', 'scenario YAML for sim mode')
  .option('--port <port>', 'port (0 picks a free one)', int('--port', 0), 8787)
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--json', 'print the address as JSON')
  .action(action<[]>((flags) => gatewayCommand(flags as never)));

program
  .command('doctor')
  .description("check the store's integrity and schema version")
  .option('--json', 'JSON output')
  .action(action<[]>((flags) => doctorCommand(flags)));

const collect = (value: string, previous: string[] = []) => [...previous, value];
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
  action<[string]>((s, f) => t.add(s, f)),
);
fields(
  taskCmd('update <id>', 'change a task')
    .option('--subject <text>')
    .option('--status <status>', 'pending | in_progress | completed | cancelled')
    .option('--owner <name>', 'owner ("" clears)'),
).action(action<[string]>((id, f) => t.update(id, f)));
const dep = tasks.command('dep').description('dependencies');
dep
  .command('add <task>')
  .description('task waits for --blocked-by')
  .requiredOption('--blocked-by <id>')
  .option('--json')
  .action(action<[string]>((id, f) => t.depAdd(id, f as never)));
dep
  .command('rm <task>')
  .description('remove a dependency')
  .requiredOption('--blocked-by <id>')
  .option('--json')
  .action(action<[string]>((id, f) => t.depRm(id, f as never)));
taskCmd('ready', 'tasks that can be claimed now (priority, then age), the best 100 unless told otherwise')
  .option('--limit <n>', 'at most n (default 100)', int('--limit'))
  .option('--all', 'every ready task')
  .action(action<[]>((f) => t.ready(f)));
taskCmd('claim [id]', 'claim a task (or the best ready one) atomically; exit 3 when nothing is ready')
  .option('--owner <name>', 'owner (default: the actor)')
  .option('--lease <duration>', 'lease length, e.g. 30s, 10m (default 10m)')
  .action(action<[string | undefined]>((id, f) => t.claim(id, f)));
taskCmd('heartbeat <id>', 'extend the lease of a task you hold')
  .option('--owner <name>')
  .option('--lease <duration>')
  .action(action<[string]>((id, f) => t.heartbeat(id, f)));
taskCmd('done <id>', 'complete a task (a claimed one only by its holder)')
  .option('--owner <name>', 'the holder of the claim (default: the actor)')
  .action(action<[string]>((id, f) => t.done(id, f)));
taskCmd('release <id>', 'give a claimed task back (only its holder)')
  .option('--owner <name>', 'the holder of the claim (default: the actor)')
  .action(action<[string]>((id, f) => t.release(id, f)));
taskCmd('cancel <id>', 'cancel a task (unblocks its dependents)').action(action<[string]>((id, f) => t.cancel(id, f)));
taskCmd('delete <id>', 'delete a task; refused when others depend on it unless --cascade')
  .option('--cascade', 'also delete what depends on it')
  .action(action<[string]>((id, f) => t.delete(id, f)));
taskCmd('list', 'all tasks')
  .option('--status <status>')
  .option('--owner <name>')
  .option('--label <label>')
  .action(action<[]>((f) => t.list(f)));
taskCmd('show <id>', 'one task').action(action<[string]>((id, f) => t.show(id, f)));
taskCmd('history [id]', 'audit history: who did what, when').action(action<[string | undefined]>((id, f) => t.history(id, f)));
taskCmd('graph', 'the DAG as Mermaid, DOT, or an ASCII tree (default on a terminal)')
  .option('--format <format>', 'mermaid | dot | tree')
  .action(action<[]>((f) => t.graph(f)));
taskCmd('export <dir>', "one JSON file per task, Claude Code's format").action(action<[string]>((d, f) => t.export(d, f)));
taskCmd('import <dir>', 'read an exported folder back').action(action<[string]>((d, f) => t.import(d, f)));
taskCmd('sync', 'two-way sync with a Claude Code task directory (~/.claude/tasks/<id>/)')
  .requiredOption('--claude-dir <dir>', 'the Claude Code task directory')
  .option('--watch', 'keep syncing until Ctrl-C')
  .action(action<[]>((f) => t.sync(f as never)));

program
  .command('mcp')
  .description('MCP server for the task board: stdio, or streamable HTTP on 127.0.0.1 with --http')
  .option('--http <port>', 'serve streamable HTTP on this port (0 picks one)', int('--http', 0))
  .option('--list <id>', 'task list (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
  .option('--json', 'with --http, print the URL as JSON')
  .action(action<[]>((f) => mcpCommand(f as never)));

program.parseAsync(process.argv).catch((err) => fail(err, false));
