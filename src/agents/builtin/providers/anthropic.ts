import Anthropic from '@anthropic-ai/sdk';
import type { ContentBlockParam, Message, MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { anthropicUsage } from '../../../budget/provider-usage.js';
import type { RequestUsage } from '../../types.js';
import type { Entry, ModelProvider, ModelRequest, ModelTurn } from '../transcript.js';

/** One model request's usage, from the SDK's Message (the same mapping the gateway's meter uses). */
export function usageOf(message: Message): RequestUsage {
  const u = anthropicUsage(message.usage as unknown as Record<string, unknown>);
  return {
    requestId: message.id,
    model: message.model,
    inputTokens: u.inputTokens ?? 0,
    outputTokens: u.outputTokens ?? 0,
    cacheReadTokens: u.cacheReadTokens ?? 0,
    cacheWrite5mTokens: u.cacheWrite5mTokens ?? 0,
    cacheWrite1hTokens: u.cacheWrite1hTokens ?? 0,
    stopReason: message.stop_reason,
  };
}

const EPHEMERAL = { type: 'ephemeral' } as const;

/**
 * Anthropic Messages. Cache breakpoints: one after the system text (tools come
 * before it, so both are cached) and one on the newest message, which moves
 * forward each turn while everything before it stays byte-identical.
 */
export function toMessages(entries: readonly Entry[]): MessageParam[] {
  const messages: MessageParam[] = entries.map((e): MessageParam => {
    if (e.role === 'user') return { role: 'user', content: [{ type: 'text', text: e.text }] };
    if (e.role === 'tool') {
      return {
        role: 'user',
        content: e.results.map((r) => ({
          type: 'tool_result',
          tool_use_id: r.callId,
          content: r.output,
          ...(r.isError ? { is_error: true } : {}),
        })),
      };
    }
    const content: ContentBlockParam[] = [];
    if (e.text) content.push({ type: 'text', text: e.text });
    for (const c of e.calls) content.push({ type: 'tool_use', id: c.id, name: c.name, input: c.input });
    if (content.length === 0) content.push({ type: 'text', text: '(no answer)' });
    return { role: 'assistant', content };
  });
  const last = messages[messages.length - 1];
  if (last && Array.isArray(last.content)) {
    const blocks = last.content as ContentBlockParam[];
    const tail = blocks[blocks.length - 1];
    if (tail && tail.type !== 'thinking' && tail.type !== 'redacted_thinking')
      blocks[blocks.length - 1] = { ...tail, cache_control: EPHEMERAL };
  }
  return messages;
}

export class AnthropicProvider implements ModelProvider {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(options: { baseURL: string; apiKey: string; timeoutMs?: number }) {
    this.client = new Anthropic({
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      maxRetries: 0,
      timeout: options.timeoutMs ?? 600_000,
      // drover traces each request itself (a `chat` span under the agent); the SDK's own
      // spans would duplicate them and cost ~7% of a 1,000-agent run even when unexported.
      openTelemetry: false,
    });
  }

  async send(req: ModelRequest): Promise<ModelTurn> {
    const tools: Tool[] = req.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.parameters as Tool['input_schema'],
    }));
    const stream = this.client.messages.stream(
      {
        model: req.model,
        max_tokens: req.maxTokens,
        system: [{ type: 'text', text: req.system, cache_control: EPHEMERAL }],
        messages: toMessages(req.entries),
        ...(tools.length ? { tools } : {}),
      },
      { signal: req.signal, headers: req.headers },
    );
    const message = await stream.finalMessage();
    return {
      text: message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join(''),
      calls: message.content.flatMap((b) =>
        b.type === 'tool_use' ? [{ id: b.id, name: b.name, input: (b.input ?? {}) as Record<string, unknown> }] : [],
      ),
      stopReason: message.stop_reason,
      model: message.model,
      usage: usageOf(message),
    };
  }
}
