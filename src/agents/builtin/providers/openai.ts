import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { FunctionTool, ResponseInputItem } from 'openai/resources/responses/responses';
import { openAiUsage } from '../../../budget/provider-usage.js';
import type { RequestUsage } from '../../types.js';
import type { Entry, ModelProvider, ModelRequest, ModelTurn, ToolCall } from '../transcript.js';

function parseArguments(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text || '{}');
    return value && typeof value === 'object' && !Array.isArray(value) ? value : { value };
  } catch {
    // The loop reports the tool error back; the model sees what it sent.
    return { __unparsed_arguments: text };
  }
}

/** One request's usage in the ledger's classes (the mapping the gateway's meter uses). */
function usageOf(id: string, model: string, input: number, cached: number, output: number, stop: string | null): RequestUsage {
  const u = openAiUsage(input, cached, output, 0);
  return {
    requestId: id,
    model,
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    cacheReadTokens: u.cacheReadTokens,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    stopReason: stop,
  };
}

function client(options: { baseURL: string; apiKey: string; timeoutMs?: number }): OpenAI {
  return new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0, timeout: options.timeoutMs ?? 600_000 });
}

export function toResponsesInput(entries: readonly Entry[]): ResponseInputItem[] {
  const items: ResponseInputItem[] = [];
  for (const e of entries) {
    if (e.role === 'user') items.push({ role: 'user', content: e.text });
    else if (e.role === 'tool')
      for (const r of e.results) items.push({ type: 'function_call_output', call_id: r.callId, output: r.output });
    else {
      if (e.text) items.push({ role: 'assistant', content: e.text });
      for (const c of e.calls) items.push({ type: 'function_call', call_id: c.id, name: c.name, arguments: JSON.stringify(c.input) });
    }
  }
  return items;
}

/** OpenAI Responses API (`store: false`: every request carries the whole conversation, as Codex does). */
export class OpenAIResponsesProvider implements ModelProvider {
  readonly name = 'openai';
  private readonly client: OpenAI;

  constructor(options: { baseURL: string; apiKey: string; timeoutMs?: number }) {
    this.client = client(options);
  }

  async send(req: ModelRequest): Promise<ModelTurn> {
    const tools: FunctionTool[] = req.tools.map((t) => ({
      type: 'function',
      name: t.name,
      description: t.description,
      parameters: t.parameters,
      strict: false,
    }));
    const response = await this.client.responses
      .stream(
        {
          model: req.model,
          instructions: req.system,
          input: toResponsesInput(req.entries),
          max_output_tokens: req.maxTokens,
          store: false,
          prompt_cache_key: req.cacheKey,
          ...(req.effort ? { reasoning: { effort: req.effort === 'max' ? 'xhigh' : req.effort } } : {}),
          ...(tools.length ? { tools } : {}),
        },
        { signal: req.signal, headers: req.headers },
      )
      .finalResponse();
    const calls: ToolCall[] = [];
    for (const item of response.output) {
      if (item.type === 'function_call') calls.push({ id: item.call_id, name: item.name, input: parseArguments(item.arguments) });
    }
    const u = response.usage;
    const stop = calls.length ? 'tool_use' : response.incomplete_details ? 'max_tokens' : 'end_turn';
    return {
      text: response.output_text,
      calls,
      stopReason: stop,
      model: response.model,
      usage: usageOf(
        response.id,
        response.model,
        u?.input_tokens ?? 0,
        u?.input_tokens_details?.cached_tokens ?? 0,
        u?.output_tokens ?? 0,
        stop,
      ),
    };
  }
}

export function toChatMessages(system: string, entries: readonly Entry[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: system }];
  for (const e of entries) {
    if (e.role === 'user') messages.push({ role: 'user', content: e.text });
    else if (e.role === 'tool') for (const r of e.results) messages.push({ role: 'tool', tool_call_id: r.callId, content: r.output });
    else {
      messages.push({
        role: 'assistant',
        content: e.text || null,
        ...(e.calls.length
          ? {
              tool_calls: e.calls.map((c) => ({
                id: c.id,
                type: 'function' as const,
                function: { name: c.name, arguments: JSON.stringify(c.input) },
              })),
            }
          : {}),
      });
    }
  }
  return messages;
}

/** OpenAI Chat Completions, for OpenAI-compatible servers (Ollama, vLLM, LM Studio). */
export class OpenAIChatProvider implements ModelProvider {
  readonly name = 'openai-chat';
  private readonly client: OpenAI;

  constructor(options: { baseURL: string; apiKey: string; timeoutMs?: number }) {
    this.client = client(options);
  }

  async send(req: ModelRequest): Promise<ModelTurn> {
    const tools: ChatCompletionTool[] = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    const completion = await this.client.chat.completions
      .stream(
        {
          model: req.model,
          messages: toChatMessages(req.system, req.entries),
          max_completion_tokens: req.maxTokens,
          stream_options: { include_usage: true },
          ...(tools.length ? { tools } : {}),
        },
        { signal: req.signal, headers: req.headers },
      )
      .finalChatCompletion();
    const choice = completion.choices[0];
    const calls: ToolCall[] = (choice?.message.tool_calls ?? []).flatMap((c) =>
      c.type === 'function' ? [{ id: c.id, name: c.function.name, input: parseArguments(c.function.arguments) }] : [],
    );
    const stop = calls.length ? 'tool_use' : choice?.finish_reason === 'length' ? 'max_tokens' : 'end_turn';
    const u = completion.usage;
    return {
      text: choice?.message.content ?? '',
      calls,
      stopReason: stop,
      model: completion.model,
      usage: usageOf(
        completion.id,
        completion.model,
        u?.prompt_tokens ?? 0,
        u?.prompt_tokens_details?.cached_tokens ?? 0,
        u?.completion_tokens ?? 0,
        stop,
      ),
    };
  }
}
