/** @module `drover run` and `drover resume`: flags here, the work in ../handlers/run.ts. */
import { type Command, InvalidArgumentError } from 'commander';
import { parseTokenAmount, parseUsdAmount } from '../../budget/caps.js';
import { action, int } from '../action.js';

/** A USD flag: a number > 0 (`5`, `0.5`, `$5`); anything else is refused naming the flag (exit 2). */
const usdFlag = (name: string) => (value: string) => {
  const n = parseUsdAmount(value);
  if (n === undefined) throw new InvalidArgumentError(`${name} must be an amount of USD ≥ 0.000001 (e.g. 5 or 0.5), got "${value}"`);
  return n;
};

/** A token-count flag: a whole number, optionally with k or M (`2M`, `500k`, `20000`). */
const tokensFlag = (name: string) => (value: string) => {
  const n = parseTokenAmount(value);
  if (n === undefined)
    throw new InvalidArgumentError(
      `${name} must be a whole number of tokens from 1 to ${Number.MAX_SAFE_INTEGER}, optionally with k or M (e.g. 2M, 500k, 20000), got "${value}"`,
    );
  return n;
};

/** Flags `run` and `resume` share: backend, model, limits, endpoint. */
const runOptions = (cmd: Command) =>
  cmd
    .option('--backend <name>', 'agent backend: builtin, claude-code or codex')
    .option('--provider <api>', 'model API of the builtin backend: anthropic, openai (Responses) or openai-chat (Chat Completions)')
    .option('--model <model>', 'model for agents (default: claude-sonnet-5; gpt-5.5 for codex and openai providers)')
    .option('--concurrency <n>', 'agents at once', int('--concurrency', 1, 256))
    .option('--max-agents <n>', 'agent backstop per run (default 1000)', int('--max-agents'))
    .option('--budget-tokens <n>', 'output-token ceiling for the run', int('--budget-tokens', 0))
    .option('--max-usd <usd>', "hard cap on the run's spend in USD, held before each model request (e.g. 5)", usdFlag('--max-usd'))
    .option('--max-tokens <n>', "hard cap on the run's output tokens (e.g. 2M, 500k)", tokensFlag('--max-tokens'))
    .option('--max-usd-per-agent <usd>', 'hard cap per agent call in USD (e.g. 0.5)', usdFlag('--max-usd-per-agent'))
    .option('--gateway <url>', 'model endpoint: a drover gateway or a provider-compatible server')
    .option('--base-url <url>', 'same as --gateway (e.g. http://127.0.0.1:11434/v1 for a local Ollama)')
    .option('--sim <scenario>', 'start an in-process sim gateway with this scenario')
    .option('--record <dir>', "record the run's model traffic into cassettes (one file per request) while it runs")
    .option('--replay <dir>', 'answer every model request from recorded cassettes: no upstream, no key, $0')
    .option('--task-list <id>', 'task list for tasks.* (default: DROVER_TASK_LIST, CLAUDE_CODE_TASK_LIST_ID, else <repo>@<branch>)')
    .option(
      '--sandbox',
      "run sh steps and the builtin agent's bash in an OS sandbox (bubblewrap): the working directory writable, no network",
    )
    .option('--agents-on <pool>', 'run every agent call on a `drover worker` of this pool (docs/scale.md)')
    .option('--strict', 'exit 1 when any call failed, even if the run completed')
    .option('--json', 'plain progress on stderr; the last stdout line is one JSON summary');

export function register(program: Command): void {
  runOptions(
    program
      .command('run <script>')
      .description('run a workflow script (Claude Code workflow format or a defineWorkflow module)')
      .option('--args-json <json>', 'value the script sees as `args`')
      .option('--run-id <id>', 'choose the run id')
      .option('--from <runId>', 'reuse the finished calls of an earlier run')
      .option('--plan', 'with --from: show which calls would be reused, moved or run (and why); run nothing')
      .option('--queue [pool]', 'store the run for `drover worker` processes of the pool (default: workers) to drive; print its id')
      .option('--labels <list>', 'with --queue: labels a worker must have to take the run (comma-separated)'),
  ).action(action<[string]>(async (script, flags) => (await import('../handlers/run.js')).runCommand(script, flags)));

  runOptions(
    program
      .command('submit <script>')
      .description('queue a run for `drover worker` processes (same as run --queue); print its id')
      .option('--args-json <json>', 'value the script sees as `args`')
      .option('--run-id <id>', 'choose the run id')
      .option('--pool <name>', 'worker pool (default: workers)')
      .option('--labels <list>', 'labels a worker must have to take the run (comma-separated)'),
  ).action(
    action<[string]>(async (script, flags) =>
      (await import('../handlers/run.js')).runCommand(script, {
        ...flags,
        queue: (flags as { pool?: string }).pool ?? true,
        poolFlag: '--pool',
      }),
    ),
  );

  runOptions(
    program
      .command('resume <runId>')
      .description('continue a run: finished calls are reused, the rest runs')
      .option('--script <path>', 'continue with an edited script instead of the stored one')
      .option('--plan', 'show which calls would be reused, moved or run (and why); run nothing')
      .option('--detach', 'drive the run in a background process (output to <store folder>/logs/<run>.log); print its run id and pid'),
  ).action(action<[string]>(async (runId, flags) => (await import('../handlers/run.js')).resumeCommand(runId, flags)));
}
