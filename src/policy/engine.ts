/**
 * @module The policy engine: Cedar (`@cedar-policy/cedar-wasm`, its Node entry) with drover's
 * schema. Policies are checked and validated when loaded; every decision names the `@id`s of the
 * policies that decided it, and is fail-closed: an engine error, or a policy that errored while
 * being evaluated, denies.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
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

const SCHEMA_NAME = 'drover';
let schemaReady = false;
let nextSetId = 0;

/** Line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

function describe(errors: cedar.DetailedError[]): { message: string; offset: number } {
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
  const answer = cedar.preparseSchema(SCHEMA_NAME, CEDAR_SCHEMA);
  if (answer.type !== 'success') throw new Error(`drover's own Cedar schema does not parse: ${describe(answer.errors).message}`);
  schemaReady = true;
}

/**
 * Parses and validates one file of Cedar policies against drover's schema (strict mode).
 * `lineOf` maps a character offset of `text` to a line of `file` (YAML knobs compile to Cedar
 * text whose errors are reported at the knob's line).
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) with file, line, column and Cedar's message;
 *   also for a policy without `@id("...")` or two policies with one id in the file
 */
export function parsePolicyFile(file: string, text: string, lineOf?: (offset: number) => { line: number; column: number }): LoadedPolicy[] {
  const where = lineOf ?? ((offset: number) => lineColumn(text, offset));
  const refuse = (offset: number, message: string): never => {
    const at = where(offset);
    throw new PolicyFileError(file, at.line, at.column, message);
  };
  const parts = cedar.policySetTextToParts(text);
  if (parts.type !== 'success') {
    const d = describe(parts.errors);
    return refuse(d.offset, d.message);
  }
  if (parts.policy_templates.length > 0) refuse(0, 'policy templates are not supported; write static policies');
  const validation = cedar.validate({ schema: CEDAR_SCHEMA, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } });
  if (validation.type !== 'success') {
    const d = describe(validation.errors);
    return refuse(d.offset, d.message);
  }
  const invalid = validation.validationErrors[0];
  if (invalid) {
    const d = describe([invalid.error]);
    refuse(d.offset, d.message.replace(/^for policy `policy\d+`, /, ''));
  }
  const out: LoadedPolicy[] = [];
  const seen = new Set<string>();
  let cursor = 0;
  for (const part of parts.policies) {
    const found = text.indexOf(part, cursor);
    const offset = found >= 0 ? found : cursor;
    if (found >= 0) cursor = found + part.length;
    const json = cedar.policyToJson(part);
    if (json.type !== 'success') return refuse(offset, describe(json.errors).message);
    const annotations = { ...(json.json.annotations ?? {}) } as Record<string, string>;
    const id = annotations.id;
    if (!id || !/^[A-Za-z0-9_.:-]+$/.test(id)) {
      refuse(offset, 'every policy needs an @id("...") annotation (letters, digits, . _ : -): it is the rule id decisions name');
    }
    if (id === DEFAULT_DENY || id === ENGINE_ERROR) refuse(offset, `@id("${id}") is reserved`);
    if (seen.has(id as string)) refuse(offset, `@id("${id}") is used twice in this file`);
    seen.add(id as string);
    out.push({ id: id as string, text: part, effect: json.json.effect, file, line: where(offset).line, annotations });
  }
  return out;
}

/**
 * A set of loaded policies, preparsed once into Cedar, answering decisions. Decisions are pure
 * functions of the request, so they are cached (exact request key, bounded size).
 */
export class PolicyEngine {
  readonly policies: ReadonlyMap<string, LoadedPolicy>;
  private readonly setId: string;
  private readonly cache = new Map<string, Decision>();
  /** Cached decisions kept at most (the cache is dropped whole when full). */
  static readonly CACHE_LIMIT = 20_000;

  /**
   * @throws PolicyFileError when Cedar refuses the combined set (a policy that only fails next to others)
   */
  constructor(policies: LoadedPolicy[]) {
    ensureSchema();
    this.policies = new Map(policies.map((p) => [p.id, p]));
    this.setId = `drover-${nextSetId++}`;
    const staticPolicies: Record<string, string> = {};
    for (const p of policies) staticPolicies[p.id] = p.text;
    const answer = cedar.preparsePolicySet(this.setId, { staticPolicies });
    if (answer.type !== 'success') {
      const p = policies[0];
      throw new PolicyFileError(p?.file ?? '(policies)', p?.line ?? 1, 1, describe(answer.errors).message);
    }
  }

  /** Cedar's answer, fail-closed. Never throws. */
  decide(request: PolicyRequest): Decision {
    const key = cacheKey(request);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const decision = this.evaluate(request);
    if (this.cache.size >= PolicyEngine.CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, decision);
    return decision;
  }

  /** A decision without the cache (for the bench and tests of the cache). */
  evaluate(request: PolicyRequest): Decision {
    const { principal, resource } = request;
    try {
      const answer = cedar.statefulIsAuthorized({
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

function cacheKey(r: PolicyRequest): string {
  const p = r.principal;
  return JSON.stringify([p.name, p.tier, p.owner, r.action, r.resource.type, r.resource.id, r.resource.attrs ?? null, r.context ?? null]);
}
