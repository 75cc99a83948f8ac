import { z } from 'zod';
import type { PlannedMessage } from '../sim-engine.js';
import { agentOf, droverHeader, type HeaderBag, renderForCache, type SimRequest, textOf } from '../sim-request.js';
import { argumentsJson, chunks, openAiUsage, sse, type WireAdapter } from './wire.js';

/** OpenAI Chat Completions (`POST /v1/chat/completions`), as OpenAI-compatible servers (Ollama, vLLM) speak it. */

const ChatMessage = z.object({ role: z.string().min(1), content: z.unknown().optional() }).passthrough();
const ChatBody = z
  .object({
    model: z.string().min(1),
    messages: z.array(ChatMessage).min(1),
    tools: z
      .array(z.object({ type: z.string(), function: z.object({ name: z.string() }).passthrough().optional() }).passthrough())
      .optional(),
    tool_choice: z
      .union([z.string(), z.object({ type: z.string(), function: z.object({ name: z.string() }).passthrough().optional() }).passthrough()])
      .optional(),
    response_format: z.object({ type: z.string() }).passthrough().optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  })
  .passthrough();
type ChatBody = z.infer<typeof ChatBody>;

export function normalizeChat(body: ChatBody, headers: HeaderBag): SimRequest {
  const { messages } = body;
  const firstAssistant = messages.findIndex((m) => m.role === 'assistant');
  const lastAssistant = messages.findLastIndex((m) => m.role === 'assistant');
  const textBetween = (from: number, to: number) =>
    messages
      .slice(from, to)
      .filter((m) => m.role === 'user' || m.role === 'tool')
      .map((m) => textOf(m.content))
      .filter(Boolean)
      .join('\n');
  const choice = body.tool_choice;
  return {
    wire: 'chat',
    model: body.model,
    stream: body.stream === true,
    system: messages
      .filter((m) => m.role === 'system' || m.role === 'developer')
      .map((m) => textOf(m.content))
      .join('\n'),
    prompt: textBetween(0, firstAssistant === -1 ? messages.length : firstAssistant),
    last: textBetween(lastAssistant + 1, messages.length),
    turnIndex: messages.filter((m) => m.role === 'assistant').length,
    tools: (body.tools ?? []).flatMap((t) => (t.function?.name ? [{ name: t.function.name, kind: 'function' as const }] : [])),
    ...(typeof choice === 'object' && choice.function?.name ? { forcedTool: choice.function.name } : {}),
    jsonText: body.response_format?.type === 'json_schema' || body.response_format?.type === 'json_object',
    agent: agentOf(headers, 'chat'),
    tag: droverHeader(headers, 'x-drover-call') ?? null,
    rendered: [renderForCache(body.tools ?? []), ...messages.map(renderForCache)].join('\n'),
  };
}

function finishReason(m: PlannedMessage): string {
  if (m.content.some((b) => b.type === 'tool_use')) return 'tool_calls';
  return m.stopReason === 'max_tokens' ? 'length' : 'stop';
}

function toolCalls(m: PlannedMessage) {
  return m.content.flatMap((b) =>
    b.type === 'tool_use'
      ? [
          {
            id: b.id,
            type: 'function' as const,
            function: {
              name: b.name,
              arguments: argumentsJson(b.input),
            },
          },
        ]
      : [],
  );
}

function usageJson(m: PlannedMessage) {
  const u = openAiUsage(m);
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached },
  };
}

const completionId = (m: PlannedMessage) => `chatcmpl-${m.id.replace(/^msg_sim_/, '')}`;

function chatJson(m: PlannedMessage) {
  const text = m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
  const calls = toolCalls(m);
  return {
    id: completionId(m),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: m.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text === '' && calls.length ? null : text,
          refusal: null,
          ...(calls.length ? { tool_calls: calls } : {}),
        },
        finish_reason: finishReason(m),
        logprobs: null,
      },
    ],
    usage: usageJson(m),
  };
}

function chatEvents(m: PlannedMessage): string[] {
  const base = { id: completionId(m), object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: m.model };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    sse(null, { ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });
  const events = [chunk({ role: 'assistant', content: '' })];
  for (const b of m.content) if (b.type === 'text') for (const content of chunks(b.text)) events.push(chunk({ content }));
  toolCalls(m).forEach((call, index) => {
    events.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    for (const args of chunks(call.function.arguments)) events.push(chunk({ tool_calls: [{ index, function: { arguments: args } }] }));
  });
  events.push(chunk({}, finishReason(m)));
  // Usage arrives in a last chunk with no choices (stream_options.include_usage); sent always, clients ignore it otherwise.
  events.push(sse(null, { ...base, choices: [], usage: usageJson(m) }));
  events.push(sse(null, '[DONE]'));
  return events;
}

export const chatWire: WireAdapter<ChatBody> = {
  name: 'chat',
  paths: ['/v1/chat/completions', '/chat/completions'],
  schema: ChatBody,
  normalize: normalizeChat,
  json: (m) => chatJson(m),
  events: (m) => chatEvents(m),
  error: (type, message, status) => ({ error: { message, type, code: status === 429 ? 'rate_limit_exceeded' : type, param: null } }),
  requestIdHeader: (m) => ({ 'x-request-id': `req_${m.id}` }),
  responseId: completionId,
};
