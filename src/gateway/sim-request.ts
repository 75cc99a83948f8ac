/**
 * What the sim engine needs to know about one model request, whatever wire it
 * came in on (Anthropic Messages, OpenAI Responses, OpenAI Chat Completions).
 * Each wire adapter builds one from its parsed body; the engine never sees a wire.
 */

export type WireName = 'anthropic' | 'responses' | 'chat';

export interface OfferedTool {
  name: string;
  /** `custom` tools (OpenAI Responses) take free-form text instead of JSON arguments. */
  kind: 'function' | 'custom';
}

export interface SimRequest {
  wire: WireName;
  model: string;
  stream: boolean;
  system: string;
  /** Every user text before the first assistant turn: the task as the agent was given it. */
  prompt: string;
  /** Everything after the last assistant turn (tool results included). */
  last: string;
  /** Assistant turns already in the conversation; the rule answers with this turn. */
  turnIndex: number;
  tools: OfferedTool[];
  /** A tool the request forces the model to call. */
  forcedTool?: string;
  /** The request asks for a JSON answer in the message text (response_format / text.format). */
  jsonText: boolean;
  /** Who is asking: `x-drover-agent` header, else a name guessed from the user agent. */
  agent: string;
  /** `x-drover-call`: the drover call this request belongs to, for per-call usage. */
  tag: string | null;
  /**
   * The request flattened in the order a prefix cache sees it (tools, system, messages),
   * without cache markers: the basis of counted input tokens and of the cacheable prefix.
   */
  rendered: string;
}

/** Text of a content value in any of the three wires' shapes. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: { type?: string; text?: string; content?: unknown; output?: unknown }) => {
      if (typeof b === 'string') return b;
      if (typeof b?.text === 'string' && (b.type === 'text' || b.type === 'input_text' || b.type === 'output_text')) return b.text;
      if (b?.type === 'tool_result') return textOf(b.content);
      return '';
    })
    .filter(Boolean)
    .join('\n');
}

export type HeaderBag = Record<string, string | string[] | undefined>;

export function agentOf(headers: HeaderBag, wire: WireName): string {
  const explicit = droverHeader(headers, 'x-drover-agent');
  if (explicit) return explicit;
  const ua = `${header(headers, 'user-agent') ?? ''} ${header(headers, 'originator') ?? ''}`.toLowerCase();
  if (headers['x-claude-code-session-id'] || ua.includes('claude-cli') || ua.includes('claude-code')) return 'claude-code';
  if (ua.includes('codex')) return 'codex';
  return `unknown-${wire}`;
}

export function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** An `x-drover-*` header's value: percent-decoded (drover encodes them; see attribution.ts). */
export function droverHeader(headers: HeaderBag, name: string): string | undefined {
  const v = header(headers, name);
  if (v === undefined) return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** JSON without cache markers, so a moved breakpoint does not look like a changed prefix. */
export function renderForCache(value: unknown): string {
  return JSON.stringify(value, (key, v) => (key === 'cache_control' ? undefined : v));
}
