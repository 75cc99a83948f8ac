import { parseDuration } from '../core/index.js';
import type { AttrValue } from '../store/index.js';

export type Operator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | 'matches';

export interface Comparison {
  op: Operator;
  /** The operand as written; numbers compare numerically, `matches` as a regex. */
  value: string | number | boolean;
  regex?: RegExp;
  text: string;
}

const OP = /^(<=|>=|!=|=|<|>|contains\b|matches\b)\s*(.*)$/s;

/** `"<= 0.5"`, `"contains SELECT"`, `"matches ^/orders"`, `42`, `true`, or a bare value (equality). */
export function parseComparison(raw: string | number | boolean): Comparison {
  if (typeof raw !== 'string') return { op: '=', value: raw, text: `= ${raw}` };
  const m = OP.exec(raw.trim());
  if (!m) return { op: '=', value: literal(raw.trim()), text: `= ${raw.trim()}` };
  const op = m[1] as Operator;
  const operand = (m[2] ?? '').trim();
  if (operand === '') throw new Error(`"${raw}": the operator ${op} needs a value`);
  if (op === 'matches') {
    try {
      return { op, value: operand, regex: new RegExp(operand), text: `matches ${operand}` };
    } catch (err) {
      throw new Error(`"${raw}": bad regular expression: ${(err as Error).message}`);
    }
  }
  const value = op === 'contains' ? operand : literal(operand);
  if ((op === '<' || op === '<=' || op === '>' || op === '>=') && typeof value !== 'number') {
    throw new Error(`"${raw}": ${op} compares numbers; "${operand}" is not one`);
  }
  return { op, value, text: `${op} ${operand}` };
}

function literal(text: string): string | number | boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  const unquoted = /^(['"])(.*)\1$/s.exec(text);
  if (unquoted) return unquoted[2] as string;
  return text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

export function compare(actual: AttrValue | undefined, c: Comparison): boolean {
  if (actual === undefined || actual === null) return c.op === '!=';
  switch (c.op) {
    case '=':
      return equal(actual, c.value);
    case '!=':
      return !equal(actual, c.value);
    case 'contains':
      return Array.isArray(actual) ? actual.some((v) => equal(v, c.value)) : String(actual).includes(String(c.value));
    case 'matches':
      return (c.regex as RegExp).test(typeof actual === 'string' ? actual : JSON.stringify(actual));
    default: {
      const n = typeof actual === 'number' ? actual : Number(actual);
      if (!Number.isFinite(n)) return false;
      const v = c.value as number;
      return c.op === '<' ? n < v : c.op === '<=' ? n <= v : c.op === '>' ? n > v : n >= v;
    }
  }
}

function equal(actual: AttrValue, expected: string | number | boolean): boolean {
  if (typeof actual === 'number' && typeof expected === 'number') return actual === expected;
  if (typeof actual === 'boolean' || typeof expected === 'boolean') return String(actual) === String(expected);
  return String(actual) === String(expected);
}

/** `"< 500ms"`: an operator and a duration, compared in milliseconds. */
export function parseDurationComparison(raw: string): Comparison {
  const m = /^(<=|>=|<|>|=)\s*(.+)$/.exec(raw.trim());
  if (!m) throw new Error(`"${raw}": write an operator and a duration, e.g. "< 500ms"`);
  return { op: m[1] as Operator, value: parseDuration(m[2] as string, 'duration'), text: raw.trim() };
}

export function describeValue(v: AttrValue | undefined): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}
