/**
 * @module Server-Sent Events split into events as bytes arrive, at any chunk boundary
 * (inside a UTF-8 sequence, a line, or a `\r\n`). Only what metering needs: each event's
 * `event:` name, its joined `data:` lines, and its exact bytes (for filters that drop events).
 * Format: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */

export interface SseEvent {
  /** The `event:` field, or null when absent (OpenAI Chat Completions sends none). */
  event: string | null;
  /** `data:` lines joined with `\n`. */
  data: string;
  /** The event's bytes exactly as received, blank-line terminator included. */
  raw: Buffer;
}

/** Feeds bytes in, gets whole events out. Never buffers more than one unfinished event. */
export class SseSplitter {
  private pending: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns the events they complete, in order (their `raw` bytes add up to the input). */
  push(chunk: Uint8Array): SseEvent[] {
    // A view, not a copy: the chunk is not changed after it is handed over (Node gives each read its own buffer).
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    const out: SseEvent[] = [];
    for (;;) {
      const end = eventEnd(this.pending);
      if (end === -1) break;
      const raw = this.pending.subarray(0, end);
      this.pending = this.pending.subarray(end);
      out.push(new ParsedOnRead(raw));
    }
    return out;
  }

  /** Bytes of an event that never ended (a cut stream). */
  rest(): Buffer {
    return this.pending;
  }
}

const LF_LF = Buffer.from('\n\n');

/** Index just past the first blank line (`\n\n`, `\r\n\r\n`, `\r\r`, mixed), or -1. */
function eventEnd(buf: Buffer): number {
  // The providers end lines with `\n` only: two native searches instead of a loop over every byte.
  if (buf.indexOf(0x0d) === -1) {
    const at = buf.indexOf(LF_LF);
    return at === -1 ? -1 : at + 2;
  }
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 0x0a && c !== 0x0d) continue;
    // End of a line at i; is the next line empty?
    let j = i + 1;
    if (c === 0x0d && buf[j] === 0x0a) j++;
    if (j >= buf.length) return -1;
    const d = buf[j];
    if (d === 0x0a) return j + 1;
    if (d === 0x0d) {
      if (j + 1 >= buf.length) return -1; // `\r` may be followed by `\n`: wait for it
      return buf[j + 1] === 0x0a ? j + 2 : j + 1;
    }
    i = j - 1;
  }
  return -1;
}

const EVENT_FIELD = Buffer.from('event:');
const NEXT_EVENT_FIELD = Buffer.from('\nevent:');

/**
 * An event parsed only when its `event` or `data` is read: a meter passes most events on by their
 * name alone, and strings made for every delta of 200 concurrent streams are what the proxy's
 * garbage collector would otherwise spend its pauses copying.
 */
class ParsedOnRead implements SseEvent {
  private fields: { event: string | null; data: string } | undefined;
  /** The name read from the first line alone (undefined: not read yet, or not of the usual shape). */
  private name: string | undefined;
  constructor(readonly raw: Buffer) {}

  get event(): string | null {
    if (this.fields) return this.fields.event;
    if (this.name !== undefined) return this.name;
    // The usual shape, `event: <name>\n` first and only once, is read without decoding the rest.
    if (this.raw.subarray(0, EVENT_FIELD.length).equals(EVENT_FIELD)) {
      const eol = this.raw.indexOf(0x0a);
      if (eol !== -1 && this.raw.indexOf(NEXT_EVENT_FIELD, eol) === -1 && this.raw.lastIndexOf(0x0d, eol) === -1) {
        const value = this.raw.toString('utf8', EVENT_FIELD.length, eol);
        this.name = value.startsWith(' ') ? value.slice(1) : value;
        return this.name;
      }
    }
    this.fields = parseEvent(this.raw);
    return this.fields.event;
  }

  get data(): string {
    this.fields ??= parseEvent(this.raw);
    return this.fields.data;
  }
}

/** One event; a comment-only block (`: keep-alive`) is an event with no name and empty data. */
export function parseEvent(raw: Buffer): SseEvent {
  let event: string | null = null;
  const data: string[] = [];
  for (const line of raw.toString('utf8').split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n'), raw };
}

/** JSON of an event's data, or undefined when it is not JSON (`[DONE]`, a comment). */
export function eventJson(e: SseEvent): Record<string, unknown> | undefined {
  if (!e.data.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(e.data);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
