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

export function runInSandbox(body: string, filename: string, api: WorkflowApi): Promise<unknown> {
  const globals: Record<string, unknown> = {
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
