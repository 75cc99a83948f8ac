import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentDefinition, emitWarnings, noteDefinition, resolveAgentType, unappliedWarning, withAgentPrompt } from '../agent-types.js';
import { scrubbedEnv } from '../builtin/tools/index.js';
import { runCliAgent } from '../cli/cli-agent.js';
import { isolatedHome } from '../cli/isolated-home.js';
import { openAiBase } from '../endpoint.js';
import type { AgentBackend, AgentOutcome, AgentRequest } from '../types.js';
import { ExecJsonReader } from './exec-json.js';

export interface CodexOptions {
  /** drover's gateway (or any OpenAI Responses endpoint); unset: Codex's own configuration. */
  gatewayUrl?: string;
  apiKey?: string;
  /** Path of the codex executable; default: DROVER_CODEX_BIN, then PATH, then node_modules/.bin. */
  binary?: string;
  /** CODEX_HOME; default: a fresh temporary one per call, removed afterwards. */
  home?: string;
  /** Codex's own retries of failed requests (request_max_retries / stream_max_retries). */
  maxRetries?: number;
  /** Home whose `.claude/agents/` holds the user's agent definitions (`agentType`); default `os.homedir()`. */
  userHome?: string;
}

const KEY_VAR = 'DROVER_CODEX_API_KEY';

/** TOML basic strings take JSON's escapes. */
const toml = (s: string) => JSON.stringify(s);

/** The `codex` backend: one `codex exec --json` per agent call, through a custom model provider pointing at drover's gateway. */
export class CodexBackend implements AgentBackend {
  readonly name = 'codex';
  constructor(private readonly options: CodexOptions = {}) {}

  /**
   * Codex has no agent types: with `agentType`, the Claude Code definition's body joins the
   * `developer_instructions` and its `effort` applies unless the call set one; its `tools` and
   * `model` are not applied (each a warning), since
   * Codex's tools and models are not Claude Code's.
   */
  async run(request: AgentRequest): Promise<AgentOutcome> {
    if (!request.agentType) return this.spawn(request);
    const { definition, failure } = resolveAgentType(request, this.options.userHome);
    if (failure) return failure;
    const warnings = codexWarnings(definition, request);
    emitWarnings(request, warnings);
    const system = withAgentPrompt(request.system ?? '', definition).trim();
    const effort = request.effort ?? definition.effort;
    const outcome = await this.spawn({ ...request, ...(system ? { system } : {}), ...(effort ? { effort } : {}) });
    return noteDefinition(outcome, definition.source, warnings);
  }

  private spawn(request: AgentRequest): Promise<AgentOutcome> {
    const o = this.options;
    return runCliAgent(request, {
      cli: 'codex',
      binaryOverride: o.binary ?? process.env.DROVER_CODEX_BIN,
      installHint: 'install @openai/codex or set DROVER_CODEX_BIN',
      gatewayUrl: o.gatewayUrl,
      reader: new ExecJsonReader(request.onProgress),
      prepare: () => {
        const home = isolatedHome('codex');
        const codexHome = o.home ?? join(home.path, '.codex');
        if (!o.home) mkdirSync(codexHome, { recursive: true });
        const args = [
          'exec',
          '--json',
          '--skip-git-repo-check',
          '--sandbox',
          // Inside drover's sandbox (wrapAgents) codex's own cannot nest (its bwrap needs a user
          // namespace the outer one forbids): drover's mounts hold its commands instead. Otherwise the
          // policy (src/policy): no writes → Codex's read-only sandbox; its network follows the policy's.
          request.sandbox?.enabled && request.sandbox.wrapAgents
            ? 'danger-full-access'
            : request.policy && !request.policy.canWrite
              ? 'read-only'
              : 'workspace-write',
          '--ephemeral',
          '-C',
          request.cwd,
          '-m',
          request.model,
        ];
        if (o.gatewayUrl) {
          const base = openAiBase(o.gatewayUrl);
          const retries = o.maxRetries ?? 4;
          const attribution = { ...(request.callTag ? { 'x-drover-call': request.callTag } : {}), ...request.gatewayHeaders };
          const headers = ['"x-drover-agent"="codex"', ...Object.entries(attribution).map(([k, v]) => `${toml(k)}=${toml(v)}`)].join(',');
          args.push(
            '-c',
            `model_providers.drover={name="drover", base_url=${toml(base)}, wire_api="responses", env_key="${KEY_VAR}", request_max_retries=${retries}, stream_max_retries=${retries}, http_headers={${headers}}}`,
            '-c',
            'model_provider=drover',
          );
        }
        // Codex's workspace-write sandbox has no network by default: said explicitly when the policy denies it.
        if (request.policy?.network === 'none') args.push('-c', 'sandbox_workspace_write.network_access=false');
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
          ...(o.apiKey ? { [KEY_VAR]: o.apiKey } : {}),
        };
        return { args, env, dispose: home.dispose };
      },
    });
  }
}

function codexWarnings(definition: AgentDefinition, request: AgentRequest): string[] {
  const warnings: string[] = [];
  if (definition.tools || definition.disallowedTools)
    warnings.push(`agentType '${definition.name}': its tools are Claude Code's; codex keeps its own tools`);
  if (definition.model && definition.model !== 'inherit' && !request.modelFromCall)
    warnings.push(`agentType '${definition.name}': model '${definition.model}' is not applied on codex; kept ${request.model}`);
  if (definition.maxTurns) warnings.push(`agentType '${definition.name}': maxTurns is not applied on codex`);
  return [...warnings, ...unappliedWarning(definition, 'codex')];
}
