/**
 * @module How a spec's literals are typed and how every check reads a span's value.
 *
 * Typing rules (docs/tracing.md, "Values and types"):
 * - A literal quoted in YAML (`'2.0'`, `"200"`), or quoted inside an operator string
 *   (`"= '2.0'"`), is a string: it equals only a string attribute with the same text.
 * - An unquoted literal (`2.0`, `200`, `true`, `GET`, and the operand of `'>= 2.0'`) takes the
 *   attribute's type: against a string it compares as the text written (`2.0` equals "2.0", not
 *   "2"); against a number it must read as a number (`2.0` equals 2); against a boolean it must
 *   be `true` or `false`.
 * - Order comparisons (`< <= > >=`) and `sum` read a value as a number: a number, or a string
 *   holding a decimal number ("12.5"); anything else is not a number and fails the check (a
 *   `sum` skips spans without the attribute, and fails on a value that is not a number).
 */
import type { AttrValue, StoredSpan } from '../store/index.js';
import { printable, stripAnsi } from './text.js';

export type Operator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | 'matches';

/** A value written in a spec, as written. */
export interface Literal {
  /** The text as written, without YAML's quotes (`2.0` stays "2.0"). */
  text: string;
  /** Written quoted: a string, whatever it looks like. */
  quoted: boolean;
  /** The literal read as a number, when it is unquoted and is one. */
  number?: number;
}

export interface Comparison {
  op: Operator;
  /** The operand (for `duration`, the threshold in milliseconds as its `number`). */
  literal: Literal;
  regex?: RegExp;
  /** How the comparison reads in messages: `= "2.0"`, `<= 0.5`, `< 500ms`. */
  text: string;
}

const OP = /^(<=|>=|!=|=|<|>|contains\b|matches\b)\s*(.*)$/s;
/** Decimal numbers as strings carry them: `12`, `-0.5`, `1e3`, `.5` (no hex, no spaces, no `Infinity`). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A YAML scalar of a spec: its value, whether it was quoted, and its source text. */
export interface SpecScalar {
  value: string | number | boolean;
  quoted: boolean;
  /** The scalar's text in the file (`2.0` for a plain 2.0 that YAML reads as 2). */
  source?: string;
}

/** An unquoted literal: text, read as a number when it is one. */
function plain(text: string, yamlNumber?: number): Literal {
  if (yamlNumber !== undefined) return { text, quoted: false, number: yamlNumber };
  return DECIMAL.test(text) ? { text, quoted: false, number: Number(text) } : { text, quoted: false };
}

/** A literal inside an operator string: `'2.0'` or `"2.0"` there is quoted, the rest unquoted. */
function operand(text: string): Literal {
  const q = /^(['"])(.*)\1$/s.exec(text);
  return q ? { text: q[2] as string, quoted: true } : plain(text);
}

const show = (l: Literal) => (l.quoted ? JSON.stringify(l.text) : l.text);

/**
 * `"<= 0.5"`, `"contains SELECT"`, `"matches ^/orders"`, `"matches /^get/i"`, `42`, `true`, or a
 * bare value (equality). Throws `Error` (the spec parser adds file:line:column) on an operator
 * without a value, a bad regular expression, or an order comparison with a non-number.
 */
export function parseComparison(raw: SpecScalar | string | number | boolean): Comparison {
  const scalar: SpecScalar = typeof raw === 'object' ? raw : { value: raw, quoted: false };
  const { value } = scalar;
  if (typeof value !== 'string') {
    const text = scalar.source ?? String(value);
    const literal = typeof value === 'number' ? plain(text, value) : { text: String(value), quoted: false };
    return { op: '=', literal, text: `= ${literal.text}` };
  }
  const m = OP.exec(value.trim());
  if (!m) {
    const literal = scalar.quoted ? { text: value, quoted: true } : plain(value.trim());
    return { op: '=', literal, text: `= ${show(literal)}` };
  }
  const op = m[1] as Operator;
  const rest = (m[2] ?? '').trim();
  if (rest === '') throw new Error(`"${value}": the operator ${op} needs a value`);
  if (op === 'matches') {
    const regex = parseRegex(rest, false);
    return { op, literal: { text: rest, quoted: false }, regex, text: `matches ${rest}` };
  }
  const literal = op === 'contains' ? { text: rest, quoted: false } : operand(rest);
  if ((op === '<' || op === '<=' || op === '>' || op === '>=') && literal.number === undefined) {
    throw new Error(
      `"${value}": ${op} compares numbers; ${literal.quoted ? `${show(literal)} is quoted, so it is a string` : `"${rest}" is not one`}`,
    );
  }
  return { op, literal, text: `${op} ${show(literal)}` };
}

/**
 * `/body/flags` (flags among `d i m s u v`) or, unless `delimitedOnly`, a bare pattern; with
 * `delimitedOnly`, text that is not `/body/flags` gives `undefined` (an exact name). Throws
 * `Error` naming a bad pattern, and refuses the flags `g` and `y` (they make a test stateful).
 */
export function parseRegex(text: string, delimitedOnly: boolean): RegExp | undefined {
  const d = /^\/(.+)\/([a-z]*)$/s.exec(text);
  let [body, flags] = [text, ''];
  if (d && /^[dgimsuvy]*$/.test(d[2] as string)) {
    [body, flags] = [d[1] as string, d[2] as string];
    if (/[gy]/.test(flags)) throw new Error(`"${text}": the regular expression flags g and y are not allowed (use d, i, m, s, u or v)`);
  } else if (delimitedOnly) return undefined;
  try {
    return new RegExp(body, flags);
  } catch (err) {
    throw new Error(`"${text}": bad regular expression: ${(err as Error).message}`);
  }
}

/** The value a check reads for key `k`: the span's attribute, else its resource's. */
export function spanValue(s: StoredSpan, k: string): AttrValue | undefined {
  const v = s.attributes[k];
  return v === undefined ? s.resource[k] : v;
}

/**
 * A value read as a number (the one rule for order comparisons and `sum`): a number, a bigint,
 * or a string holding a decimal number; `undefined` for anything else.
 */
export function readNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && DECIMAL.test(v.trim())) return Number(v.trim());
  return undefined;
}

/** Equality by the attribute's type (see the module's typing rules). */
function equal(actual: unknown, l: Literal): boolean {
  switch (typeof actual) {
    case 'string':
      return actual === l.text;
    case 'number':
      return !l.quoted && l.number !== undefined && actual === l.number;
    case 'bigint':
      return !l.quoted && l.number !== undefined && (/^[+-]?\d+$/.test(l.text) ? actual === BigInt(l.text) : Number(actual) === l.number);
    case 'boolean':
      return !l.quoted && l.text.toLowerCase() === String(actual);
    default:
      return actual !== null && JSON.stringify(actual) === l.text;
  }
}

/** Whether `actual` passes `c`. An absent value passes only `!=`. */
export function compare(actual: AttrValue | undefined, c: Comparison): boolean {
  if (actual === undefined || actual === null) return c.op === '!=';
  switch (c.op) {
    case '=':
      return equal(actual, c.literal);
    case '!=':
      return !equal(actual, c.literal);
    case 'contains':
      return Array.isArray(actual) ? actual.some((v) => equal(v, c.literal)) : textOf(actual).includes(c.literal.text);
    case 'matches':
      return (c.regex as RegExp).test(textOf(actual));
    default: {
      const n = readNumber(actual);
      if (n === undefined) return false;
      const v = c.literal.number as number;
      return c.op === '<' ? n < v : c.op === '<=' ? n <= v : c.op === '>' ? n > v : n >= v;
    }
  }
}

const textOf = (v: AttrValue): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** Why `actual` failed `c`, when the reason is a type rather than a value (appended to messages). */
export function typeHint(actual: AttrValue | undefined, c: Comparison): string {
  if (actual === undefined || actual === null) return '';
  const l = c.literal;
  if ((c.op === '=' || c.op === '!=') && l.quoted && typeof actual !== 'string' && textOf(actual) === String(Number(l.text)))
    return ` (the spec's ${show(l)} is quoted, so it is a string; write it unquoted to compare ${typeof actual}s)`;
  if ((c.op === '<' || c.op === '<=' || c.op === '>' || c.op === '>=') && readNumber(actual) === undefined) return ', not a number';
  return '';
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `"< 500ms"`: an operator and a duration, compared in milliseconds (fractions kept). Units:
 * `ns`, `us` (also `µs`, `μs`), `ms`, `s`, `m`, `h`, `d` (Tracetest's ns/us/ms/s and more); a bare
 * number is milliseconds. Throws `Error` naming the text when it is not one.
 */
export function parseDurationComparison(raw: string): Comparison {
  const m = /^(<=|>=|!=|<|>|=)\s*(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|μs|ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new Error(`"${raw}": write an operator and a duration, e.g. "< 500ms" (units: ns, us, µs, ms, s, m, h, d)`);
  const ms = Number(m[2]) * (UNITS[m[3] ?? 'ms'] as number);
  return { op: m[1] as Operator, literal: { text: `${m[2]}${m[3] ?? 'ms'}`, quoted: false, number: ms }, text: raw.trim() };
}

/** A span's duration in milliseconds (fractions kept). */
export function durationMs(s: StoredSpan): number {
  return (s.endUs - s.startUs) / 1000;
}

/** A duration for messages: `850 µs`, `12.5 ms`, `3.20 s`. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${round(ms * 1000)} µs`;
  if (ms < 1000) return `${round(ms)} ms`;
  return `${round(ms / 1000)} s`;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** A value for messages, as JSON (strings quoted), without terminal escapes. */
export function describeValue(v: AttrValue | undefined): string {
  if (v === undefined) return '(absent)';
  return printable(JSON.stringify(typeof v === 'string' ? stripAnsi(v) : v) ?? String(v));
}
