/**
 * @module Redaction of a streamed model answer (Server-Sent Events) as it is stored in a cassette:
 * a key the model repeats reaches the client in pieces — `sk-ant-api03-` in one delta event, the rest
 * in the next — so no event, and not the raw body, holds it whole. The deltas of each stream are joined,
 * scanned, and the pieces that carry a secret are cut out of their events (the first piece of a secret
 * becomes `[REDACTED]`, the following pieces become empty), so that replaying the cassette reassembles
 * the redacted text.
 *
 * Streams: Anthropic Messages (`content_block_delta` by block `index`: text, partial_json, thinking),
 * OpenAI Chat Completions (`choices[i].delta.content`, tool call `arguments`), OpenAI Responses
 * (`response.*.delta` by `item_id`/`output_index`/`content_index`). Any other string leaf of an event is
 * treated the same way, keyed by its path, so an unknown wire errs towards redacting.
 */
import { findSecrets } from './engine.js';
import { secretValuesOf } from './env.js';
import { REDACTED } from './redact.js';

interface Piece {
  event: number;
  /** Where the string sits in the event's data (object keys and array indices). */
  path: (string | number)[];
  value: string;
  /** Offset of the piece in its stream's joined text. */
  at: number;
}

interface Event {
  /** The block of lines the event had, with its data line's index. */
  lines: string[];
  dataLine: number;
  data: unknown;
  changed: boolean;
}

function leaves(v: unknown, path: (string | number)[], out: { path: (string | number)[]; value: string }[]): void {
  if (typeof v === 'string') out.push({ path, value: v });
  else if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) leaves(v[i], [...path, i], out);
  } else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, [...path, k], out);
}

function streamKey(data: Record<string, unknown>, path: (string | number)[]): string {
  const id = [data.index, data.output_index, data.content_index, data.item_id].map((x) => (x === undefined ? '' : String(x))).join('/');
  return `${id}|${path.join('.')}`;
}

function setAt(root: unknown, path: (string | number)[], value: string): void {
  let o = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  o[path[path.length - 1] as string | number] = value;
}

/**
 * `body` (an SSE stream's text) with every secret its joined deltas hold cut out of the events that
 * carry it; unchanged (the same string) when there is none or the body is not SSE with JSON data.
 */
export function redactEventStream(body: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!/^(?:event|data|id|retry|:)/m.test(body)) return body;
  const blocks = body.split(/\n\n/);
  const events: Event[] = [];
  const streams = new Map<string, { text: string; pieces: Piece[] }>();
  blocks.forEach((block, b) => {
    const lines = block.split('\n');
    const dataLine = lines.findIndex((l) => l.startsWith('data:'));
    if (dataLine === -1) return;
    let data: unknown;
    try {
      data = JSON.parse((lines[dataLine] as string).slice(5).trim());
    } catch {
      return;
    }
    if (data === null || typeof data !== 'object') return;
    const event = events.push({ lines, dataLine, data, changed: false }) - 1;
    (events[event] as Event & { block?: number }).block = b;
    const found: { path: (string | number)[]; value: string }[] = [];
    leaves(data, [], found);
    for (const leaf of found) {
      const key = streamKey(data as Record<string, unknown>, leaf.path);
      let s = streams.get(key);
      if (!s) {
        s = { text: '', pieces: [] };
        streams.set(key, s);
      }
      s.pieces.push({ event, path: leaf.path, value: leaf.value, at: s.text.length });
      s.text += leaf.value;
    }
  });
  const values = secretValuesOf(env);
  let any = false;
  for (const s of streams.values()) {
    if (s.pieces.length < 2) continue; // a whole value is redacted with the body
    const ranges: [number, number][] = findSecrets(s.text).map((f) => [f.start, f.end]);
    for (const v of values) for (let i = s.text.indexOf(v); i !== -1; i = s.text.indexOf(v, i + v.length)) ranges.push([i, i + v.length]);
    if (ranges.length === 0) continue;
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    for (const p of s.pieces) {
      const end = p.at + p.value.length;
      let out = '';
      let cursor = p.at;
      for (const [rs, re] of merged) {
        if (re <= p.at || rs >= end) continue;
        const from = Math.max(rs, p.at);
        out += p.value.slice(cursor - p.at, from - p.at);
        // The piece where a secret starts says [REDACTED]; later pieces of it say nothing.
        if (rs >= p.at) out += REDACTED;
        cursor = Math.max(cursor, Math.min(re, end));
      }
      if (cursor === p.at && out === '') continue;
      out += p.value.slice(cursor - p.at);
      if (out === p.value) continue;
      const ev = events[p.event] as Event;
      setAt(ev.data, p.path, out);
      ev.changed = true;
      any = true;
    }
  }
  if (!any) return body;
  for (const ev of events) {
    if (!ev.changed) continue;
    ev.lines[ev.dataLine] = `data: ${JSON.stringify(ev.data)}`;
    blocks[(ev as Event & { block: number }).block] = ev.lines.join('\n');
  }
  return blocks.join('\n\n');
}
