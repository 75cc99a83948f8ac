import { InputError } from '../../core/index.js';
import {
  builtinToolsFor,
  emitWarnings,
  modelFor,
  noteDefinition,
  resolveAgentType,
  unappliedWarning,
  withAgentPrompt,
} from '../agent-types.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from '../retry.js';
import type { AgentBackend, AgentOutcome, AgentRequest } from '../types.js';
import { type LoopSettings, runAgentLoop } from './loop.js';
import { CODING_SYSTEM } from './prompt.js';
import { AnthropicProvider } from './providers/anthropic.js';
import { OpenAIChatProvider, OpenAIResponsesProvider } from './providers/openai.js';
import { CODING_TOOL_NAMES, CODING_TOOLS } from './tools/index.js';
import type { ModelProvider } from './transcript.js';

export const PROVIDERS = ['anthropic', 'openai', 'openai-chat'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface BuiltinBackendOptions {
  /** Model endpoint: drover's gateway or a provider-compatible server (for OpenAI, the URL ending in /v1). */
  baseURL: string;
  apiKey: string;
  /** anthropic (Messages), openai (Responses) or openai-chat (Chat Completions, for Ollama/vLLM). */
  provider?: ProviderName;
  backoff?: Partial<BackoffPolicy>;
  /** Extra attempts when a structured answer does not match its schema. */
  schemaRetries?: number;
  maxTokens?: number;
  maxTurns?: number;
  compactAtTokens?: number;
  /** Assistant turns kept verbatim when compacting (default 3). */
  keepTurns?: number;
  timeoutMs?: number;
  /** Home whose `.claude/agents/` holds the user's agent definitions (`agentType`); default `os.homedir()`. */
  userHome?: string;
}

export function createProvider(name: ProviderName, options: { baseURL: string; apiKey: string; timeoutMs?: number }): ModelProvider {
  switch (name) {
    case 'anthropic':
      return new AnthropicProvider(options);
    case 'openai':
      return new OpenAIResponsesProvider(options);
    case 'openai-chat':
      return new OpenAIChatProvider(options);
    default:
      throw new InputError(`unknown provider "${String(name)}" (available: ${PROVIDERS.join(', ')})`, 'UNKNOWN_PROVIDER');
  }
}

/** The `builtin` backend: drover's own lean coding agent on any of the three model APIs. */
export class BuiltinBackend implements AgentBackend {
  readonly name = 'builtin';
  private readonly settings: LoopSettings;
  private readonly provider: ProviderName;
  private readonly userHome: string | undefined;

  constructor(options: BuiltinBackendOptions) {
    this.provider = options.provider ?? 'anthropic';
    this.userHome = options.userHome;
    this.settings = {
      endpoint: options.baseURL,
      provider: createProvider(options.provider ?? 'anthropic', {
        baseURL: options.baseURL,
        apiKey: options.apiKey,
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      }),
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      schemaRetries: options.schemaRetries ?? 2,
      maxTokens: options.maxTokens ?? 8192,
      maxTurns: options.maxTurns ?? 60,
      compactAtTokens: options.compactAtTokens ?? 150_000,
      keepTurns: options.keepTurns ?? 3,
      tools: CODING_TOOLS,
    };
  }

  /**
   * With `agentType`, the Claude Code agent definition of that name shapes the call: its body is
   * appended to the fixed system text, its `tools` (mapped to the builtin's) narrow the tool set
   * (and the call's `tools`, if any, narrow it further), its `model` replaces the run's unless the
   * call named one, its `maxTurns` and `effort` apply unless the call set its own.
   */
  async run(request: AgentRequest): Promise<AgentOutcome> {
    if (!request.agentType) return runAgentLoop(request, this.settings);
    const { definition, failure } = resolveAgentType(request, this.userHome);
    if (failure) return failure;
    const granted = builtinToolsFor(definition, CODING_TOOL_NAMES);
    const tools = request.tools ? granted.tools.filter((t) => request.tools?.includes(t)) : granted.tools;
    const chosen = modelFor(definition, request, this.provider === 'anthropic');
    const warnings = [...granted.warnings, ...(chosen.warning ? [chosen.warning] : []), ...unappliedWarning(definition, 'builtin')];
    emitWarnings(request, warnings);
    const maxTurns = request.maxTurns ?? definition.maxTurns;
    const effort = request.effort ?? definition.effort;
    const outcome = await runAgentLoop(
      {
        ...request,
        model: chosen.model,
        tools,
        system: withAgentPrompt(request.system ?? this.settings.system ?? CODING_SYSTEM, definition),
        ...(maxTurns ? { maxTurns } : {}),
        ...(effort ? { effort } : {}),
      },
      this.settings,
    );
    return noteDefinition(outcome, definition.source, warnings);
  }
}
