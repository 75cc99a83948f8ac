import { InputError } from '../core/index.js';
import { BuiltinBackend, type BuiltinBackendOptions } from './builtin/builtin-backend.js';
import type { AgentBackend } from './types.js';

export type { BuiltinBackendOptions } from './builtin/builtin-backend.js';
export { BuiltinBackend, SUBMIT_RESULT_TOOL, usageOf } from './builtin/builtin-backend.js';
export type { BackoffPolicy } from './retry.js';
export { validateAgainst } from './schema.js';
export type * from './types.js';

export const BACKEND_NAMES = ['builtin'] as const;

export interface BackendContext {
  /** Base URL of the model endpoint (drover's gateway or a provider-compatible server). */
  gatewayUrl: string;
  apiKey: string;
  backoff?: BuiltinBackendOptions['backoff'];
}

export function createBackend(name: string, ctx: BackendContext): AgentBackend {
  switch (name) {
    case 'builtin':
      return new BuiltinBackend({ baseURL: ctx.gatewayUrl, apiKey: ctx.apiKey, ...(ctx.backoff ? { backoff: ctx.backoff } : {}) });
    default:
      throw new InputError(`unknown backend "${name}" (available: ${BACKEND_NAMES.join(', ')})`, 'UNKNOWN_BACKEND');
  }
}
