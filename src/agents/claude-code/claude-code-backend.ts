import { scrubbedEnv } from '../builtin/tools/index.js';
import { runCliAgent } from '../cli/cli-agent.js';
import { isolatedHome } from '../cli/isolated-home.js';
import { gatewayRoot } from '../endpoint.js';
import type { AgentBackend, AgentOutcome, AgentRequest } from '../types.js';
import { StreamJsonReader } from './stream-json.js';

export interface ClaudeCodeOptions {
  /** drover's gateway (or any Anthropic-compatible endpoint); unset: Claude Code's own configuration. */
  gatewayUrl?: string;
  apiKey?: string;
  /** Path of the claude executable; default: DROVER_CLAUDE_BIN, then PATH, then node_modules/.bin. */
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

  run(request: AgentRequest): Promise<AgentOutcome> {
    const o = this.options;
    return runCliAgent(request, {
      cli: 'claude',
      binaryOverride: o.binary ?? process.env.DROVER_CLAUDE_BIN,
      installHint: 'install @anthropic-ai/claude-code or set DROVER_CLAUDE_BIN',
      gatewayUrl: o.gatewayUrl,
      reader: new StreamJsonReader(request.onProgress),
      prepare: () => {
        const home = o.home ? null : isolatedHome('claude');
        const tools = request.tools ?? o.defaultTools ?? CLAUDE_DEFAULT_TOOLS;
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
        const headers = ['x-drover-agent: claude-code', ...(request.callTag ? [`x-drover-call: ${request.callTag}`] : [])].join('\n');
        const env: NodeJS.ProcessEnv = {
          ...scrubbedEnv(process.env),
          ...request.env,
          ...claudeTelemetryEnv(request.env ?? {}),
          HOME: o.home ?? home?.path,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          ANTHROPIC_CUSTOM_HEADERS: headers,
          ...(o.maxRetries !== undefined ? { CLAUDE_CODE_MAX_RETRIES: String(o.maxRetries) } : {}),
          ...(o.gatewayUrl ? { ANTHROPIC_BASE_URL: gatewayRoot(o.gatewayUrl) } : {}),
          ...(o.apiKey ? { ANTHROPIC_API_KEY: o.apiKey } : {}),
        };
        return { args, env, dispose: () => home?.dispose() };
      },
    });
  }
}

/**
 * With a TRACEPARENT and an OTLP endpoint, Claude Code (≥ 2.1.110) exports its own spans
 * (claude_code.interaction, llm_request, tool…) nested under the agent's span. Metrics and
 * logs stay off unless the user configured them.
 */
export function claudeTelemetryEnv(env: Record<string, string>): Record<string, string> {
  const endpoint =
    env.OTEL_EXPORTER_OTLP_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!env.TRACEPARENT || !endpoint) return {};
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: '1',
    OTEL_TRACES_EXPORTER: process.env.OTEL_TRACES_EXPORTER ?? 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/json',
    OTEL_METRICS_EXPORTER: process.env.OTEL_METRICS_EXPORTER ?? 'none',
    OTEL_LOGS_EXPORTER: process.env.OTEL_LOGS_EXPORTER ?? 'none',
  };
}
