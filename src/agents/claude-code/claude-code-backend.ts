import { scrubbedEnv } from '../builtin/tools/index.js';
import { gatewayUsage } from '../cli/gateway-usage.js';
import { isolatedHome } from '../cli/isolated-home.js';
import { runJsonLines } from '../cli/json-lines.js';
import { locateCli } from '../cli/locate.js';
import { exitFailure, finalOutcome, tail } from '../cli/outcome.js';
import { SchemaDefinitionError, validateAgainst } from '../schema.js';
import type { AgentBackend, AgentDetail, AgentOutcome, AgentRequest, RequestUsage } from '../types.js';
import { StreamJsonReader } from './stream-json.js';

export interface ClaudeCodeOptions {
  /** drover's gateway (or any Anthropic-compatible endpoint); unset: Claude Code's own configuration. */
  gatewayUrl?: string;
  apiKey?: string;
  /** Path of the claude executable; default: PATH, then node_modules/.bin. */
  binary?: string;
  /** HOME for the CLI; default: a fresh temporary one per call, removed afterwards. */
  home?: string;
  /** Tools when the call names none. Claude Code names: Read, Edit, Write, Bash, Glob, Grep. */
  defaultTools?: string[];
  /** Claude Code's own retries of failed model requests (CLAUDE_CODE_MAX_RETRIES). */
  maxRetries?: number;
}

export const CLAUDE_DEFAULT_TOOLS = ['Bash', 'Edit', 'Glob', 'Grep', 'Read', 'Write'];

/** The `claude-code` backend: one `claude -p` process per agent call, its model traffic through drover's gateway. */
export class ClaudeCodeBackend implements AgentBackend {
  readonly name = 'claude-code';
  constructor(private readonly options: ClaudeCodeOptions = {}) {}

  async run(request: AgentRequest): Promise<AgentOutcome> {
    const detail: AgentDetail = { turns: 0, toolCalls: 0 };
    if (request.schema) {
      try {
        validateAgainst(request.schema, null);
      } catch (err) {
        if (err instanceof SchemaDefinitionError)
          return { ok: false, error: { code: 'INVALID_SCHEMA', message: err.message }, usage: [], attempts: 0 };
        throw err;
      }
    }
    const binary = locateCli('claude', { override: this.options.binary ?? process.env.DROVER_CLAUDE_BIN, cwd: request.cwd });
    if (!binary) {
      return {
        ok: false,
        error: {
          code: 'CLI_MISSING',
          message:
            'claude-code backend: the claude executable was not found on PATH or in node_modules/.bin; install @anthropic-ai/claude-code or set DROVER_CLAUDE_BIN',
        },
        usage: [],
        attempts: 0,
      };
    }
    const home = this.options.home ? null : isolatedHome('claude');
    const tools = request.tools ?? this.options.defaultTools ?? CLAUDE_DEFAULT_TOOLS;
    const args = [
      '-p',
      request.prompt,
      '--output-format',
      'stream-json',
      '--verbose',
      '--no-session-persistence',
      '--model',
      request.model,
    ];
    if (tools.length) args.push('--allowedTools', tools.join(','));
    if (request.schema) args.push('--json-schema', JSON.stringify(request.schema));
    if (request.system) args.push('--append-system-prompt', request.system);
    if (request.maxTurns) args.push('--max-turns', String(request.maxTurns));
    const headers = [`x-drover-agent: claude-code`, ...(request.callTag ? [`x-drover-call: ${request.callTag}`] : [])].join('\n');
    const env: NodeJS.ProcessEnv = {
      ...scrubbedEnv(process.env),
      ...request.env,
      HOME: this.options.home ?? home?.path,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      ANTHROPIC_CUSTOM_HEADERS: headers,
      ...(this.options.maxRetries !== undefined ? { CLAUDE_CODE_MAX_RETRIES: String(this.options.maxRetries) } : {}),
      ...(this.options.gatewayUrl ? { ANTHROPIC_BASE_URL: this.options.gatewayUrl.replace(/\/v1\/?$/, '') } : {}),
      ...(this.options.apiKey ? { ANTHROPIC_API_KEY: this.options.apiKey } : {}),
    };
    const reader = new StreamJsonReader(request.onProgress);
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
      home?.dispose();
    }
    const measured = this.options.gatewayUrl && request.callTag ? await gatewayUsage(this.options.gatewayUrl, request.callTag) : null;
    const usage: RequestUsage[] = measured ?? reader.reportedUsage();
    Object.assign(detail, { turns: reader.turns, toolCalls: reader.toolCalls, usageSource: measured ? 'gateway' : 'agent' });
    if (reader.sessionId) detail.sessionId = reader.sessionId;
    const attempts = Math.max(1, usage.length);
    const failure = exitFailure('claude', exit, request.timeoutMs);
    if (failure) return { ok: false, error: failure, usage, attempts, detail };
    const result = reader.result;
    if (!result) {
      return {
        ok: false,
        error: { code: 'CLI_CRASHED', message: `claude exited with code ${exit.code} without a result${tail(exit)}` },
        usage,
        attempts,
        detail,
      };
    }
    if (result.isError) {
      const code = result.subtype === 'error_max_turns' ? 'MAX_TURNS' : 'AGENT_ERROR';
      return { ok: false, error: { code, message: `claude: ${result.text || result.subtype}` }, usage, attempts, detail };
    }
    if (exit.code !== 0) {
      return {
        ok: false,
        error: { code: 'CLI_EXIT', message: `claude exited with code ${exit.code}${tail(exit)}` },
        usage,
        attempts,
        detail,
      };
    }
    return finalOutcome({
      text: result.text,
      ...(result.structured !== undefined ? { object: result.structured } : {}),
      schema: request.schema,
      model: reader.model ?? request.model,
      usage,
      attempts,
      detail,
    });
  }
}
