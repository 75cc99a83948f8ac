/** @module The OS sandbox a run uses: from the run's options (`--sandbox`, the policy), else the script's `meta.sandbox`. */
import { resolve } from 'node:path';
import { checkSandboxSpec, type SandboxMeta, type SandboxSpec } from '../sandbox/index.js';

/**
 * `drover run --sandbox` (and `resume --sandbox`): the run's workdir writable (`.`, resolved
 * against it by {@link runSandboxSpec}), everything else read-only, no network.
 */
export function workspaceSandbox(): SandboxSpec {
  return { enabled: true, writablePaths: ['.'], network: 'none' };
}

/**
 * The spec a run stores and every process of it (nested workflows and agents included) runs under.
 * A spec given to the run wins over the script's `meta.sandbox` (a model-written script cannot
 * loosen what its caller set); `meta.sandbox: true` or an object without `enabled` turns it on,
 * with the workdir writable and no network unless it says otherwise. Relative paths are resolved
 * against the workdir, then checked.
 * @throws SandboxError `SANDBOX_INVALID` (exit 2) for a writable or readable path that does not
 *   exist, or a writable path that is a symbolic link — before the run exists
 */
export function runSandboxSpec(given: SandboxSpec | undefined, meta: SandboxMeta | undefined, workdir: string): SandboxSpec | undefined {
  const at = (paths: string[] | undefined) => paths?.map((p) => resolve(workdir, p));
  let spec: SandboxSpec | undefined;
  if (given) {
    spec = {
      ...given,
      writablePaths: at(given.writablePaths) ?? [],
      ...(given.readablePaths ? { readablePaths: at(given.readablePaths) } : {}),
    };
  } else if (meta !== undefined) {
    const fields = typeof meta === 'boolean' ? { enabled: meta } : meta;
    spec = {
      enabled: fields.enabled ?? true,
      writablePaths: at(fields.writablePaths) ?? [resolve(workdir)],
      network: fields.network ?? 'none',
      ...(fields.readablePaths ? { readablePaths: at(fields.readablePaths) } : {}),
      ...(fields.deniedPaths ? { deniedPaths: fields.deniedPaths } : {}),
      ...(fields.wrapAgents !== undefined ? { wrapAgents: fields.wrapAgents } : {}),
    };
  }
  if (spec) checkSandboxSpec(spec);
  return spec;
}

/**
 * The policy's sandbox setting (src/policy `WorkflowPolicy.sandbox`) as a run's spec: when the
 * tier turns it on, `sh` steps and the builtin `bash` tool run in it, writable where the policy
 * lets agents write (the workspace, when it does), with the policy's network. Undefined when off.
 */
export function policySandbox(setting: { enabled: boolean; writablePaths: string[]; network: 'none' | 'host' }): SandboxSpec | undefined {
  if (!setting.enabled) return undefined;
  return { enabled: true, writablePaths: setting.writablePaths, network: setting.network };
}
