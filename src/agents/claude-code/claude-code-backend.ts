import { cpSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type AgentDefinition, modelFor, noteDefinition, resolveAgentType } from '../agent-types.js';
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
  /** The user's home, whose `.claude/agents/` is copied into the isolated HOME for `agentType`; default `os.homedir()`. */
  userHome?: string;
}

export const CLAUDE_DEFAULT_TOOLS = ['Bash', 'Edit', 'Glob', 'Grep', 'Read', 'Write'];

/** The `claude-code` backend: one `claude -p` process per agent call, its model traffic through drover's gateway. */
export class ClaudeCodeBackend implements AgentBackend {
  readonly name = 'claude-code';
  constructor(private readonly options: ClaudeCodeOptions = {}) {}

  /**
   * With `agentType`, Claude Code runs as that agent (`--agent <name>`) and reads the definition
   * itself, from the project's `.claude/agents/` (found from the call's cwd) and from the isolated
   * HOME, into which the user's `~/.claude/agents/` is copied. drover reads the definition too, to
   * refuse an invalid file with its file and line, to let the definition's `model` apply (no
   * `--model` unless the call named one or the definition says `inherit`), and to allow its `tools`
   * with `--allowedTools` when the call names none. A name drover does not find is left to Claude
   * Code (its built-in types, or its own "not found" error).
   */
  async run(request: AgentRequest): Promise<AgentOutcome> {
    if (!request.agentType) return this.spawn(request, undefined);
    const { definition, failure } = resolveAgentType(request, this.options.userHome);
    if (failure?.error.code === 'INVALID_AGENT_DEFINITION') return failure;
    const own = definition && definition.scope !== 'built-in' ? definition : undefined;
    const chosen = own ? modelFor(own, request, true) : { model: request.model };
    return noteDefinition(await this.spawn({ ...request, model: chosen.model }, own), own?.source, []);
  }

  private spawn(request: AgentRequest, definition: AgentDefinition | undefined): Promise<AgentOutcome> {
    const o = this.options;
    // The definition's own model applies: Claude Code resolves its alias itself.
    const definitionModel = !!definition?.model && definition.model !== 'inherit' && !request.modelFromCall;
    return runCliAgent(request, {
      cli: 'claude',
      binaryOverride: o.binary ?? process.env.DROVER_CLAUDE_BIN,
      installHint: 'install @anthropic-ai/claude-code or set DROVER_CLAUDE_BIN',
      gatewayUrl: o.gatewayUrl,
      reader: new StreamJsonReader(request.onProgress),
      prepare: () => {
        const home = o.home ? null : isolatedHome('claude');
        if (home && request.agentType) copyUserAgents(o.userHome ?? homedir(), home.path);
        const definitionTools = definition?.tools?.filter((t) => !definition.disallowedTools?.includes(t));
        const wanted = request.tools ?? definitionTools ?? o.defaultTools ?? CLAUDE_DEFAULT_TOOLS;
        // The policy's tools (src/policy): only allowed ones are named, denied ones and secret files refused outright.
        const limits = request.policy;
        const tools = limits ? wanted.filter((t) => limits.allowsTool(t)) : wanted;
        const args = ['-p', request.prompt, '--output-format', 'stream-json', '--verbose', '--no-session-persistence'];
        if (!definitionModel) args.push('--model', request.model);
        if (request.agentType) args.push('--agent', request.agentType);
        if (tools.length) args.push('--allowedTools', tools.join(','));
        const disallowed = limits ? [...limits.disallowedTools, ...limits.disallowedPathRules] : [];
        if (disallowed.length) args.push('--disallowedTools', disallowed.join(','));
        if (request.schema) args.push('--json-schema', JSON.stringify(request.schema));
        if (request.system) args.push('--append-system-prompt', request.system);
        if (request.maxTurns) args.push('--max-turns', String(request.maxTurns));
        const attribution = { ...(request.callTag ? { 'x-drover-call': request.callTag } : {}), ...request.gatewayHeaders };
        const headers = ['x-drover-agent: claude-code', ...Object.entries(attribution).map(([k, v]) => `${k}: ${v}`)].join('\n');
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

/** Claude Code reads user-level agents from `$HOME/.claude/agents/`: give the isolated HOME a copy of the user's. */
function copyUserAgents(userHome: string, isolated: string): void {
  try {
    cpSync(join(userHome, '.claude', 'agents'), join(isolated, '.claude', 'agents'), { recursive: true, dereference: true });
  } catch {
    // No user-level agents (or unreadable): Claude Code sees the project's only.
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
