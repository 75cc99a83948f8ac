import { formatEffectivePolicy } from '../../policy/index.js';
import { checkWorkflowPolicy } from '../../workflow/policy-check.js';
import type { GlobalFlags } from '../context.js';
import { EXIT, printJson } from '../output.js';

type Flags = GlobalFlags & { workdir?: string };

/**
 * `drover policy check <script> [--workdir dir] [--json]`: exit 0 with the effective policy;
 * 2 when the script or a policy file is bad (`POLICY_INVALID` names file, line and the validator's message).
 */
export async function policyCheckCommand(script: string, flags: Flags): Promise<number> {
  const effective = await checkWorkflowPolicy(script, flags.workdir ? { workdir: flags.workdir } : {});
  if (flags.json) printJson(effective);
  else process.stdout.write(`${formatEffectivePolicy(effective).join('\n')}\n`);
  return EXIT.ok;
}
