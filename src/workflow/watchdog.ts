/**
 * @module The CPU watchdog's parts: the limit of a synchronous stretch of script code
 * (`DROVER_SCRIPT_CPU_MS`), its error, and the repair of Node's async-hook stack after V8 stopped
 * a promise job. `sandbox.ts` arms the watchdog (vm `timeout` + `breakOnSigint`) on every entry.
 */
import { envInt, NUMERIC_ENV } from '../config/env.js';
import { DroverError } from '../core/index.js';

/** Environment variable that sets the CPU limit of a synchronous stretch of script code, in ms. */
export const SCRIPT_CPU_ENV = 'DROVER_SCRIPT_CPU_MS' as const;
/** Default limit of a synchronous stretch of script code: 10 s. */
export const DEFAULT_SCRIPT_CPU_MS = NUMERIC_ENV.DROVER_SCRIPT_CPU_MS.default;

/** A script ran synchronously (without awaiting) past its limit and was stopped. Code `SCRIPT_CPU_LIMIT`. */
export class ScriptCpuLimitError extends DroverError {
  constructor(limitMs: number) {
    super(
      'SCRIPT_CPU_LIMIT',
      `the script ran for ${limitMs} ms without yielding (an endless loop?) and was stopped; ` +
        `the limit is ${SCRIPT_CPU_ENV}=${limitMs} (ms)`,
    );
  }
}

/**
 * The limit of one synchronous stretch of script code, in ms, from `DROVER_SCRIPT_CPU_MS`
 * (default 10000). Throws InputError (`INVALID_INPUT`, exit 2) when it is not a whole number
 * from 1 to 2147483647.
 */
export function scriptCpuLimitMs(env: NodeJS.ProcessEnv = process.env): number {
  return envInt(SCRIPT_CPU_ENV, env);
}

/** Host-side: the async-hook stack, to repair after V8 stops a promise job (see `restoreAsyncStack`). */
interface AsyncWrapBinding {
  async_hook_fields: Uint32Array;
  async_id_fields: Float64Array;
  constants: { kStackLength: number; kExecutionAsyncId: number };
  popAsyncContext(asyncId: number): boolean;
}

let asyncWrap: AsyncWrapBinding | null | undefined;
/**
 * Node's async_wrap binding, or null. When the watchdog stops a script inside a promise job, V8
 * skips the job's `after` hook and Node's async-id stack keeps an entry it would later assert on
 * (aborting the process, Node 20.20); popping back to the depth seen before entering repairs it.
 */
function asyncWrapBinding(): AsyncWrapBinding | null {
  if (asyncWrap !== undefined) return asyncWrap;
  const quiet = process.noDeprecation;
  try {
    process.noDeprecation = true;
    const binding = (process as unknown as { binding(name: string): unknown }).binding('async_wrap') as AsyncWrapBinding;
    asyncWrap = typeof binding?.popAsyncContext === 'function' && binding.async_hook_fields ? binding : null;
  } catch {
    asyncWrap = null;
  } finally {
    process.noDeprecation = quiet;
  }
  return asyncWrap;
}

/** The depth of Node's async-id stack now (0 when the binding is unavailable). */
export function asyncStackDepth(): number {
  const b = asyncWrapBinding();
  return b ? (b.async_hook_fields[b.constants.kStackLength] ?? 0) : 0;
}

/** Pops Node's async-id stack back to `depth` (entries a stopped promise job left behind). */
export function restoreAsyncStack(depth: number): void {
  const b = asyncWrapBinding();
  if (!b) return;
  const { kStackLength, kExecutionAsyncId } = b.constants;
  while ((b.async_hook_fields[kStackLength] ?? 0) > depth) {
    if (!b.popAsyncContext(b.async_id_fields[kExecutionAsyncId] ?? 0)) break;
  }
}
