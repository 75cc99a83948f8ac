import type { Attributes, AttrValue } from '../../store/span-types.js';

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

export function fromAnyValue(v: AnyValueLike | null | undefined): AttrValue {
  if (!v) return null;
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  if (v.intValue !== undefined && v.intValue !== null) {
    const i = v.intValue;
    return typeof i === 'object' ? i.toNumber() : Number(i);
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null) return Number(v.doubleValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(fromAnyValue);
  if (v.kvlistValue) return fromKeyValues(v.kvlistValue.values);
  if (v.bytesValue !== undefined && v.bytesValue !== null) {
    return typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue).toString('base64');
  }
  return null;
}

export function fromKeyValues(list: KeyValueLike[] | null | undefined): Attributes {
  const out: Attributes = {};
  if (!list) return out;
  for (const kv of list) if (kv?.key) out[kv.key] = fromAnyValue(kv.value);
  return out;
}

export function toAnyValue(v: AttrValue): AnyValueLike {
  if (v === null) return {};
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(toAnyValue) } };
  return { kvlistValue: { values: toKeyValues(v) } };
}

export function toKeyValues(attrs: Attributes): KeyValueLike[] {
  return Object.entries(attrs).map(([key, value]) => ({ key, value: toAnyValue(value) }));
}
