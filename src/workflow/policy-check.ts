/**
 * @module `drover policy check wf.js`: a workflow's effective policy before anything runs — the
 * script's meta (tier, owner) against the shipped tiers and the project's `.drover/policy/`.
 */
import { resolve } from 'node:path';
import { PRICES } from '../budget/prices.js';
import { findProjectRoot } from '../config/index.js';
import { type EffectivePolicy, effectivePolicy, loadPolicyEngine, WorkflowPolicy } from '../policy/index.js';
import { loadWorkflowFile } from './loader.js';

export interface PolicyCheckOptions {
  /** Project root whose `.drover/policy/` applies; default: the one found from `workdir` (as `drover run` does). */
  root?: string;
  /** The workspace the run would use; default: the current directory. */
  workdir?: string;
}

/**
 * The effective policy of the workflow in `script`.
 * @throws ScriptError when the script does not load; PolicyFileError (`POLICY_INVALID`, exit 2) for a bad policy file
 */
export async function checkWorkflowPolicy(script: string, options: PolicyCheckOptions = {}): Promise<EffectivePolicy> {
  const loaded = await loadWorkflowFile(script);
  const workdir = resolve(options.workdir ?? process.cwd());
  const engine = loadPolicyEngine({ root: options.root ?? findProjectRoot(workdir) });
  const policy = new WorkflowPolicy(engine, loaded.meta, workdir);
  return effectivePolicy(policy, Object.keys(PRICES), engine.files);
}
