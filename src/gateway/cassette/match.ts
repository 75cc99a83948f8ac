/**
 * @module How replay matches a request to a recording.
 *
 * The match key of a request is its route, model, `stream` flag, system text (`system`, or the
 * Responses API's `instructions`), conversation (`messages`, or the Responses API's `input`) and
 * `tools` — nothing else: `max_tokens`, `temperature`, `metadata` (Claude Code's session id),
 * headers and the key are ignored. The key is normalised before hashing:
 * - object keys are sorted (key order does not matter);
 * - `cache_control` markers are removed (a moved cache breakpoint does not matter);
 * - item `id` fields inside the conversation and tools are removed (Codex gives every input message
 *   a fresh random `msg_…` id; tool-call ids that answers carry are replayed identically anyway);
 * - in every string, runs of whitespace become one space and ends are trimmed (whitespace-insensitive),
 *   and temporary directory names as mkdtemp makes them under the system's temporary directory
 *   (`/tmp/drover-codex-Ab12Cd`) lose their random suffix (`/tmp/drover-codex-XXXXXX`) — drover
 *   gives each codex agent a fresh CODEX_HOME there, which codex names in its prompt;
 * - secrets (key shapes of src/core/redact.ts) are replaced by `[REDACTED]`, so a request that
 *   carries a key matches the recording that had it removed.
 * The hash is the SHA-256 of the normalised key as JSON.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { redactSecrets } from '../../core/redact.js';
import { textOf } from '../sim-request.js';

/** What the key is built from: the parts of a GatewayRequest matching reads. */
export interface MatchInput {
  path: string;
  model: string;
  stream: boolean;
  body: Record<string, unknown>;
}

const NO_ENV: NodeJS.ProcessEnv = {};

/** The normalised match key of a request (see the module comment). */
export function matchKey(request: MatchInput): Record<string, unknown> {
  const b = request.body;
  const raw: Record<string, unknown> = {
    path: request.path,
    model: request.model,
    stream: request.stream,
    system: b.system ?? b.instructions,
    messages: b.messages,
    input: b.input,
    tools: b.tools,
  };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  return normalise(raw) as Record<string, unknown>;
}

/**
 * The key without what tools answered: the content of Anthropic `tool_result` blocks, of Chat
 * `role: "tool"` messages, and the `output` of Responses `function_call_output` /
 * `custom_tool_call_output` items. Replay's second tier: tool output carries noise from the run
 * itself (Codex prefixes every command's output with a random chunk id and the wall time).
 */
export function withoutToolOutputs(key: Record<string, unknown>): Record<string, unknown> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(o)) {
      if (k === 'content' && (o.type === 'tool_result' || o.role === 'tool')) continue;
      if (k === 'output' && (o.type === 'function_call_output' || o.type === 'custom_tool_call_output')) continue;
      out[k] = strip(item);
    }
    return out;
  };
  return strip(key) as Record<string, unknown>;
}

/** SHA-256 (hex) of a match key. */
export function keyHash(key: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(key)).digest('hex');
}

const TEMP_ROOTS = [...new Set([tmpdir(), '/tmp'])].map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
/** `<tmp>/<prefix>-XXXXXX` as mkdtemp makes it (6 random characters after a prefix ending in `-`). */
const TEMP_NAME = new RegExp(`(${TEMP_ROOTS})/([A-Za-z0-9._-]*-)[A-Za-z0-9]{6}(?![A-Za-z0-9])`, 'g');

function normalise(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value.replace(/\s+/g, ' ').trim().replace(TEMP_NAME, '$1/$2XXXXXX'), NO_ENV);
  if (Array.isArray(value)) return value.map((v) => normalise(v, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) {
    if (k === 'cache_control' || (k === 'id' && depth > 0)) continue;
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = normalise(v, depth + 1);
  }
  return out;
}

/** `model claude-x, last user message "Fix the failing test in…", hash 3f2a9c1b0d4e` — how a miss names a request. */
export function describeKey(key: Record<string, unknown>, hash: string): string {
  const words = lastUserText(key).split(/\s+/).filter(Boolean);
  const first = words.slice(0, 10).join(' ');
  const text = words.length > 10 ? `${first}…` : first;
  return `${String(key.path)} model ${String(key.model)}, last user message "${text}", hash ${hash.slice(0, 12)}`;
}

function lastUserText(key: Record<string, unknown>): string {
  const list = Array.isArray(key.messages) ? key.messages : Array.isArray(key.input) ? key.input : null;
  if (list === null) return typeof key.input === 'string' ? key.input : '';
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i] as { role?: unknown; content?: unknown; type?: unknown; output?: unknown };
    if (m && m.role === 'user') return textOf(m.content);
    if (m && m.type === 'function_call_output' && typeof m.output === 'string') return m.output;
  }
  return '';
}

/** A short line diff between two keys, and how far apart they are (the closest recording has the smallest). */
export interface KeyDiff {
  /** Lines that differ. */
  distance: number;
  /** Characters that differ within those lines (ties between equal line counts). */
  chars: number;
  text: string;
}

const DIFF_LINES = 8;
const LINE_CHARS = 160;

/**
 * Line diff of two keys pretty-printed as JSON: the common leading and trailing lines are
 * dropped and what is left on each side is shown (`- recorded`, `+ requested`), at most 8 lines
 * a side. Linear time, which is enough to show where a conversation parted from a recording.
 */
export function diffKeys(recorded: Record<string, unknown>, requested: Record<string, unknown>): KeyDiff {
  const a = JSON.stringify(recorded, null, 2).split('\n');
  const b = JSON.stringify(requested, null, 2).split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const removed = a.slice(start, endA);
  const added = b.slice(start, endB);
  const show = (sign: string, lines: string[], other: string[]) => [
    ...lines.slice(0, DIFF_LINES).map((l, i) => `${sign} ${clip(l, other[i])}`),
    ...(lines.length > DIFF_LINES ? [`${sign} … ${lines.length - DIFF_LINES} more lines`] : []),
  ];
  return {
    distance: removed.length + added.length,
    chars: charDistance(removed.join('\n'), added.join('\n')),
    text: [`@@ line ${start + 1}`, ...show('-', removed, added), ...show('+', added, removed)].join('\n'),
  };
}

/** Length of the longer middle left after trimming the common leading and trailing characters. */
function charDistance(a: string, b: string): number {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  return Math.max(a.length, b.length) - start - end;
}

/** A long line cut to LINE_CHARS around where it first differs from its counterpart (so the difference shows). */
function clip(line: string, counterpart: string | undefined): string {
  if (line.length <= LINE_CHARS) return line;
  let at = 0;
  if (counterpart !== undefined) while (at < line.length && at < counterpart.length && line[at] === counterpart[at]) at++;
  const from = Math.max(0, Math.min(at - 40, line.length - LINE_CHARS));
  return `${from > 0 ? '…' : ''}${line.slice(from, from + LINE_CHARS)}${from + LINE_CHARS < line.length ? '…' : ''}`;
}
