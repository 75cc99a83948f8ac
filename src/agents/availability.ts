import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { locateCli } from './cli/locate.js';

const run = promisify(execFile);

export interface BackendStatus {
  name: 'builtin' | 'claude-code' | 'codex';
  usable: boolean;
  /** Version, path, or why not. */
  detail: string;
}

async function cliStatus(
  name: 'claude-code' | 'codex',
  binary: string,
  override: string | undefined,
  install: string,
): Promise<BackendStatus> {
  const path = locateCli(binary, { override });
  if (!path) {
    return {
      name,
      usable: false,
      detail: override
        ? `${override} (from the environment) is not an executable`
        : `${binary} not found on PATH or in node_modules/.bin; ${install}`,
    };
  }
  try {
    const { stdout } = await run(path, ['--version'], {
      timeout: 15_000,
      env: { ...process.env, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' },
    });
    return { name, usable: true, detail: `${stdout.trim().split('\n')[0]} (${path})` };
  } catch (err) {
    return { name, usable: false, detail: `${path} --version failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Which agent backends this machine can run, and why not. */
export async function checkBackends(env: NodeJS.ProcessEnv = process.env): Promise<BackendStatus[]> {
  const keys = [env.ANTHROPIC_API_KEY ? 'ANTHROPIC_API_KEY' : null, env.OPENAI_API_KEY ? 'OPENAI_API_KEY' : null].filter(Boolean);
  return Promise.all([
    Promise.resolve<BackendStatus>({
      name: 'builtin',
      usable: true,
      detail: `in-process; ${keys.length ? `${keys.join(', ')} set` : 'no API key set: use --sim, --gateway/--base-url, or set ANTHROPIC_API_KEY / OPENAI_API_KEY'}`,
    }),
    cliStatus('claude-code', 'claude', env.DROVER_CLAUDE_BIN, 'npm install -g @anthropic-ai/claude-code (or set DROVER_CLAUDE_BIN)'),
    cliStatus('codex', 'codex', env.DROVER_CODEX_BIN, 'npm install -g @openai/codex (or set DROVER_CODEX_BIN)'),
  ]);
}
