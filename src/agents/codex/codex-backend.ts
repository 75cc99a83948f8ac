import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scrubbedEnv } from '../builtin/tools/index.js';
import { gatewayUsage } from '../cli/gateway-usage.js';
import { isolatedHome } from '../cli/isolated-home.js';
import { runJsonLines } from '../cli/json-lines.js';
import { locateCli } from '../cli/locate.js';
import { exitFailure, finalOutcome, tail } from '../cli/outcome.js';
import { SchemaDefinitionError, validateAgainst } from '../schema.js';
import type { AgentBackend, AgentDetail, AgentOutcome, AgentRequest, RequestUsage } from '../types.js';
import { ExecJsonReader } from './exec-json.js';

export interface CodexOptions {
  /** drover's gateway (or any OpenAI Responses endpoint); unset: Codex's own configuration. */
  gatewayUrl?: string;
  apiKey?: string;
  /** Path of the codex executable; default: PATH, then node_modules/.bin. */
  binary?: string;
  /** CODEX_HOME; default: a fresh temporary one per call, removed afterwards. */
  home?: string;
  /** Codex's own retries of failed requests (request_max_retries / stream_max_retries). */
  maxRetries?: number;
}

const KEY_VAR = 'DROVER_CODEX_API_KEY';

/** TOML inline-table string: JSON's escaping is valid TOML basic-string escaping. */
const toml = (s: string) => JSON.stringify(s);

/** The `codex` backend: one `codex exec --json` per agent call, through a custom model provider pointing at drover's gateway. */
export class CodexBackend implements AgentBackend {
  readonly name = 'codex';
  constructor(private readonly options: CodexOptions = {}) {}

  async run(request: AgentRequest): Promise<AgentOutcome> {
    const detail: AgentDetail = {};
    if (request.schema) {
      try {
        validateAgainst(request.schema, null);
      } catch (err) {
        if (err instanceof SchemaDefinitionError)
          return { ok: false, error: { code: 'INVALID_SCHEMA', message: err.message }, usage: [], attempts: 0 };
        throw err;
      }
    }
    const binary = locateCli('codex', { override: this.options.binary ?? process.env.DROVER_CODEX_BIN, cwd: request.cwd });
    if (!binary) {
      return {
        ok: false,
        error: {
          code: 'CLI_MISSING',
          message:
            'codex backend: the codex executable was not found on PATH or in node_modules/.bin; install @openai/codex or set DROVER_CODEX_BIN',
        },
        usage: [],
        attempts: 0,
      };
    }
    const home = isolatedHome('codex');
    const codexHome = this.options.home ?? join(home.path, '.codex');
    const args = [
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--sandbox',
      'workspace-write',
      '--ephemeral',
      '-C',
      request.cwd,
      '-m',
      request.model,
    ];
    if (this.options.gatewayUrl) {
      const base = `${this.options.gatewayUrl.replace(/\/v1\/?$/, '').replace(/\/$/, '')}/v1`;
      const retries = this.options.maxRetries ?? 4;
      const headers = [`"x-drover-agent"="codex"`, ...(request.callTag ? [`"x-drover-call"=${toml(request.callTag)}`] : [])].join(',');
      args.push(
        '-c',
        `model_providers.drover={name="drover", base_url=${toml(base)}, wire_api="responses", env_key="${KEY_VAR}", request_max_retries=${retries}, stream_max_retries=${retries}, http_headers={${headers}}}`,
        '-c',
        'model_provider=drover',
      );
    }
    if (request.system) args.push('-c', `developer_instructions=${toml(request.system)}`);
    // Codex knows minimal..xhigh; drover's `max` is its highest.
    if (request.effort) args.push('-c', `model_reasoning_effort=${toml(request.effort === 'max' ? 'xhigh' : request.effort)}`);
    if (request.schema) {
      const file = join(home.path, 'output-schema.json');
      writeFileSync(file, JSON.stringify(request.schema));
      args.push('--output-schema', file);
    }
    args.push(request.prompt);
    const env: NodeJS.ProcessEnv = {
      ...scrubbedEnv(process.env),
      ...request.env,
      HOME: home.path,
      CODEX_HOME: codexHome,
      ...(this.options.apiKey ? { [KEY_VAR]: this.options.apiKey } : {}),
    };
    if (!this.options.home) mkdirSync(codexHome, { recursive: true });
    const reader = new ExecJsonReader(request.onProgress);
    let exit: Awaited<ReturnType<typeof runJsonLines>>;
    try {
      exit = await runJsonLines({
        command: binary,
        args,
        cwd: request.cwd,
        env,
        ...(request.signal ? { signal: request.signal } : {}),
        ...(request.timeoutMs ? { timeoutMs: request.timeoutMs } : {}),
        onJson: (line) => reader.read(line),
      });
    } finally {
      home.dispose();
    }
    const measured = this.options.gatewayUrl && request.callTag ? await gatewayUsage(this.options.gatewayUrl, request.callTag) : null;
    const usage: RequestUsage[] = measured ?? reader.reportedUsage(request.model);
    Object.assign(detail, { turns: reader.turns, toolCalls: reader.toolCalls, usageSource: measured ? 'gateway' : 'agent' });
    if (reader.threadId) detail.sessionId = reader.threadId;
    const attempts = Math.max(1, usage.length);
    const failure = exitFailure('codex', exit, request.timeoutMs);
    if (failure) return { ok: false, error: failure, usage, attempts, detail };
    if (reader.failure) return { ok: false, error: { code: 'AGENT_ERROR', message: `codex: ${reader.failure}` }, usage, attempts, detail };
    if (exit.code !== 0) {
      return {
        ok: false,
        error: { code: 'CLI_EXIT', message: `codex exited with code ${exit.code}${tail(exit)}` },
        usage,
        attempts,
        detail,
      };
    }
    return finalOutcome({ text: reader.finalText, schema: request.schema, model: request.model, usage, attempts, detail });
  }
}
