import { InputError } from '../core/index.js';
import { BuiltinBackend, type BuiltinBackendOptions, type ProviderName } from './builtin/builtin-backend.js';
import { ClaudeCodeBackend } from './claude-code/claude-code-backend.js';
import { CodexBackend } from './codex/codex-backend.js';
import { gatewayRoot, openAiBase } from './endpoint.js';
import type { AgentBackend } from './types.js';

export {
  type AgentDefinition,
  AgentDefinitionError,
  agentDirectories,
  CLAUDE_MODEL_ALIASES,
  CLAUDE_TO_BUILTIN_TOOLS,
  findAgentDefinition,
  parseAgentDefinition,
} from './agent-types.js';
export { type BackendStatus, checkBackends } from './availability.js';
export type { BuiltinBackendOptions, ProviderName } from './builtin/builtin-backend.js';
export { BuiltinBackend, createProvider, PROVIDERS } from './builtin/builtin-backend.js';
export { runAgentLoop, SUBMIT_RESULT_TOOL } from './builtin/loop.js';
export { CODING_SYSTEM } from './builtin/prompt.js';
export { usageOf } from './builtin/providers/anthropic.js';
export { CODING_TOOL_NAMES, CODING_TOOLS, ToolError, Workspace } from './builtin/tools/index.js';
export { CLAUDE_DEFAULT_TOOLS, ClaudeCodeBackend, type ClaudeCodeOptions } from './claude-code/claude-code-backend.js';
export { locateCli } from './cli/locate.js';
export { CodexBackend, type CodexOptions } from './codex/codex-backend.js';
export type { BackoffPolicy } from './retry.js';
export { validateAgainst } from './schema.js';
export type * from './types.js';

export const BACKEND_NAMES = ['builtin', 'claude-code', 'codex'] as const;

export interface BackendContext {
  /** Base URL of the model endpoint (drover's gateway or a provider-compatible server). */
  gatewayUrl: string;
  apiKey: string;
  provider?: ProviderName;
  backoff?: BuiltinBackendOptions['backoff'];
  /** Retries the agent CLIs make themselves on failed model requests. */
  cliRetries?: number;
}

/** The model a backend uses when neither the call nor the run names one. */
export function defaultModelFor(backend: string, provider: ProviderName = 'anthropic'): string {
  if (backend === 'codex' || (backend === 'builtin' && provider !== 'anthropic')) return 'gpt-5.5';
  return 'claude-sonnet-5';
}

/** OpenAI's SDKs expect the base URL to end in /v1; Anthropic's adds /v1 itself. */
export function providerBaseUrl(provider: ProviderName, url: string): string {
  return provider === 'anthropic' ? gatewayRoot(url) : openAiBase(url);
}

export function createBackend(name: string, ctx: BackendContext): AgentBackend {
  switch (name) {
    case 'builtin': {
      const provider = ctx.provider ?? 'anthropic';
      return new BuiltinBackend({
        baseURL: providerBaseUrl(provider, ctx.gatewayUrl),
        apiKey: ctx.apiKey,
        provider,
        ...(ctx.backoff ? { backoff: ctx.backoff } : {}),
      });
    }
    case 'claude-code':
      return new ClaudeCodeBackend({
        gatewayUrl: ctx.gatewayUrl,
        apiKey: ctx.apiKey,
        ...(ctx.cliRetries !== undefined ? { maxRetries: ctx.cliRetries } : {}),
      });
    case 'codex':
      return new CodexBackend({
        gatewayUrl: ctx.gatewayUrl,
        apiKey: ctx.apiKey,
        ...(ctx.cliRetries !== undefined ? { maxRetries: ctx.cliRetries } : {}),
      });
    default:
      throw new InputError(`unknown backend "${name}" (available: ${BACKEND_NAMES.join(', ')})`, 'UNKNOWN_BACKEND');
  }
}
