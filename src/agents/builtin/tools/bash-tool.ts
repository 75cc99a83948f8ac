import { spawn } from 'node:child_process';
import { childEnv } from '../../../core/index.js';
import { sandboxCommand } from '../../../sandbox/index.js';
import type { ToolSpec } from './tool.js';
import { ToolError } from './workspace.js';

const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_TIMEOUT_MS = 600_000;
const OUTPUT_CAP = 30_000;

/**
 * Credentials never reach commands the model writes (nor the agent CLIs, which get their key
 * explicitly): the same rule as `sh` steps (core `childEnv`: secret-named variables are dropped
 * unless `DROVER_PASS_ENV` names them).
 */
export function scrubbedEnv(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return childEnv(extra, env);
}

/** Keeps the head and the tail of long output: errors tend to be at the end. */
export function capOutput(text: string, cap = OUTPUT_CAP): string {
  if (text.length <= cap) return text;
  const half = Math.floor(cap / 2);
  return `${text.slice(0, half)}\n[... ${text.length - cap} characters cut ...]\n${text.slice(-half)}`;
}

export const bashTool: ToolSpec = {
  name: 'bash',
  description: 'Run a bash command in the workspace directory. Returns exit code and combined output.',
  parameters: { type: 'object', properties: { command: { type: 'string' }, timeout_ms: { type: 'integer' } }, required: ['command'] },
  // With the run's sandbox, bash runs inside bubblewrap; a sandbox that cannot be made throws
  // SandboxError (the loop ends the agent with its code): the command never runs unconfined.
  async run(input, { workspace, signal, sandbox }) {
    const command = input.command;
    if (typeof command !== 'string' || command.trim() === '') throw new ToolError('command must be a non-empty string');
    const timeoutMs = Math.min(MAX_TIMEOUT_MS, Math.max(1, Number(input.timeout_ms ?? DEFAULT_TIMEOUT_MS)));
    const { file, args } = sandbox?.enabled
      ? await sandboxCommand(sandbox, ['bash', '-c', command], workspace.root)
      : { file: 'bash', args: ['-c', command] };
    return new Promise((resolve) => {
      const child = spawn(file, args, {
        cwd: workspace.root,
        env: scrubbedEnv(process.env),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let output = '';
      const collect = (d: Buffer) => {
        if (output.length < OUTPUT_CAP * 4) output += d.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      let timedOut = false;
      const killGroup = () => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      signal.addEventListener('abort', killGroup, { once: true });
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve(`could not start bash: ${err.message}`);
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', killGroup);
        const status = timedOut ? `timed out after ${timeoutMs} ms` : sig ? `killed by ${sig}` : `exit code ${code}`;
        resolve(`${status}\n${capOutput(output)}`);
      });
    });
  },
};
