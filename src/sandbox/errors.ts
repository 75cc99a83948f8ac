/** @module The sandbox's refusals. */
import { DroverError } from '../core/index.js';

/**
 * - `SANDBOX_UNAVAILABLE` (exit 1): the spec asks for a sandbox and bubblewrap is missing or cannot
 *   create namespaces here; the process was not started (fail closed). The message names what to install or allow.
 * - `SANDBOX_INVALID` (exit 2): the spec itself is wrong (a writable path that does not exist or is a
 *   symbolic link); the message names the path.
 */
export type SandboxErrorCode = 'SANDBOX_UNAVAILABLE' | 'SANDBOX_INVALID';

/** A process the sandbox refused to start; see {@link SandboxErrorCode}. */
export class SandboxError extends DroverError {
  declare readonly code: SandboxErrorCode;
  constructor(code: SandboxErrorCode, message: string) {
    super(code, message, { exitCode: code === 'SANDBOX_INVALID' ? 2 : 1 });
  }
}
