/**
 * @module Where policies come from: the shipped tiers (src/policy/tiers/*.cedar, copied to
 * dist/policy/tiers by the build) and the project's `.drover/policy/` (`*.cedar` and `*.yaml` /
 * `*.yml`, read in name order). A project policy with the `@id` of a shipped one replaces it;
 * two project policies with one id are refused.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LoadedPolicy, PolicyEngine, type PolicySource, parsePolicySources } from './engine.js';
import { PolicyFileError } from './errors.js';
import { yamlPolicySources } from './yaml-form.js';

/** The shipped tier files' directory. */
export const SHIPPED_POLICY_DIR = dirname(fileURLToPath(new URL('./tiers/base.cedar', import.meta.url)));

/** The project's policy directory under its root. */
export const projectPolicyDir = (root: string) => join(root, '.drover', 'policy');

export interface PolicyLoadOptions {
  /** The project root: its `.drover/policy/` is read. Absent: the shipped tiers only. */
  root?: string;
  /** Another directory of shipped tiers (tests). */
  shippedDir?: string;
}

/** What was loaded: the policies (by id) and the project files read. */
export interface LoadedPolicies {
  policies: LoadedPolicy[];
  files: string[];
}

function listFiles(dir: string, exts: readonly string[]): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) return [];
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => exts.some((e) => n.endsWith(e)))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Reads and validates every policy file: the shipped tiers, then the project's.
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) for the first bad file, with file, line and the validator's message
 */
export function readPolicies(options: PolicyLoadOptions = {}): LoadedPolicies {
  const shippedDir = options.shippedDir ?? SHIPPED_POLICY_DIR;
  const shipped = listFiles(shippedDir, ['.cedar']);
  if (shipped.length === 0) throw new PolicyFileError(shippedDir, 1, 1, "drover's shipped tier policies are missing (a broken install?)");
  const sources: PolicySource[] = shipped.map((file) => ({
    file: `(drover)/${relative(shippedDir, file)}`,
    text: readFileSync(file, 'utf8'),
    // drover's own tiers: validated by its tests (test/policy-engine.test.ts), only parsed here.
    trusted: options.shippedDir === undefined,
  }));
  const shippedFiles = new Set(sources.map((s) => s.file));
  const files: string[] = [];
  if (options.root) {
    for (const file of listFiles(projectPolicyDir(options.root), ['.cedar', '.yaml', '.yml'])) {
      files.push(file);
      const shown = relative(options.root, file) || file;
      const text = readFileSync(file, 'utf8');
      sources.push(...(file.endsWith('.cedar') ? [{ file: shown, text }] : yamlPolicySources(shown, text)));
    }
  }
  // One pass of Cedar's parser and validator over every source (each pass parses the schema again).
  const byId = new Map<string, LoadedPolicy>();
  const own = new Map<string, LoadedPolicy>();
  const parsed = parsePolicySources(sources);
  // Cedar returns the policies in no particular order: the shipped ones first, then the project's over them.
  for (const p of parsed) if (shippedFiles.has(p.file)) byId.set(p.id, p);
  for (const p of parsed) {
    if (shippedFiles.has(p.file)) continue;
    const twice = own.get(p.id);
    if (twice && twice.file !== p.file) {
      throw new PolicyFileError(p.file, p.line, 1, `@id("${p.id}") is already declared at ${twice.file}:${twice.line}`);
    }
    own.set(p.id, p);
    const replaced = byId.get(p.id);
    byId.set(p.id, replaced ? { ...p, overrides: `${replaced.file}:${replaced.line}` } : p);
  }
  return { policies: [...byId.values()], files };
}

/**
 * The engine for a project: its policies read, validated and preparsed.
 * @throws PolicyFileError (`POLICY_INVALID`, exit 2) as {@link readPolicies}
 */
export function loadPolicyEngine(options: PolicyLoadOptions = {}): PolicyEngine & { files: string[] } {
  const { policies, files } = readPolicies(options);
  return Object.assign(new PolicyEngine(policies), { files });
}
