/**
 * @module The policy engine: Cedar (`@cedar-policy/cedar-wasm`, its Node entry) with drover's
 * schema. Policies are checked and validated when loaded; every decision names the `@id`s of the
 * policies that decided it, and is fail-closed: an engine error, or a policy that errored while
 * being evaluated, denies.
 */
import { createRequire } from 'node:module';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { PolicyFileError } from './errors.js';
import { CEDAR_SCHEMA, type PolicyAction } from './schema.js';

/** One policy as loaded: its id (`@id`), text, where it came from, and its annotations. */
export interface LoadedPolicy {
  id: string;
  text: string;
  effect: 'permit' | 'forbid';
  file: string;
  line: number;
  annotations: Record<string, string>;
  /** The shipped policy this one replaced (same `@id`), when it did. */
  overrides?: string;
}

/** A Cedar entity reference with the attributes it carries in this request. */
export interface PolicyEntity {
  type: string;
  id: string;
  attrs?: Record<string, string | boolean | number>;
}

/** The workflow asking: `Workflow::"<name>"` with its tier and owner. */
export interface Principal {
  name: string;
  tier: string;
  owner: string;
}

export interface PolicyRequest {
  principal: Principal;
  action: PolicyAction;
  resource: PolicyEntity;
  context?: Record<string, string | boolean | number>;
}

/**
 * A decision. `ruleIds`: the policies that decided — the permits that matched (allow), the
 * forbids that matched (deny), `default-deny` when no permit matched, `engine-error` when Cedar
 * failed (then `error` says why).
 */
export interface Decision {
  allow: boolean;
  ruleIds: string[];
  error?: string;
}

/** The id of a deny no policy matched: Cedar denies what no permit allows. */
export const DEFAULT_DENY = 'default-deny';
/** The id of a deny because the engine failed (fail closed). */
export const ENGINE_ERROR = 'engine-error';

/**
 * Cedar's wasm, compiled on first use (not at import): `drover run` first keeps WebAssembly on the
 * baseline compiler (src/cli/handlers/run.ts), and `import 'drover'` does not pay for it.
 */
let wasm: typeof CedarWasm | undefined;
const cedarApi = (): typeof CedarWasm => {
  wasm ??= createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm;
  return wasm;
};

const SCHEMA_NAME = 'drover';
let schemaReady = false;
let nextSetId = 0;

/** Line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

function describe(errors: CedarWasm.DetailedError[]): { message: string; offset: number } {
  const first = errors[0];
  const offset = first?.sourceLocations?.[0]?.start ?? 0;
  const label = first?.sourceLocations?.[0]?.label;
  const message = [first?.message ?? 'invalid policy', label ? `(${label})` : '', first?.help ? `— ${first.help}` : '']
    .filter(Boolean)
    .join(' ');
  return { message, offset };
}

function ensureSchema(): void {
  if (schemaReady) return;
  const answer = cedarApi().preparseSchema(SCHEMA_NAME, CEDAR_SCHEMA);
  if (answer.type !== 'success') throw new Error(`drover's own Cedar schema does not parse: ${describe(answer.errors).message}`);
  schemaReady = true;
}

/** Cedar text to load: a file, or the policies a YAML knob compiles to (`lineOf` maps offsets to the knob's line). */
export interface PolicySource {
  file: string;
  text: string;
  lineOf?: (offset: number) => { line: number; column: number };
  /** Parsed but not validated again at load: drover's shipped tiers (validated by drover's own tests). */
  trusted?: boolean;
}

/** `@name("value")` annotations at the head of one policy's text, and its effect. */
function headOf(text: string): { annotations: Record<string, string>; effect: 'permit' | 'forbid' | null } {
  const annotations: Record<string, string> = {};
  const re = /\s*(?:\/\/[^\n]*\n\s*)*@([A-Za-z_][A-Za-z0-9_]*)(?:\s*\(\s*("(?:[^"\\]|\\.)*")\s*\))?/y;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let value = '';
    try {
      value = m[2] ? (JSON.parse(m[2]) as string) : '';
    } catch {
      value = (m[2] ?? '').slice(1, -1);
    }
    annotations[m[1] as string] = value;
    at = re.lastIndex;
  }
  const effect = /^\s*(?:\/\/[^\n]*\n\s*)*(permit|forbid)\b/.exec(text.slice(at))?.[1] as 'permit' | 'forbid' | undefined;
  return { annotations, effect: effect ?? null };
}

/**
 * Parses and validates Cedar policies against drover's schema (strict mode), all sources in one
 * pass of Cedar's parser and validator (each costs a schema parse), errors mapped back to the
 * source, line and column they are in.
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) with file, line, column and Cedar's message;
 *   also for a policy without `@id("...")` or two policies with one id in one source file
 */
export function parsePolicySources(sources: readonly PolicySource[]): LoadedPolicy[] {
  if (sources.length === 0) return [];
  const all = joined(sources);
  const { text: combined, locate } = all;
  const refuse = (offset: number, message: string, where = all): never => {
    const { source, pos } = where.locate(offset);
    throw new PolicyFileError(source.file, pos.line, pos.column, message);
  };
  const parts = cedarApi().policySetTextToParts(combined);
  if (parts.type !== 'success') {
    const d = describe(parts.errors);
    return refuse(d.offset, d.message);
  }
  if (parts.policy_templates.length > 0) refuse(combined.indexOf('?'), 'policy templates are not supported; write static policies');
  const untrusted = sources.filter((s) => !s.trusted);
  if (untrusted.length > 0) {
    const checked = joined(untrusted);
    const validation = cedarApi().validate({
      schema: CEDAR_SCHEMA,
      policies: { staticPolicies: checked.text },
      validationSettings: { mode: 'strict' },
    });
    if (validation.type !== 'success') {
      const d = describe(validation.errors);
      return refuse(d.offset, d.message, checked);
    }
    const invalid = validation.validationErrors[0];
    if (invalid) {
      const d = describe([invalid.error]);
      refuse(d.offset, d.message.replace(/^for policy `policy\d+`, /, ''), checked);
    }
  }
  const out: LoadedPolicy[] = [];
  const seen = new Set<string>();
  // Cedar does not return the parts in source order: each is found by its text (identical texts in turn).
  const used = new Set<number>();
  for (const part of parts.policies) {
    let found = combined.indexOf(part);
    while (found >= 0 && used.has(found)) found = combined.indexOf(part, found + 1);
    if (found >= 0) used.add(found);
    const offset = Math.max(0, found);
    const { annotations, effect } = headOf(part);
    const id = annotations.id;
    if (!id || !/^[A-Za-z0-9_.:-]+$/.test(id)) {
      refuse(offset, 'every policy needs an @id("...") annotation (letters, digits, . _ : -): it is the rule id decisions name');
    }
    if (id === DEFAULT_DENY || id === ENGINE_ERROR) refuse(offset, `@id("${id}") is reserved`);
    const { source, pos } = locate(offset);
    const key = `${source.file}\u0000${id}`;
    if (seen.has(key)) refuse(offset, `@id("${id}") is used twice in this file`);
    seen.add(key);
    out.push({ id: id as string, text: part, effect: effect ?? 'permit', file: source.file, line: pos.line, annotations });
  }
  return out;
}

/** Sources joined into one Cedar text, and where an offset of it lies. */
function joined(sources: readonly PolicySource[]) {
  const starts: number[] = [];
  let text = '';
  for (const s of sources) {
    starts.push(text.length);
    text += `${s.text}\n\n`;
  }
  const locate = (offset: number) => {
    let i = starts.length - 1;
    while (i > 0 && (starts[i] as number) > offset) i--;
    const source = sources[i] as PolicySource;
    const local = offset - (starts[i] as number);
    return { source, local, pos: source.lineOf ? source.lineOf(local) : lineColumn(source.text, local) };
  };
  return { text, locate };
}

/**
 * Parses and validates one file of Cedar policies ({@link parsePolicySources} for one source).
 * @throws PolicyFileError as parsePolicySources
 */
export function parsePolicyFile(file: string, text: string, lineOf?: (offset: number) => { line: number; column: number }): LoadedPolicy[] {
  return parsePolicySources([{ file, text, ...(lineOf ? { lineOf } : {}) }]);
}

/**
 * A set of loaded policies, preparsed once into Cedar, answering decisions. Decisions are pure
 * functions of the request, so they are cached (exact request key, bounded size).
 */
export class PolicyEngine {
  readonly policies: ReadonlyMap<string, LoadedPolicy>;
  private readonly setId: string;
  private readonly cache = new Map<string, Decision>();
  /** Every identifier any policy's text contains: an attribute named by none cannot change a decision. */
  private readonly words: ReadonlySet<string>;
  /** Cached decisions kept at most (the cache is dropped whole when full). */
  static readonly CACHE_LIMIT = 20_000;

  /**
   * @throws PolicyFileError when Cedar refuses the combined set (a policy that only fails next to others)
   */
  constructor(policies: LoadedPolicy[]) {
    ensureSchema();
    this.policies = new Map(policies.map((p) => [p.id, p]));
    this.setId = `drover-${nextSetId++}`;
    this.words = new Set(policies.flatMap((p) => p.text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []));
    const staticPolicies: Record<string, string> = {};
    for (const p of policies) staticPolicies[p.id] = p.text;
    const answer = cedarApi().preparsePolicySet(this.setId, { staticPolicies });
    if (answer.type !== 'success') {
      const p = policies[0];
      throw new PolicyFileError(p?.file ?? '(policies)', p?.line ?? 1, 1, describe(answer.errors).message);
    }
  }

  /** Cedar's answer, fail-closed. Never throws. */
  decide(request: PolicyRequest): Decision {
    const key = this.cacheKey(request);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const decision = this.evaluate(request);
    if (this.cache.size >= PolicyEngine.CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, decision);
    return decision;
  }

  /**
   * The cache key of a request: everything Cedar sees, except the resource's and context's
   * attributes that no policy names (they cannot change the answer), so an agent result's label
   * or a file's name does not split the cache when no rule reads it.
   */
  private cacheKey(r: PolicyRequest): string {
    const p = r.principal;
    const used = (o: Record<string, unknown> | undefined) => (o ? Object.entries(o).filter(([k]) => this.words.has(k)) : null);
    return JSON.stringify([p.name, p.tier, p.owner, r.action, r.resource.type, r.resource.id, used(r.resource.attrs), used(r.context)]);
  }

  /** A decision without the cache (for the bench and tests of the cache). */
  evaluate(request: PolicyRequest): Decision {
    const { principal, resource } = request;
    try {
      const answer = cedarApi().statefulIsAuthorized({
        principal: { type: 'Workflow', id: principal.name },
        action: { type: 'Action', id: request.action },
        resource: { type: resource.type, id: resource.id },
        context: request.context ?? {},
        preparsedPolicySetId: this.setId,
        preparsedSchemaName: SCHEMA_NAME,
        validateRequest: false,
        entities: [
          {
            uid: { type: 'Workflow', id: principal.name },
            attrs: { name: principal.name, tier: principal.tier, owner: principal.owner },
            parents: [],
          },
          ...(resource.attrs ? [{ uid: { type: resource.type, id: resource.id }, attrs: resource.attrs, parents: [] }] : []),
        ],
      });
      if (answer.type !== 'success') {
        return { allow: false, ruleIds: [ENGINE_ERROR], error: describe(answer.errors).message };
      }
      const { decision, diagnostics } = answer.response;
      const errored = diagnostics.errors.map((e) => e.policyId);
      if (errored.length > 0) {
        // A policy that errored is skipped by Cedar; a skipped forbid must not let an action through.
        return {
          allow: false,
          ruleIds: [...new Set(errored)],
          error: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '),
        };
      }
      const reasons = [...diagnostics.reason].sort();
      if (decision === 'allow') return { allow: true, ruleIds: reasons };
      return { allow: false, ruleIds: reasons.length > 0 ? reasons : [DEFAULT_DENY] };
    } catch (err) {
      return { allow: false, ruleIds: [ENGINE_ERROR], error: err instanceof Error ? err.message : String(err) };
    }
  }
}
