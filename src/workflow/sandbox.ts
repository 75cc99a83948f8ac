import vm from 'node:vm';
import type { WorkflowApi } from './api.js';

/**
 * Runs a Claude-Code-format script body in its own V8 context: the workflow
 * globals and the language's built-ins, no Node APIs (no require, process,
 * timers, fetch). Date and Math.random are replaced by journaled versions.
 * node:vm isolates globals; it is not a security boundary against hostile code.
 */
const BOOTSTRAP = `(function (bridge) {
  'use strict';
  const RealDate = Date;
  function DroverDate(...a) {
    if (!new.target) return new RealDate(bridge.now()).toString();
    return a.length === 0 ? new RealDate(bridge.now()) : new RealDate(...a);
  }
  Object.setPrototypeOf(DroverDate, RealDate);
  DroverDate.prototype = RealDate.prototype;
  Object.defineProperty(RealDate.prototype, 'constructor', { value: DroverDate, writable: true, configurable: true });
  DroverDate.now = function now() { return bridge.now(); };
  globalThis.Date = DroverDate;
  Math.random = function random() { return bridge.random(); };
})`;

/** What the host lends a script besides the workflow API. */
export interface ScriptHost {
  /** Marks host work the script waits on (a timer) so the run is not taken for idle meanwhile. */
  track<T>(work: Promise<T>): Promise<T>;
}

/**
 * `setTimeout`/`clearTimeout` as Claude Code scripts have them: real (not journaled) timers.
 * A callback that throws is logged, never thrown into the driver.
 */
function timers(api: WorkflowApi, host: ScriptHost | undefined) {
  let nextId = 1;
  const pending = new Map<number, { timer: NodeJS.Timeout; done: () => void }>();
  return {
    setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]): number {
      if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
      const id = nextId++;
      let done = () => {};
      const settled = new Promise<void>((resolve) => {
        done = resolve;
      });
      void (host ? host.track(settled) : settled);
      const delayMs = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, 2 ** 31 - 1) : 0;
      const timer = setTimeout(() => {
        pending.delete(id);
        try {
          (fn as (...a: unknown[]) => unknown)(...args);
        } catch (err) {
          api.log(`setTimeout callback failed: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          done();
        }
      }, delayMs);
      // While the run lasts, the timer is tracked as in flight; it never keeps the process alive after the run ended.
      timer.unref();
      pending.set(id, { timer, done });
      return id;
    },
    clearTimeout(id: unknown): void {
      const entry = typeof id === 'number' ? pending.get(id) : undefined;
      if (!entry) return;
      clearTimeout(entry.timer);
      pending.delete(id as number);
      entry.done();
    },
  };
}

export function runInSandbox(body: string, filename: string, api: WorkflowApi, host?: ScriptHost): Promise<unknown> {
  const t = timers(api, host);
  const globals: Record<string, unknown> = {
    setTimeout: t.setTimeout,
    clearTimeout: t.clearTimeout,
    scriptDir: api.scriptDir,
    agent: api.agent,
    parallel: api.parallel,
    pipeline: api.pipeline,
    phase: api.phase,
    log: api.log,
    budget: api.budget,
    workflow: api.workflow,
    sh: api.sh,
    ask: api.ask,
    sleep: api.sleep,
    tasks: api.tasks,
    console: { log: api.log, info: api.log, warn: api.log, error: api.log },
  };
  const context = vm.createContext(globals, { name: `drover:${filename}`, codeGeneration: { strings: false, wasm: false } });
  (vm.runInContext(BOOTSTRAP, context) as (b: unknown) => void)({ now: api.now, random: api.random });
  // args: a copy made inside the context, so the script sees its own realm's objects.
  context.args = vm.runInContext(
    '(s) => (s === undefined ? undefined : JSON.parse(s))',
    context,
  )(api.args === undefined ? undefined : JSON.stringify(api.args));
  // The wrapper sits on line 0, so line numbers in errors are the file's own.
  const script = new vm.Script(`(async function () {\n${body}\n})`, { filename, lineOffset: -1 });
  const fn = script.runInContext(context) as () => Promise<unknown>;
  return fn();
}
