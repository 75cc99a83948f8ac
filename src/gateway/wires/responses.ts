import { z } from 'zod';
import type { PlannedMessage } from '../sim-engine.js';
import { agentOf, droverHeader, type HeaderBag, type OfferedTool, renderForCache, type SimRequest, textOf } from '../sim-request.js';
import { argumentsJson, chunks, openAiUsage, sse, type WireAdapter } from './wire.js';

/** OpenAI Responses (`POST /v1/responses`), as the openai SDK and Codex speak it. */

const Item = z.object({ type: z.string().optional(), role: z.string().optional() }).passthrough();
const ResponsesBody = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(Item)]),
    instructions: z.string().nullable().optional(),
    tools: z.array(z.object({ type: z.string(), name: z.string().optional() }).passthrough()).optional(),
    tool_choice: z.union([z.string(), z.object({ type: z.string(), name: z.string().optional() }).passthrough()]).optional(),
    text: z
      .object({ format: z.object({ type: z.string() }).passthrough().optional() })
      .passthrough()
      .nullable()
      .optional(),
    stream: z.boolean().optional(),
  })
  .passthrough();
type ResponsesBody = z.infer<typeof ResponsesBody>;
type Item = z.infer<typeof Item>;

/** Items the model produced; a run of them in the input is one earlier assistant turn. */
const OUTPUT_ITEMS = new Set(['function_call', 'custom_tool_call', 'reasoning', 'local_shell_call', 'web_search_call', 'tool_search_call']);
function isOutput(item: Item): boolean {
  return item.role === 'assistant' || OUTPUT_ITEMS.has(item.type ?? '');
}

function itemText(item: Item): string {
  if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') {
    const output = (item as { output?: unknown }).output;
    return typeof output === 'string' ? output : textOf(output);
  }
  if (item.role === 'user') return textOf((item as { content?: unknown }).content);
  return '';
}

export function normalizeResponses(body: ResponsesBody, headers: HeaderBag): SimRequest {
  const items: Item[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input;
  let turnIndex = 0;
  let firstOutput = -1;
  let lastOutput = -1;
  items.forEach((item, i) => {
    if (!isOutput(item)) return;
    if (i === 0 || !isOutput(items[i - 1] as Item)) turnIndex++;
    if (firstOutput === -1) firstOutput = i;
    lastOutput = i;
  });
  const textBetween = (from: number, to: number) => items.slice(from, to).map(itemText).filter(Boolean).join('\n');
  const system = [
    body.instructions ?? '',
    ...items.filter((i) => i.role === 'developer' || i.role === 'system').map((i) => textOf((i as { content?: unknown }).content)),
  ]
    .filter(Boolean)
    .join('\n');
  const tools: OfferedTool[] = (body.tools ?? []).flatMap((t) =>
    t.name ? [{ name: t.name, kind: t.type === 'custom' ? ('custom' as const) : ('function' as const) }] : [],
  );
  const choice = body.tool_choice;
  return {
    wire: 'responses',
    model: body.model,
    stream: body.stream === true,
    system,
    prompt: textBetween(0, firstOutput === -1 ? items.length : firstOutput),
    last: textBetween(lastOutput + 1, items.length),
    turnIndex,
    tools,
    ...(typeof choice === 'object' && choice.name ? { forcedTool: choice.name } : {}),
    jsonText: body.text?.format?.type === 'json_schema' || body.text?.format?.type === 'json_object',
    agent: agentOf(headers, 'responses'),
    tag: droverHeader(headers, 'x-drover-call') ?? null,
    rendered: [renderForCache(body.tools ?? []), body.instructions ?? '', ...items.map(renderForCache)].join('\n'),
  };
}

const responseIdOf = (m: PlannedMessage) => `resp_${m.id.replace(/^msg_/, '')}`;

type OutputItem = Record<string, unknown> & { type: string; id: string };

function outputItems(m: PlannedMessage, req: SimRequest): OutputItem[] {
  let n = 0;
  const id = (prefix: string) => `${prefix}_${m.id.slice(-12)}${n++}`;
  return m.content.map((block): OutputItem => {
    if (block.type === 'text') {
      return {
        type: 'message',
        id: id('msg'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: block.text, annotations: [] }],
      };
    }
    const custom = req.tools.find((t) => t.name === block.name)?.kind === 'custom';
    if (custom) {
      return {
        type: 'custom_tool_call',
        id: id('ctc'),
        call_id: block.id,
        name: block.name,
        input: String(block.input),
        status: 'completed',
      };
    }
    return {
      type: 'function_call',
      id: id('fc'),
      call_id: block.id,
      name: block.name,
      arguments: argumentsJson(block.input),
      status: 'completed',
    };
  });
}

function responseJson(m: PlannedMessage, output: OutputItem[], status: 'in_progress' | 'completed') {
  const u = openAiUsage(m);
  return {
    id: responseIdOf(m),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: m.model,
    output: status === 'completed' ? output : [],
    parallel_tool_calls: true,
    tool_choice: 'auto',
    tools: [],
    error: null,
    incomplete_details: m.stopReason === 'max_tokens' ? { reason: 'max_output_tokens' } : null,
    usage:
      status === 'completed'
        ? {
            input_tokens: u.input,
            input_tokens_details: { cached_tokens: u.cached },
            output_tokens: u.output,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: u.input + u.output,
          }
        : null,
  };
}

function responseEvents(m: PlannedMessage, req: SimRequest): string[] {
  const output = outputItems(m, req);
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => sse(type, { type, sequence_number: seq++, ...data });
  const events = [
    ev('response.created', { response: responseJson(m, output, 'in_progress') }),
    ev('response.in_progress', { response: responseJson(m, output, 'in_progress') }),
  ];
  output.forEach((item, output_index) => {
    if (item.type === 'message') {
      const text = ((item.content as { text: string }[])[0] as { text: string }).text;
      events.push(ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } }));
      const part = { type: 'output_text', text: '', annotations: [] };
      events.push(ev('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part }));
      for (const delta of chunks(text)) {
        events.push(ev('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta, logprobs: [] }));
      }
      events.push(ev('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text, logprobs: [] }));
      events.push(ev('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { ...part, text } }));
    } else if (item.type === 'function_call') {
      events.push(ev('response.output_item.added', { output_index, item: { ...item, arguments: '', status: 'in_progress' } }));
      for (const delta of chunks(item.arguments as string)) {
        events.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index, delta }));
      }
      events.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments }));
    } else {
      events.push(ev('response.output_item.added', { output_index, item: { ...item, input: '', status: 'in_progress' } }));
      for (const delta of chunks(item.input as string)) {
        events.push(ev('response.custom_tool_call_input.delta', { item_id: item.id, output_index, delta }));
      }
      events.push(ev('response.custom_tool_call_input.done', { item_id: item.id, output_index, input: item.input }));
    }
    events.push(ev('response.output_item.done', { output_index, item }));
  });
  events.push(ev('response.completed', { response: responseJson(m, output, 'completed') }));
  return events;
}

export const responsesWire: WireAdapter<ResponsesBody> = {
  name: 'responses',
  paths: ['/v1/responses', '/responses'],
  schema: ResponsesBody,
  normalize: normalizeResponses,
  json: (m, req) => responseJson(m, outputItems(m, req), 'completed'),
  events: responseEvents,
  error: (type, message, status) => ({ error: { message, type, code: status === 429 ? 'rate_limit_exceeded' : type, param: null } }),
  requestIdHeader: (m) => ({ 'x-request-id': `req_${m.id}` }),
  responseId: responseIdOf,
};
