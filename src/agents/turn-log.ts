/**
 * @module An agent's model turns as they happen — text, and each tool call with its input and its
 * output once the result comes back — kept by every backend the same way (the builtin loop, Claude
 * Code's stream-json, Codex's JSON events). The runtime turns it into the stored transcript
 * (src/workflow/transcripts.ts), redacted, when the run's content capture allows.
 */
import type { TranscriptToolCall, TranscriptTurn } from '../store/index.js';

/** Longest tool output kept per call, characters (a file read can be megabytes): the rest is cut with a note. */
export const MAX_TOOL_OUTPUT_CHARS = 20_000;

/** The text of a tool result in any of the shapes the backends give it (string, content blocks, JSON). */
export function toolOutputText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    return value
      .map((b) =>
        b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string' ? (b as { text: string }).text : JSON.stringify(b),
      )
      .join('\n');
  }
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

const cut = (s: string) =>
  s.length > MAX_TOOL_OUTPUT_CHARS
    ? `${s.slice(0, MAX_TOOL_OUTPUT_CHARS)}\n[… ${s.length - MAX_TOOL_OUTPUT_CHARS} more characters not kept]`
    : s;

export class TurnLog {
  readonly turns: TranscriptTurn[] = [];
  private readonly open = new Map<string, TranscriptToolCall>();

  /** Starts a new model turn. */
  turn(info: { text?: string; model?: string; outputTokens?: number } = {}): TranscriptTurn {
    const t: TranscriptTurn = {
      text: info.text ?? '',
      ...(info.model ? { model: info.model } : {}),
      ...(info.outputTokens !== undefined ? { outputTokens: info.outputTokens } : {}),
      toolCalls: [],
    };
    this.turns.push(t);
    return t;
  }

  /** The turn being written (a new one when there is none). */
  current(): TranscriptTurn {
    return this.turns[this.turns.length - 1] ?? this.turn();
  }

  /** Adds model text to the current turn. */
  text(text: string): void {
    if (!text) return;
    const t = this.current();
    t.text = t.text ? `${t.text}\n${text}` : text;
  }

  /** Records a tool call on the current turn; its output arrives with `result` (by id) or here. */
  call(id: string | null, name: string, input: unknown, output?: { text: string; isError: boolean }): TranscriptToolCall {
    const call: TranscriptToolCall = {
      id,
      name,
      input: input ?? {},
      output: output ? cut(output.text) : null,
      isError: output?.isError ?? false,
    };
    this.current().toolCalls.push(call);
    if (id && !output) this.open.set(id, call);
    return call;
  }

  /** The output of an earlier call (ignored when the id is unknown). */
  result(id: string, output: string, isError: boolean): void {
    const call = this.open.get(id);
    if (!call) return;
    this.open.delete(id);
    call.output = cut(output);
    call.isError = isError;
  }
}
