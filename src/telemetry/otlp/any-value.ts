import type { Attributes, AttrValue, OtlpAnyValue, OtlpKeyValue } from '../../store/span-types.js';
import { DROVER_DOUBLE_ATTRIBUTES } from '../genai.js';
import { OtlpFormatError } from './errors.js';

/**
 * OTLP `AnyValue` both ways. Received values are first made exact (`OtlpAnyValue`, OTLP/JSON form),
 * then turned into drover's plain `attributes` map; the exact list is kept beside the map only when
 * the map would lose something (see StoredSpan.typedAttributes).
 */

/** OTLP `AnyValue` in its JSON or decoded-protobuf shape (camelCase fields either way). */
export interface AnyValueLike {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: string | number | { toNumber(): number } | null;
  doubleValue?: number | string | null;
  arrayValue?: { values?: AnyValueLike[] | null } | null;
  kvlistValue?: { values?: KeyValueLike[] | null } | null;
  bytesValue?: string | Uint8Array | null;
}

export interface KeyValueLike {
  key?: string | null;
  value?: AnyValueLike | null;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT = /^[-+]?\d+$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Reads `camel` or, as the Collector's JSON decoder also accepts, `snake`. */
export function field(o: Record<string, unknown>, camel: string, snake: string): unknown {
  const v = o[camel];
  return v === undefined ? o[snake] : v;
}

/** An `int64` from OTLP/JSON (decimal string, or a JSON number as the JS serializer writes it) as a canonical decimal string. */
export function int64Of(v: unknown, where: string): string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new OtlpFormatError(`${where}: must be an integer, got ${v}`);
    if (Number.isSafeInteger(v)) return String(v);
    return int64Of(BigInt(v).toString(), where);
  }
  if (typeof v === 'string' && INT.test(v)) {
    const b = BigInt(v);
    if (b < INT64_MIN || b > INT64_MAX) throw new OtlpFormatError(`${where}: ${v} is outside the int64 range`);
    return b.toString();
  }
  throw new OtlpFormatError(`${where}: must be a decimal integer, got ${JSON.stringify(v)?.slice(0, 40)}`);
}

function doubleOf(v: unknown, where: string): number | 'NaN' | 'Infinity' | '-Infinity' {
  if (typeof v === 'number') return v;
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new OtlpFormatError(`${where}: must be a number (or "NaN", "Infinity", "-Infinity"), got ${JSON.stringify(v)?.slice(0, 40)}`);
}

function objectAt(v: unknown, where: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new OtlpFormatError(`${where}: must be an object`);
  return v as Record<string, unknown>;
}

/** A JSON array, or [] when absent; anything else is a format error naming the place. */
export function listAt(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v))
    throw new OtlpFormatError(`${where}: must be an array (a JSON list), got ${typeof v === 'object' ? 'an object' : typeof v}`);
  return v;
}

/** One OTLP/JSON `AnyValue` (camelCase or snake_case fields) made exact. Throws OtlpFormatError naming `where`. */
export function typedFromJson(raw: unknown, where: string): OtlpAnyValue {
  if (raw === undefined || raw === null) return {};
  const v = objectAt(raw, where);
  const given = (camel: string, snake: string): unknown => {
    const x = field(v, camel, snake);
    return x === null ? undefined : x;
  };
  const str = given('stringValue', 'string_value');
  if (str !== undefined) {
    if (typeof str !== 'string') throw new OtlpFormatError(`${where}.stringValue: must be a string`);
    return { stringValue: str };
  }
  const bool = given('boolValue', 'bool_value');
  if (bool !== undefined) {
    if (typeof bool !== 'boolean') throw new OtlpFormatError(`${where}.boolValue: must be true or false`);
    return { boolValue: bool };
  }
  const int = given('intValue', 'int_value');
  if (int !== undefined) return { intValue: int64Of(int, `${where}.intValue`) };
  const dbl = given('doubleValue', 'double_value');
  if (dbl !== undefined) return { doubleValue: doubleOf(dbl, `${where}.doubleValue`) };
  const arr = given('arrayValue', 'array_value');
  if (arr !== undefined) {
    const a = objectAt(arr, `${where}.arrayValue`);
    const w = `${where}.arrayValue.values`;
    return { arrayValue: { values: listAt(a.values, w).map((e, i) => typedFromJson(e, `${w}[${i}]`)) } };
  }
  const kv = given('kvlistValue', 'kvlist_value');
  if (kv !== undefined) {
    const a = objectAt(kv, `${where}.kvlistValue`);
    return { kvlistValue: { values: typedListFromJson(a.values, `${where}.kvlistValue.values`) } };
  }
  const bytes = given('bytesValue', 'bytes_value');
  if (bytes !== undefined) {
    if (typeof bytes !== 'string' || !BASE64.test(bytes)) throw new OtlpFormatError(`${where}.bytesValue: must be base64 text`);
    return { bytesValue: Buffer.from(bytes, 'base64').toString('base64') };
  }
  return {};
}

/** An OTLP/JSON `KeyValue` list made exact. */
export function typedListFromJson(raw: unknown, where: string): OtlpKeyValue[] {
  return listAt(raw, where).map((kv, i) => {
    const o = objectAt(kv, `${where}[${i}]`);
    if (typeof o.key !== 'string') throw new OtlpFormatError(`${where}[${i}].key: must be a string`);
    return { key: o.key, value: typedFromJson(o.value, `${where}[${i}].value`) };
  });
}

/** The plain value of an exact one: int64 as the nearest number, bytes as base64 text, an empty value as null. */
export function plainOf(t: OtlpAnyValue): AttrValue {
  if ('stringValue' in t) return t.stringValue;
  if ('boolValue' in t) return t.boolValue;
  if ('intValue' in t) return Number(t.intValue);
  if ('doubleValue' in t) return typeof t.doubleValue === 'number' ? t.doubleValue : Number(t.doubleValue);
  if ('arrayValue' in t) return t.arrayValue.values.map(plainOf);
  if ('kvlistValue' in t) return plainMap(t.kvlistValue.values).map;
  if ('bytesValue' in t) return t.bytesValue;
  return null;
}

/** Whether the plain value, stored as JSON and turned back by `toAnyValue`, gives `t` again. */
export function plainIsExact(t: OtlpAnyValue): boolean {
  if ('intValue' in t) return Number.isSafeInteger(Number(t.intValue));
  if ('doubleValue' in t) {
    const d = t.doubleValue;
    return typeof d === 'number' && Number.isFinite(d) && !Number.isInteger(d);
  }
  if ('arrayValue' in t) return t.arrayValue.values.every(plainIsExact);
  if ('kvlistValue' in t) return plainMap(t.kvlistValue.values).exact;
  if ('bytesValue' in t) return false;
  return true;
}

/** Plain attributes and, when they would lose something, the exact list. */
export interface AttributesOut {
  attributes: Attributes;
  typed?: OtlpKeyValue[];
}

/** Set by the plain fast paths when a value's plain form is not exact. */
let lossy = false;
const SMALL_INT = /^-?\d{1,15}$/;

/** The plain value of an OTLP/JSON AnyValue, straight from the common shapes; others go through the exact form. */
function plainFromJson(raw: unknown, where: string, index: number): AttrValue {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const v = raw as Record<string, unknown>;
    const s = v.stringValue;
    if (typeof s === 'string') return s;
    if (s === undefined) {
      const b = v.boolValue;
      if (typeof b === 'boolean') return b;
      if (b === undefined) {
        const i = v.intValue;
        if (typeof i === 'number' && Number.isSafeInteger(i)) return i;
        if (typeof i === 'string' && SMALL_INT.test(i)) return Number(i);
        if (i === undefined) {
          const d = v.doubleValue;
          if (typeof d === 'number' && Number.isFinite(d) && !Number.isInteger(d)) return d;
        }
      }
    }
  }
  const t = typedFromJson(raw, `${where}[${index}].value`);
  if (!plainIsExact(t)) lossy = true;
  return plainOf(t);
}

/**
 * An OTLP/JSON KeyValue list as plain attributes, with the exact list only when the plain map
 * would lose something. The common values take a fast path (ingest speed is a product figure).
 * @throws OtlpFormatError naming `where[i]…`.
 */
export function attributesFromJson(raw: unknown, where: string): AttributesOut {
  const list = listAt(raw, where);
  const map: Attributes = {};
  lossy = false;
  for (let i = 0; i < list.length; i++) {
    const kv = list[i] as Record<string, unknown> | null;
    if (!kv || typeof kv !== 'object' || Array.isArray(kv)) throw new OtlpFormatError(`${where}[${i}]: must be an object`);
    const key = kv.key;
    if (typeof key !== 'string') throw new OtlpFormatError(`${where}[${i}].key: must be a string`);
    const value = plainFromJson(kv.value, where, i);
    if (awkwardKey(key) || Object.hasOwn(map, key) || (DROVER_DOUBLE_ATTRIBUTES.has(key) && Number.isInteger(value))) lossy = true;
    setKey(map, key, value);
  }
  return lossy ? { attributes: map, typed: typedListFromJson(raw, where) } : { attributes: map };
}

function setKey(map: Attributes, key: string, value: AttrValue): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  else map[key] = value;
}

/** A key a JS object would reorder (array index) or treat specially. */
export const awkwardKey = (k: string): boolean =>
  k === '__proto__' || (k.length > 0 && k.charCodeAt(0) >= 48 && k.charCodeAt(0) <= 57 && /^(0|[1-9]\d*)$/.test(k));

/** The plain map of a KeyValue list, and whether it says everything the list does. */
export function plainMap(list: OtlpKeyValue[]): { map: Attributes; exact: boolean } {
  const map: Attributes = {};
  let exact = true;
  for (const kv of list) {
    if (
      exact &&
      (awkwardKey(kv.key) ||
        Object.hasOwn(map, kv.key) ||
        !plainIsExact(kv.value) ||
        // export writes these as doubles: an int received under such a key is kept as it came
        ('intValue' in kv.value && DROVER_DOUBLE_ATTRIBUTES.has(kv.key)))
    )
      exact = false;
    if (kv.key === '__proto__')
      Object.defineProperty(map, kv.key, { value: plainOf(kv.value), enumerable: true, writable: true, configurable: true });
    else map[kv.key] = plainOf(kv.value);
  }
  return { map, exact };
}

/** Plain attributes, plus the exact list when the plain map would lose something. */
export function attributesOf(list: OtlpKeyValue[]): AttributesOut {
  const { map, exact } = plainMap(list);
  return exact ? { attributes: map } : { attributes: map, typed: list };
}

/** Back-compat: a decoded OTLP AnyValue (JSON shape) as a plain value. */
export function fromAnyValue(v: AnyValueLike | null | undefined): AttrValue {
  return plainOf(typedFromJson(v ?? null, 'value'));
}

export function fromKeyValues(list: KeyValueLike[] | null | undefined): Attributes {
  return plainMap(typedListFromJson(list ?? [], 'attributes')).map;
}

/**
 * A plain value as OTLP: integers as `intValue` (decimal string, as the proto3 JSON mapping
 * writes int64), other numbers as `doubleValue`; keys in `doubles` are always doubles
 * (drover's own `drover.cost.usd` is a double even when it is 0).
 */
export function toAnyValue(v: AttrValue, double = false): OtlpAnyValue {
  if (v === null) return {};
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) && !double ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => toAnyValue(x)) } };
  return { kvlistValue: { values: toKeyValues(v) } };
}

export function toKeyValues(attrs: Attributes, doubles?: ReadonlySet<string>): OtlpKeyValue[] {
  return Object.entries(attrs).map(([key, value]) => ({ key, value: toAnyValue(value, doubles?.has(key) === true) }));
}
