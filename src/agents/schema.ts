import { Ajv, type ValidateFunction } from 'ajv';
import { canonicalJson } from '../core/index.js';
import type { JsonSchema } from './types.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const cache = new Map<string, ValidateFunction>();

export class SchemaDefinitionError extends Error {}

export function compileSchema(schema: JsonSchema): ValidateFunction {
  const key = canonicalJson(schema);
  let fn = cache.get(key);
  if (!fn) {
    try {
      fn = ajv.compile(schema);
    } catch (err) {
      throw new SchemaDefinitionError(`invalid JSON Schema: ${(err as Error).message}`);
    }
    cache.set(key, fn);
  }
  return fn;
}

/** null when valid, else a short list of what is wrong, with JSON pointers. */
export function validateAgainst(schema: JsonSchema, value: unknown): string | null {
  const validate = compileSchema(schema);
  if (validate(value)) return null;
  return (validate.errors ?? [])
    .slice(0, 8)
    .map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/** Tool input schemas must be objects; other schemas are wrapped as `{ value }`. */
export function toToolInputSchema(schema: JsonSchema): { inputSchema: JsonSchema; wrapped: boolean } {
  if (schema.type === 'object') return { inputSchema: schema, wrapped: false };
  return { inputSchema: { type: 'object', properties: { value: schema }, required: ['value'] }, wrapped: true };
}
