import { isScalar, parseDocument, type Scalar } from 'yaml';
import { z } from 'zod';
import { InputError, readInputFile } from '../core/index.js';
import { parseYamlInput } from '../core/yaml-input.js';
import { SPAN_KIND_NAMES, STATUS_NAMES } from '../store/index.js';
import { type Comparison, parseComparison, parseDurationComparison, parseRegex, type SpecScalar } from './compare.js';
import type { Selector } from './selector.js';

/** A spec with a problem: exit 2, with `file:line:column`. */
export class SpecError extends InputError {
  constructor(message: string) {
    super(message, 'INVALID_SPEC');
  }
}

const Value = z.union([z.string(), z.number(), z.boolean()]);
type RawSelector = {
  name?: string;
  service?: string;
  kind?: (typeof SPAN_KIND_NAMES)[number];
  status?: (typeof STATUS_NAMES)[number];
  attributes?: Record<string, string | number | boolean>;
  parent?: RawSelector;
  ancestor?: RawSelector;
  root?: boolean;
};
const SelectorSchema: z.ZodType<RawSelector> = z.lazy(() =>
  z
    .object({
      name: z.string().min(1).optional(),
      service: z.string().min(1).optional(),
      kind: z.enum(SPAN_KIND_NAMES).optional(),
      status: z.enum(STATUS_NAMES).optional(),
      attributes: z.record(z.string(), Value).optional(),
      parent: SelectorSchema.optional(),
      ancestor: SelectorSchema.optional(),
      root: z.boolean().optional(),
    })
    .strict(),
);

const ExpectSchema = z
  .object({
    count: Value.optional(),
    attributes: z.record(z.string(), Value).optional(),
    duration: z.string().optional(),
    status: z.enum(STATUS_NAMES).optional(),
    sameTrace: z.literal(true).optional(),
    ancestor: SelectorSchema.optional(),
    sum: z.record(z.string(), Value).optional(),
    oneRootPerTrace: z.literal(true).optional(),
    noOrphans: z.literal(true).optional(),
    noDuplicateSpanIds: z.boolean().optional(),
    linkedTo: SelectorSchema.optional(),
  })
  .strict()
  .refine((e) => Object.keys(e).length > 0, { message: 'expect needs at least one check' });

const SpecSchema = z
  .object({
    name: z.string().optional(),
    assertions: z
      .array(
        z
          .object({
            name: z.string().min(1).optional(),
            select: SelectorSchema.optional(),
            optional: z.boolean().default(false),
            expect: ExpectSchema,
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export interface Assertion {
  name: string;
  /** file:line:column of the assertion, for reports. */
  where: string;
  select?: Selector;
  optional: boolean;
  expect: {
    count?: Comparison;
    attributes?: Record<string, Comparison>;
    duration?: Comparison;
    status?: (typeof STATUS_NAMES)[number];
    sameTrace?: true;
    ancestor?: Selector;
    sum?: Record<string, Comparison>;
    oneRootPerTrace?: true;
    noOrphans?: true;
    /**
     * No two different spans of a trace share a span id. On with `oneRootPerTrace` or `noOrphans`
     * unless set to false; `true` asks for it alone.
     */
    noDuplicateSpanIds?: boolean;
    /** Each selected span has a link (OTLP span link) to a span passing this selector. */
    linkedTo?: Selector;
  };
}

export interface Spec {
  name: string;
  file: string;
  assertions: Assertion[];
}

export function loadSpec(file: string): Spec {
  return parseSpec(
    readInputFile(file, 'spec', (m) => new SpecError(m)),
    file,
  );
}

/**
 * A spec from YAML text. Throws `SpecError` (code `INVALID_SPEC`, exit 2) with
 * `file:line:column: path: what is wrong`. Literals keep their YAML type: a quoted scalar is a
 * string, an unquoted one keeps its source text (`2.0` stays "2.0"); see compare.ts.
 */
export function parseSpec(text: string, file = '<spec>'): Spec {
  const { data, at } = parseYamlInput(text, file, SpecSchema, (m) => new SpecError(m));
  const doc = parseDocument(text);
  const scalar = (path: (string | number)[], value: string | number | boolean): SpecScalar => {
    const node = doc.getIn(path, true);
    if (!isScalar(node)) return { value, quoted: false };
    const type = (node as Scalar).type;
    const source = (node as Scalar).source;
    return { value, quoted: type !== undefined && type !== 'PLAIN', ...(typeof source === 'string' ? { source } : {}) };
  };
  const guard = <T>(path: (string | number)[], fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new SpecError(`${at(path)}: ${path.join('.')}: ${(err as Error).message}`);
    }
  };
  const selector = (raw: RawSelector, path: (string | number)[]): Selector => {
    const sel: Selector = {};
    if (raw.name !== undefined) {
      const n = raw.name;
      const regex = guard([...path, 'name'], () => parseRegex(n, true));
      sel.name = regex ? { regex, text: n } : { exact: n, text: JSON.stringify(n) };
    }
    if (raw.service !== undefined) sel.service = raw.service;
    if (raw.kind !== undefined) sel.kind = raw.kind;
    if (raw.status !== undefined) sel.status = raw.status;
    if (raw.root !== undefined) sel.root = raw.root;
    if (raw.attributes) sel.attributes = comparisons(raw.attributes, [...path, 'attributes']);
    if (raw.parent) sel.parent = selector(raw.parent, [...path, 'parent']);
    if (raw.ancestor) sel.ancestor = selector(raw.ancestor, [...path, 'ancestor']);
    return sel;
  };
  const comparisons = (raw: Record<string, string | number | boolean>, path: (string | number)[]) =>
    Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, guard([...path, k], () => parseComparison(scalar([...path, k], v)))]));

  const assertions = data.assertions.map((a, i): Assertion => {
    const base = ['assertions', i];
    const e = a.expect;
    const expect: Assertion['expect'] = {};
    if (e.count !== undefined) {
      const path = [...base, 'expect', 'count'];
      const c = guard(path, () => parseComparison(scalar(path, e.count as string | number)));
      // A count is always a number, so a quoted one ('2') is read as one too.
      const n = Number(c.literal.text);
      if (c.op === 'contains' || c.op === 'matches' || !Number.isInteger(n) || c.literal.text.trim() === '')
        throw new SpecError(`${at(path)}: count compares a whole number, e.g. ">= 1"`);
      expect.count = { ...c, literal: { text: c.literal.text, quoted: false, number: n } };
    }
    if (e.attributes) expect.attributes = comparisons(e.attributes, [...base, 'expect', 'attributes']);
    if (e.duration !== undefined)
      expect.duration = guard([...base, 'expect', 'duration'], () => parseDurationComparison(e.duration as string));
    if (e.status) expect.status = e.status;
    if (e.sameTrace) expect.sameTrace = true;
    if (e.ancestor) expect.ancestor = selector(e.ancestor, [...base, 'expect', 'ancestor']);
    if (e.sum) expect.sum = comparisons(e.sum, [...base, 'expect', 'sum']);
    if (e.oneRootPerTrace) expect.oneRootPerTrace = true;
    if (e.noOrphans) expect.noOrphans = true;
    if (e.noDuplicateSpanIds !== undefined) expect.noDuplicateSpanIds = e.noDuplicateSpanIds;
    if (e.linkedTo) expect.linkedTo = selector(e.linkedTo, [...base, 'expect', 'linkedTo']);
    return {
      name: a.name ?? `assertion ${i + 1}`,
      where: at(base),
      ...(a.select ? { select: selector(a.select, [...base, 'select']) } : {}),
      optional: a.optional,
      expect,
    };
  });
  return { name: data.name ?? file, file, assertions };
}
