#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { doctorCommand } from './commands/doctor.js';
import { gatewayCommand } from './commands/gateway.js';
import { answerCommand, runsCommand, statusCommand } from './commands/inspect.js';
import { resumeCommand, runCommand } from './commands/run.js';
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
const globals = (cmd: Command): Flags => ({ ...program.opts(), ...cmd.opts() });

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
    .option('--backend <name>', 'agent backend (builtin)')
    .option('--model <model>', 'model for agents')
    .option('--concurrency <n>', 'agents at once', int('--concurrency'))
    .option('--max-agents <n>', 'agent backstop per run (default 1000)', int('--max-agents'))
    .option('--budget-tokens <n>', 'output-token ceiling for the run', int('--budget-tokens', 0))
    .option('--gateway <url>', 'model endpoint: a drover gateway or any Anthropic-compatible server')
    .option('--sim <scenario>', 'start an in-process sim gateway with this scenario')
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

program
  .command('gateway')
  .description('serve a model gateway (sim mode: Anthropic Messages from a scenario file)')
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

program.parseAsync(process.argv).catch((err) => fail(err, false));
