import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { Message, MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { errorMessage } from '../../core/index.js';
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF, isRetryableStatus, sleepUnlessAborted } from '../retry.js';
import { SchemaDefinitionError, toToolInputSchema, validateAgainst } from '../schema.js';
import type { AgentBackend, AgentOutcome, AgentRequest, RequestUsage } from '../types.js';

export interface BuiltinBackendOptions {
  /** Model endpoint: drover's gateway or any Anthropic-compatible server. */
  baseURL: string;
  apiKey: string;
  backoff?: Partial<BackoffPolicy>;
  /** Extra attempts when a structured answer does not match its schema. */
  schemaRetries?: number;
  maxTokens?: number;
  timeoutMs?: number;
}

export const SUBMIT_RESULT_TOOL = 'submit_result';
const DEFAULT_SYSTEM = 'You are a precise coding agent run by drover. Do exactly the task given. Be brief.';

/** One model request's usage, from the SDK's Message. */
export function usageOf(message: Message): RequestUsage {
  const u = message.usage;
  const creation = (u as { cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null })
    .cache_creation;
  const write1h = creation?.ephemeral_1h_input_tokens ?? 0;
  const writeTotal = u.cache_creation_input_tokens ?? 0;
  return {
    requestId: message.id,
    model: message.model,
    inputTokens: u.input_tokens,
    outputTokens: u.output_tokens,
    cacheReadTokens: u.cache_read_input_tokens ?? 0,
    cacheWrite5mTokens: creation ? (creation.ephemeral_5m_input_tokens ?? 0) : writeTotal,
    cacheWrite1hTokens: write1h,
    stopReason: message.stop_reason,
  };
}

/**
 * The `builtin` backend, first part: single-turn text and structured output
 * through the Anthropic SDK. Retries are ours (SDK retries off) so every
 * attempt is counted and a call never vanishes silently.
 */
export class BuiltinBackend implements AgentBackend {
  readonly name = 'builtin';
  private readonly client: Anthropic;
  private readonly backoff: BackoffPolicy;
  private readonly schemaRetries: number;
  private readonly maxTokens: number;

  constructor(options: BuiltinBackendOptions) {
    this.client = new Anthropic({
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      maxRetries: 0,
      timeout: options.timeoutMs ?? 600_000,
    });
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.schemaRetries = options.schemaRetries ?? 2;
    this.maxTokens = options.maxTokens ?? 4096;
  }

  async run(request: AgentRequest): Promise<AgentOutcome> {
    const usage: RequestUsage[] = [];
    let attempts = 0;
    const messages: MessageParam[] = [{ role: 'user', content: request.prompt }];
    let tools: Tool[] | undefined;
    let wrapped = false;
    if (request.schema) {
      try {
        const tool = toToolInputSchema(request.schema);
        wrapped = tool.wrapped;
        tools = [
          {
            name: SUBMIT_RESULT_TOOL,
            description: 'Submit the final result of the task. Call it exactly once with the complete result.',
            input_schema: tool.inputSchema as Tool['input_schema'],
          },
        ];
        validateAgainst(request.schema, null); // compile now: a bad schema fails before any request
      } catch (err) {
        if (err instanceof SchemaDefinitionError)
          return { ok: false, error: { code: 'INVALID_SCHEMA', message: err.message }, usage, attempts };
        throw err;
      }
    }
    for (let schemaTry = 0; ; schemaTry++) {
      const sent = await this.requestWithRetries(request, messages, tools, usage);
      attempts += sent.attempts;
      if (!sent.ok) return { ok: false, error: sent.error, usage, attempts };
      const message = sent.message;
      const text = message.content
        .filter((b) => b.type === 'text')
        .map((b) => b.text)
        .join('');
      if (!request.schema) return { ok: true, text, model: message.model, stopReason: message.stop_reason, usage, attempts };

      const submitted = message.content.find((b) => b.type === 'tool_use' && b.name === SUBMIT_RESULT_TOOL);
      let problem: string | null;
      let value: unknown;
      if (submitted?.type !== 'tool_use') {
        problem = `the answer did not call ${SUBMIT_RESULT_TOOL}`;
      } else {
        value = wrapped ? (submitted.input as { value?: unknown }).value : submitted.input;
        problem = validateAgainst(request.schema, value);
      }
      if (problem === null) {
        return {
          ok: true,
          text: JSON.stringify(value),
          object: value,
          model: message.model,
          stopReason: message.stop_reason,
          usage,
          attempts,
        };
      }
      if (schemaTry >= this.schemaRetries) {
        return {
          ok: false,
          error: { code: 'SCHEMA_MISMATCH', message: `structured result invalid after ${schemaTry + 1} answers: ${problem}` },
          usage,
          attempts,
        };
      }
      // Append, never rewrite: the earlier turns stay a cacheable prefix.
      messages.push({ role: 'assistant', content: message.content });
      const feedback = `Your result does not match the required schema: ${problem}. Call ${SUBMIT_RESULT_TOOL} again with a corrected result.`;
      messages.push({
        role: 'user',
        content:
          submitted && submitted.type === 'tool_use'
            ? [{ type: 'tool_result', tool_use_id: submitted.id, content: feedback, is_error: true }]
            : feedback,
      });
    }
  }

  private async requestWithRetries(
    request: AgentRequest,
    messages: MessageParam[],
    tools: Tool[] | undefined,
    usage: RequestUsage[],
  ): Promise<{ ok: true; message: Message; attempts: number } | { ok: false; error: { code: string; message: string }; attempts: number }> {
    let lastError = '';
    for (let attempt = 1; attempt <= this.backoff.maxAttempts; attempt++) {
      if (request.signal?.aborted) return { ok: false, error: { code: 'ABORTED', message: 'agent aborted' }, attempts: attempt - 1 };
      request.onProgress?.({ type: 'request', attempt });
      try {
        const stream = this.client.messages.stream(
          {
            model: request.model,
            max_tokens: this.maxTokens,
            system: [{ type: 'text', text: request.system ?? DEFAULT_SYSTEM, cache_control: { type: 'ephemeral' } }],
            messages,
            ...(tools ? { tools, tool_choice: { type: 'tool', name: SUBMIT_RESULT_TOOL } } : {}),
          },
          request.signal ? { signal: request.signal } : undefined,
        );
        const message = await stream.finalMessage();
        const u = usageOf(message);
        usage.push(u);
        request.onProgress?.({ type: 'usage', usage: u });
        return { ok: true, message, attempts: attempt };
      } catch (err) {
        if (request.signal?.aborted) return { ok: false, error: { code: 'ABORTED', message: 'agent aborted' }, attempts: attempt };
        const status = err instanceof APIError ? err.status : undefined;
        lastError = status ? `HTTP ${status}: ${errorMessage(err)}` : errorMessage(err);
        if (!isRetryableStatus(status) || attempt === this.backoff.maxAttempts) {
          return {
            ok: false,
            error: {
              code: status ? `HTTP_${status}` : 'CONNECTION',
              message: `${lastError} (after ${attempt} attempt${attempt > 1 ? 's' : ''})`,
            },
            attempts: attempt,
          };
        }
        const retryAfter = err instanceof APIError ? err.headers?.get('retry-after') : null;
        const wait = backoffDelay(this.backoff, attempt, retryAfter != null && retryAfter !== '' ? Number(retryAfter) * 1000 : undefined);
        request.onProgress?.({ type: 'retry', attempt, delayMs: wait, reason: lastError });
        try {
          await sleepUnlessAborted(wait, request.signal);
        } catch {
          return { ok: false, error: { code: 'ABORTED', message: 'agent aborted' }, attempts: attempt };
        }
      }
    }
    return { ok: false, error: { code: 'RETRIES_EXHAUSTED', message: lastError }, attempts: this.backoff.maxAttempts };
  }
}
