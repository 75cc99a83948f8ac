/**
 * @module The OS sandbox (bubblewrap) for processes drover starts: `sh` steps, the builtin agent's
 * `bash` tool and, with `wrapAgents`, the agent CLIs. Depends on core only. See docs/sandbox.md.
 */
export { sandboxAgentCommand, type WrappedAgent } from './agent-wrap.js';
export { bwrapArgs, checkSandboxSpec, resolveWritable, type SandboxedCommand, sandboxCommand } from './bwrap.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';
export { INSTALL_HINT, locateBwrap, type SandboxStatus, sandboxStatus } from './probe.js';
export {
  DEFAULT_DENIED,
  PROTECTED_WITHIN_WRITABLE,
  type SandboxMeta,
  type SandboxMetaFields,
  SandboxMetaSchema,
  type SandboxSpec,
  SYSTEM_DIRS,
} from './spec.js';
