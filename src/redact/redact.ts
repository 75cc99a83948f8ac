/**
 * @module Redaction: every secret a rule finds (engine.ts) and every value of a secret-named
 * environment variable (env.ts) replaced by `[REDACTED]`, before text is stored or exported.
 */
import { findSecrets, mayHoldSecret } from './engine.js';
import { secretValuesOf } from './env.js';

export const REDACTED = '[REDACTED]';

/** Ranges merged where they overlap or touch, in order. */
function merge(ranges: [number, number][]): [number, number][] {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * `text` with every secret replaced by `[REDACTED]`: key shapes of secretlint's recommended preset and
 * drover's own rules, and the values of `env`'s secret-named variables (`process.env` by default). Text
 * holding none is returned as it is (the same string). Synchronous; never throws on any string.
 */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  if (text.length < 8) return text;
  const values = secretValuesOf(env);
  let envHit = false;
  for (const v of values) {
    if (text.includes(v)) {
      envHit = true;
      break;
    }
  }
  if (!envHit && !mayHoldSecret(text)) return text;
  const ranges: [number, number][] = findSecrets(text).map((f) => [f.start, f.end]);
  if (envHit) {
    for (const v of values) for (let i = text.indexOf(v); i !== -1; i = text.indexOf(v, i + v.length)) ranges.push([i, i + v.length]);
  }
  if (ranges.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [s, e] of merge(ranges)) {
    out += text.slice(at, s) + REDACTED;
    at = e;
  }
  return out + text.slice(at);
}

/**
 * `redactSecrets` over every string of a JSON-like value (object keys included); other values
 * are kept. Used on everything a run persists: inputs, results, labels, logs, args.
 */
export function redactDeep<T>(value: T, env: NodeJS.ProcessEnv = process.env): T {
  // An explicit stack instead of recursion: results may nest deeper than the call stack allows.
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return redactSecrets(v, env);
    if (v === null || typeof v !== 'object') return v;
    const root: unknown = Array.isArray(v) ? [] : {};
    const stack: [unknown, Record<string, unknown> | unknown[]][] = [[v, root as Record<string, unknown>]];
    while (stack.length > 0) {
      const [from, to] = stack.pop() as [Record<string, unknown>, Record<string, unknown>];
      for (const [k, item] of Object.entries(from)) {
        const key = Array.isArray(to) ? k : redactSecrets(k, env);
        if (item !== null && typeof item === 'object') {
          const child = Array.isArray(item) ? [] : {};
          to[key] = child;
          stack.push([item, child as Record<string, unknown>]);
        } else to[key] = typeof item === 'string' ? redactSecrets(item, env) : item;
      }
    }
    return root;
  };
  return copy(value) as T;
}

/**
 * The JSON text of `value` with secrets redacted: stringified first and checked as one string (cheap:
 * no walk when nothing could match), walked with `redactDeep` only when it might hold a secret — so the
 * result is always valid JSON. `undefined` (which has no JSON text) gives `'null'`.
 */
export function redactedJson(value: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) return 'null';
  return mightNeedRedaction(json, env) ? JSON.stringify(redactDeep(value, env)) : json;
}

/** Whether `text` holds a candidate for any rule or a secret env value (JSON-escaped ones included). */
export function mightNeedRedaction(text: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (mayHoldSecret(text)) return true;
  for (const v of secretValuesOf(env)) if (text.includes(v)) return true;
  return false;
}

/** A JSON text with its secrets redacted (parsed and re-written only when it might hold one); invalid JSON is redacted as text. */
export function redactJsonText(json: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!mightNeedRedaction(json, env)) return json;
  try {
    return JSON.stringify(redactDeep(JSON.parse(json) as unknown, env));
  } catch {
    return redactSecrets(json, env);
  }
}
