/**
 * @module The shared part of the usage meters: SSE or a whole JSON body, decided by the
 * response's content type (an error answer to a streamed request is JSON), and what was seen
 * so far for an estimate when the provider's usage never arrived.
 */
import type { TokenUsage } from '../../budget/ledger-types.js';
import type { UsageMeter } from '../pipeline/types.js';
import { eventJson, parseEvent, type SseEvent, SseSplitter } from './sse.js';

/** The provider's usage of a finished answer. */
export interface MeteredUsage {
  usage: TokenUsage;
  requestId: string | null;
  stopReason: string | null;
}

/** What a meter saw of an answer that ended without usage (a cut stream): the basis of an estimate. */
export interface PartialUsage {
  requestId: string | null;
  stopReason: string | null;
  /** Usage classes the provider did report before the cut (Anthropic's `message_start` gives input and cache). */
  usage: Partial<TokenUsage>;
  /** Text, tool arguments and reasoning deltas received: counted with the tokenizer for output tokens. */
  outputText: string;
}

/** A UsageMeter that can also say what it saw of an answer that never reported usage. */
export interface WireMeter extends UsageMeter {
  partial(): PartialUsage;
}

/** Most JSON body bytes kept for metering a non-streamed answer (larger bodies are not metered, only estimated). */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

export const ZERO_USAGE: TokenUsage = {
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWrite5mTokens: 0,
  cacheWrite1hTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  serverToolUses: {},
};

/**
 * `usage` with every class it lacks at 0 (`serverToolUses` shared, not copied).
 *
 * Written out rather than `{ ...ZERO_USAGE, ...usage }`: on Node 20's V8, an object literal with
 * more than one spread (or a spread followed by properties) takes a slow path whose objects, even
 * when dropped at once, were most of what the gateway's young-generation GCs promoted — at 200
 * concurrent streams, pauses of 5 ms instead of 2 and the proxy's whole time-to-first-byte tail
 * (bench/gateway.mjs). The same holds for every object built once per request in the gateway.
 */
export function fullUsage(u: Partial<TokenUsage>): TokenUsage {
  return {
    inputTokens: u.inputTokens ?? 0,
    cacheReadTokens: u.cacheReadTokens ?? 0,
    cacheWrite5mTokens: u.cacheWrite5mTokens ?? 0,
    cacheWrite1hTokens: u.cacheWrite1hTokens ?? 0,
    outputTokens: u.outputTokens ?? 0,
    reasoningTokens: u.reasoningTokens ?? 0,
    serverToolUses: u.serverToolUses ?? {},
  };
}

/** Base of the three wire meters: feeds SSE events or the JSON body to the subclass. */
export abstract class BaseMeter implements WireMeter {
  protected requestId: string | null = null;
  protected stopReason: string | null = null;
  protected usage: Partial<TokenUsage> = {};
  /** True once the provider's final usage was seen. */
  protected final = false;
  protected outputText = '';
  private readonly sse: SseSplitter | null;
  private readonly json: Buffer[] = [];
  private jsonBytes = 0;
  /**
   * Events kept unparsed (text and argument deltas), their bytes one after another: they only
   * matter for an estimate, which is needed only when the usage never arrives — so the common
   * case parses each delta zero times. Copied into one buffer rather than kept as views of the
   * chunks they came in: a view keeps its whole read buffer alive, and two objects per event of
   * every open stream were a large part of what the proxy's young-generation GCs copied.
   */
  private deferred: Buffer | null = null;
  private deferredBytes = 0;

  constructor(contentType: string) {
    this.sse = contentType.toLowerCase().includes('text/event-stream') ? new SseSplitter() : null;
  }

  observe(chunk: Uint8Array): void {
    if (this.sse) {
      for (const e of this.sse.push(chunk)) {
        if (this.canDefer(e)) this.defer(e.raw);
        else this.onEvent(e, eventJson(e));
      }
      return;
    }
    this.jsonBytes += chunk.length;
    if (this.jsonBytes <= MAX_JSON_BYTES) this.json.push(Buffer.from(chunk));
  }

  finish(): MeteredUsage | null {
    if (!this.sse && this.jsonBytes <= MAX_JSON_BYTES && this.json.length > 0) {
      try {
        const body: unknown = JSON.parse(Buffer.concat(this.json).toString('utf8'));
        if (body && typeof body === 'object' && !Array.isArray(body)) this.onJson(body as Record<string, unknown>);
      } catch {
        // Not JSON (an HTML error page, a cut body): no usage.
      }
    }
    if (!this.final) return null;
    return { usage: fullUsage(this.usage), requestId: this.requestId, stopReason: this.stopReason };
  }

  partial(): PartialUsage {
    const late = this.deferred?.subarray(0, this.deferredBytes);
    this.deferred = null;
    this.deferredBytes = 0;
    // Whole events only went in, so splitting them again gives back the same events — but the last
    // one's end may be undecided without a byte after it (`\r\r`: a `\n` could follow), so it is
    // what the splitter keeps pending.
    if (late) {
      const splitter = new SseSplitter();
      for (const e of splitter.push(late)) this.onEvent(e, eventJson(e));
      const last = splitter.rest();
      if (last.length > 0) {
        const e = parseEvent(last);
        this.onEvent(e, eventJson(e));
      }
    }
    return { requestId: this.requestId, stopReason: this.stopReason, usage: { ...this.usage }, outputText: this.outputText };
  }

  private defer(raw: Buffer): void {
    const needed = this.deferredBytes + raw.length;
    if (!this.deferred || needed > this.deferred.length) {
      const grown = Buffer.allocUnsafe(Math.max(4096, 2 * needed));
      this.deferred?.copy(grown, 0, 0, this.deferredBytes);
      this.deferred = grown;
    }
    raw.copy(this.deferred, this.deferredBytes);
    this.deferredBytes = needed;
  }

  /**
   * True for an event that carries only output deltas (no id, usage or stop reason): it is parsed
   * only if `partial()` is asked for. Decided on the event name or raw data, without parsing.
   */
  protected canDefer(_e: SseEvent): boolean {
    return false;
  }

  /** One SSE event; `json` is its data parsed (undefined when not JSON). */
  protected abstract onEvent(e: SseEvent, json: Record<string, unknown> | undefined): void;
  /** A whole JSON answer. */
  protected abstract onJson(body: Record<string, unknown>): void;
}

export { count, record } from '../../budget/provider-usage.js';

export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** Copies the defined fields of `from` onto `to`. */
export function merge(to: Partial<TokenUsage>, from: Partial<TokenUsage>): void {
  // for…in, not Object.entries: no [key, value] array per field of every usage event.
  for (const k in from) {
    const v = (from as Record<string, unknown>)[k];
    if (v !== undefined) (to as Record<string, unknown>)[k] = v;
  }
}
