/**
 * @module The sandbox of Claude-Code-format scripts.
 *
 * A script runs in its own V8 context (`node:vm`) that holds only values created inside it:
 * the language's built-ins, and drover's globals as functions made by the BOOTSTRAP below in
 * that context. Those call the host through closures the script cannot reach, and everything
 * crossing the boundary is a string or a number: arguments leave as JSON made in the context,
 * results and errors come back as JSON parsed in the context (errors rebuilt as the context's own
 * `Error` with the same name, message and code). Functions a script passes (`parallel` thunks,
 * `pipeline` stages, `setTimeout` callbacks) stay in the context; the host holds a number for each
 * and asks the context to call it, synchronously, inside the `parallel` branch that calls it.
 *
 * Why hand-written and not a library: `isolated-vm`'s current release (7.0.1) requires Node ≥ 24
 * and the 5.x line that runs on Node 20 is a native addon compiled at install (node-gyp); either
 * way its isolates share neither drover's AsyncLocalStorage branch tracking (which `parallel`
 * needs across an `await`) nor synchronous calls into the runtime (a thunk must start inside the
 * runtime's own call), so every global would become a message protocol. SES gets its guarantees
 * from `lockdown()`, which freezes the intrinsics of the whole driver process (and the libraries
 * it loads), not only the script's. A vm context with a JSON membrane needs neither, and the
 * escape routes it closes are pinned by test/sandbox.test.ts.
 *
 * The CPU watchdog: the context runs with `microtaskMode: 'afterEvaluate'`, so its promise jobs
 * run only when the host enters it, and the host enters it only through `runInContext` with a
 * `timeout`: a synchronous stretch of script code (top-level code, a thunk, the continuation after
 * an `await`) that runs past the limit is stopped. Not `breakOnSigint`: on Node 20 a SIGINT that
 * arrives between two guarded entries was lost afterwards for processes started with SIGINT
 * ignored (as test runners and some CI runners start them), so Ctrl-C stopped working for whole
 * runs. A Ctrl-C during a synchronous spin takes effect when the watchdog ends it.
 */
import vm from 'node:vm';
import * as acorn from 'acorn';
import { errorMessage, isErrorLike, ScriptError } from '../core/index.js';
import type { WorkflowApi } from './api.js';
import { RunAbortedError } from './errors.js';
import { asyncStackDepth, restoreAsyncStack, ScriptCpuLimitError, scriptCpuLimitMs } from './watchdog.js';

export { DEFAULT_SCRIPT_CPU_MS, SCRIPT_CPU_ENV, ScriptCpuLimitError, scriptCpuLimitMs } from './watchdog.js';

/** Plain-data fields of a drover error a script may read (e.g. `cap`, `spentUsd`): JSON-safe own enumerable properties. */
function errorData(err: object): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (['name', 'message', 'stack', 'code', 'cause', 'exitCode'].includes(key) || typeof value === 'function') continue;
    try {
      out[key] = JSON.parse(JSON.stringify(value)) as unknown;
    } catch {
      // not JSON: left out
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** What the host lends a script besides the workflow API. */
export interface ScriptHost {
  /** Marks host work the script waits on (a timer, a result entering the script) so the run is not taken for idle meanwhile. */
  track<T>(work: Promise<T>): Promise<T>;
  /** The run's stop signal: once it fires, no script code runs again (a loop that was about to start never does). */
  readonly signal?: AbortSignal;
}

/**
 * The offset of the first `import()` expression in a script, or undefined. Node rejects an
 * `import()` in a vm context with an error of the host's realm (whose constructor chain reaches
 * `process`), so a script with one is refused before it runs; without eval no script can build one.
 */
export function dynamicImportOffset(source: string): number | undefined {
  let program: acorn.Node;
  try {
    program = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'script', allowReturnOutsideFunction: true, allowHashBang: true });
  } catch {
    return undefined; // V8 reports the syntax error itself
  }
  const stack: unknown[] = [program];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    const n = node as { type?: unknown; start?: number };
    if (n.type === 'ImportExpression') return n.start;
    for (const [key, value] of Object.entries(node)) if (key !== 'loc' && value && typeof value === 'object') stack.push(value);
  }
  return undefined;
}

/** The context-side functions the host calls (all made by BOOTSTRAP; none runs script code synchronously but `invoke` and `fire`). */
interface Inner {
  register(fn: unknown): number;
  invoke(token: number, fnId: number, argsJson: string): void;
  settle(callId: number, ok: boolean, payload: string | undefined): void;
  fire(timerId: number): void;
  makeError(json: string): unknown;
  parse(json: string): unknown;
}

/**
 * Runs inside the context before the script. Captures the intrinsics it uses, so a script that
 * rewrites `JSON`, `Promise` or prototypes changes only what it itself sees. `bridge` holds host
 * functions: they stay in this closure, take and return only strings and numbers, and never throw.
 */
const BOOTSTRAP = `(function (bridge, enterName) {
  'use strict';
  const hostCall = bridge.call, hostDone = bridge.done, hostTimer = bridge.timer, hostClear = bridge.clear,
    hostNow = bridge.now, hostRandom = bridge.random, hostEnter = bridge.enter;
  const { apply, defineProperty: define } = Reflect;
  const { stringify, parse } = JSON;
  const { freeze } = Object;
  const CError = Error, CTypeError = TypeError, CPromise = Promise, CMap = Map, CWeakMap = WeakMap, CNumber = Number, CString = String;
  const then = CPromise.prototype.then, resolveP = CPromise.resolve, rejectP = CPromise.reject;
  const mapGet = CMap.prototype.get, mapSet = CMap.prototype.set, mapDel = CMap.prototype.delete;
  const wmGet = CWeakMap.prototype.get, wmSet = CWeakMap.prototype.set;
  const strSlice = CString.prototype.slice, charAt = CString.prototype.charAt;
  const isArray = Array.isArray;
  const get = (m, k) => apply(mapGet, m, [k]);
  const set = (m, k, v) => apply(mapSet, m, [k, v]);
  const del = (m, k) => apply(mapDel, m, [k]);

  // Calls a host function; whatever goes wrong there reaches the script as this realm's Error.
  function host(fn, args) {
    try {
      return apply(fn, undefined, args);
    } catch {
      throw new CError('drover: the call could not be made');
    }
  }

  const fns = new CMap();
  let nextFn = 1;
  function register(fn) {
    const id = nextFn++;
    set(fns, id, fn);
    return id;
  }
  const hostErrors = new CWeakMap();
  function makeError(json) {
    const e = parse(json);
    const err = new CError(typeof e.message === 'string' ? e.message : 'error');
    if (typeof e.name === 'string') define(err, 'name', { value: e.name, writable: true, configurable: true });
    if (typeof e.code === 'string') define(err, 'code', { value: e.code, writable: true, configurable: true, enumerable: true });
    // What a drover error carries besides its message (a BudgetExceededError's cap and spend), as plain data.
    if (e.data !== null && typeof e.data === 'object') {
      for (const key of keysOf(e.data)) {
        if (key === 'name' || key === 'message' || key === 'stack' || key === 'code' || key === '__proto__') continue;
        define(err, key, { value: e.data[key], writable: true, configurable: true, enumerable: true });
      }
    }
    if (typeof e.id === 'number') apply(wmSet, hostErrors, [err, e.id]);
    return err;
  }
  // A thrown value, as JSON the host rebuilds: the host's own error when it came from the host.
  function errorOut(e) {
    try {
      if ((typeof e !== 'object' && typeof e !== 'function') || e === null) {
        return stringify({ value: e === undefined ? null : e, primitive: true });
      }
      const id = apply(wmGet, hostErrors, [e]);
      if (id !== undefined) return stringify({ id });
      if (e instanceof CError) {
        const { name, message, stack, code } = e;
        return stringify({
          error: true,
          name: typeof name === 'string' ? name : 'Error',
          message: typeof message === 'string' ? message : CString(message),
          stack: typeof stack === 'string' ? stack : undefined,
          code: typeof code === 'string' ? code : undefined,
        });
      }
      return stringify({ value: e });
    } catch {
      return stringify({ error: true, name: 'Error', message: 'the script threw a value that cannot be read' });
    }
  }
  // Outgoing arguments: JSON made here. An undefined argument stays undefined; with collect, a
  // function becomes a handle the host calls back through invoke(), otherwise it is dropped.
  const UNDEF = freeze({ '\\u0000undefined': 1 });
  function argsOut(args, collect) {
    return stringify(args, function (key, value) {
      if (value === undefined && this === args) return UNDEF;
      if (typeof value === 'function') {
        if (!collect) return undefined;
        const id = register(value);
        collect[collect.length] = id;
        return { '\\u0000fn': id };
      }
      if (typeof value === 'bigint') throw new CTypeError('drover: a BigInt cannot be passed to drover');
      return value;
    });
  }
  function valueIn(payload) {
    if (payload === undefined) return undefined;
    const tag = apply(charAt, payload, [0]);
    const rest = apply(strSlice, payload, [1]);
    return tag === 'n' ? CNumber(rest) : parse(rest);
  }

  const calls = new CMap();
  let nextCall = 1;
  function call(name, args, withFns) {
    const owned = withFns ? [] : undefined;
    const outcome = host(hostCall, [name, argsOut(args, owned)]);
    const tag = apply(charAt, outcome, [0]);
    const rest = apply(strSlice, outcome, [1]);
    if (tag === 'e') {
      throw makeError(rest);
    }
    if (tag !== 'p') return valueIn(outcome === 'u' ? undefined : outcome);
    return new CPromise((resolve, reject) => set(calls, CNumber(rest), { resolve, reject, owned }));
  }
  function callAsync(name, args, withFns) {
    try {
      return call(name, args, withFns);
    } catch (e) {
      return apply(rejectP, CPromise, [e]);
    }
  }
  function settle(callId, ok, payload) {
    const c = get(calls, callId);
    if (!c) return;
    del(calls, callId);
    if (c.owned) for (let i = 0; i < c.owned.length; i++) del(fns, c.owned[i]);
    if (ok) c.resolve(valueIn(payload));
    else c.reject(makeError(payload));
  }
  // Where a value handed back to drover stops being JSON data: a BigInt or a cycle (stringify
  // throws) or a function or Symbol (stringify drops it). A sentence naming the path, or ''.
  const keysOf = Object.keys, reTest = RegExp.prototype.test, IDENT = /^[A-Za-z_$][\\w$]*$/;
  function notJson(value) {
    try {
      const stack = [[value, '', '']], open = new CMap();
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        stack.length = stack.length - 1;
        if (top[0] === open) {
          del(open, top[1]);
          continue;
        }
        let v = top[0];
        const path = top[2];
        if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof v.toJSON === 'function') v = apply(v.toJSON, v, [top[1]]);
        const t = typeof v;
        let what = '';
        if (t === 'bigint') what = 'a BigInt (' + CString(v) + 'n); JSON has no BigInt: convert it with String() or Number()';
        else if (t === 'symbol') what = 'a Symbol; JSON cannot hold it: return plain data';
        else if (t === 'function') what = 'a function; JSON cannot hold it: return plain data (did you mean to call it?)';
        else if (t === 'object' && v !== null) {
          const back = get(open, v);
          if (back !== undefined) {
            what = 'a cycle back to ' + (back === '' ? 'the top' : back) + '; JSON cannot hold a cycle';
          } else {
            set(open, v, path);
            stack[stack.length] = [open, v, ''];
            const keys = isArray(v) ? null : keysOf(v);
            const n = keys === null ? v.length : keys.length;
            for (let i = n - 1; i >= 0; i--) {
              if (keys === null) stack[stack.length] = [v[i], CString(i), path + '[' + i + ']'];
              else {
                const k = keys[i];
                stack[stack.length] = [v[k], k, path + (apply(reTest, IDENT, [k]) ? '.' + k : '[' + stringify(k) + ']')];
              }
            }
          }
        }
        if (what !== '') return 'the returned value' + path + ' is ' + what;
      }
    } catch {}
    return '';
  }
  function finish(token, ok, value) {
    let payload;
    try {
      if (ok && value !== undefined) {
        const bad = notJson(value);
        if (bad !== '') throw new CTypeError(bad);
      }
      payload = ok ? (value === undefined ? undefined : stringify(value)) : errorOut(value);
    } catch (e) {
      ok = false;
      payload = errorOut(e);
    }
    host(hostDone, [token, ok, payload]);
  }
  function invoke(token, fnId, argsJson) {
    let p;
    try {
      const fn = get(fns, fnId);
      if (typeof fn !== 'function') throw new CError('drover: this function is no longer callable');
      p = apply(resolveP, CPromise, [apply(fn, undefined, parse(argsJson))]);
    } catch (e) {
      p = apply(rejectP, CPromise, [e]);
    }
    apply(then, p, [(v) => finish(token, true, v), (e) => finish(token, false, e)]);
  }

  // Timers: the callback and its arguments stay here; the host only keeps time.
  const timers = new CMap();
  let nextTimer = 1;
  function fire(id) {
    const t = get(timers, id);
    if (!t) return;
    del(timers, id);
    try {
      apply(t.fn, undefined, t.args);
    } catch (e) {
      let message;
      try { message = e instanceof CError ? CString(e.message) : CString(e); } catch { message = 'an unreadable value'; }
      host(hostCall, ['log', stringify(['setTimeout callback failed: ' + message])]);
    }
  }

  const method = (name, withFns, async) => {
    const key = apply(strSlice, name, [name.lastIndexOf('.') + 1]);
    const holder = async
      ? { [key](...args) { return callAsync(name, args, withFns); } }
      : { [key](...args) { return call(name, args, false); } };
    return freeze(holder[key]);
  };
  const g = globalThis;
  const globals = {
    agent: method('agent', false, true),
    parallel: method('parallel', true, true),
    pipeline: method('pipeline', true, true),
    workflow: method('workflow', false, true),
    sh: method('sh', false, true),
    ask: method('ask', false, true),
    sleep: method('sleep', false, true),
    phase: method('phase', false, false),
    log: method('log', false, false),
    console: freeze({ log: method('log', false, false), info: method('log', false, false), warn: method('log', false, false), error: method('log', false, false) }),
    budget: freeze({
      get total() { return call('budget.total', [], false); },
      spent: method('budget.spent', false, false),
      remaining: method('budget.remaining', false, false),
    }),
    tasks: freeze({
      get listId() { return call('tasks.listId', [], false); },
      create: method('tasks.create', false, true),
      update: method('tasks.update', false, true),
      ready: method('tasks.ready', false, true),
      claim: method('tasks.claim', false, true),
      complete: method('tasks.complete', false, true),
      list: method('tasks.list', false, true),
    }),
    setTimeout: freeze({ setTimeout(fn, ms, ...args) {
      if (typeof fn !== 'function') throw new CTypeError('setTimeout: the callback must be a function');
      const id = nextTimer++;
      set(timers, id, { fn, args });
      host(hostTimer, [id, typeof ms === 'number' ? ms : CNumber(ms)]);
      return id;
    } }.setTimeout),
    clearTimeout: freeze({ clearTimeout(id) {
      if (typeof id !== 'number' || !get(timers, id)) return;
      del(timers, id);
      host(hostClear, [id]);
    } }.clearTimeout),
  };
  for (const name of Object.keys(globals)) define(g, name, { value: globals[name], writable: true, configurable: true });
  define(g, enterName, { value: freeze({ [enterName]() { host(hostEnter, []); } }[enterName]), writable: false, configurable: false });

  // Journaled clock and randomness.
  const RealDate = Date;
  function DroverDate(...a) {
    if (!new.target) return new RealDate(host(hostNow, [])).toString();
    return a.length === 0 ? new RealDate(host(hostNow, [])) : new RealDate(...a);
  }
  Object.setPrototypeOf(DroverDate, RealDate);
  DroverDate.prototype = RealDate.prototype;
  define(RealDate.prototype, 'constructor', { value: DroverDate, writable: true, configurable: true });
  DroverDate.now = function now() { return host(hostNow, []); };
  g.Date = DroverDate;
  Math.random = function random() { return host(hostRandom, []); };

  return freeze({ register, invoke, settle, fire, makeError, parse });
})`;

const FN_KEY = '\u0000fn';
const UNDEFINED_KEY = '\u0000undefined';

export function runInSandbox(body: string, filename: string, api: WorkflowApi, host?: ScriptHost): Promise<unknown> {
  const limitMs = scriptCpuLimitMs();
  const wrapped = `(async function () {\n${body}\n})`;
  const importAt = dynamicImportOffset(wrapped);
  if (importAt !== undefined) {
    const loc = acorn.getLineInfo(wrapped, importAt);
    throw new ScriptError(
      'import() is not available in workflow scripts (no Node APIs; use sh() or a module-form workflow)',
      { file: filename, line: loc.line - 1, column: loc.column + 1 },
      'SCRIPT_IMPORT',
    );
  }
  const enterName = `__drover_enter_${Math.random().toString(36).slice(2, 10)}`;
  const context = vm.createContext(Object.create(null), {
    name: `drover:${filename}`,
    codeGeneration: { strings: false, wasm: false },
    microtaskMode: 'afterEvaluate',
  });
  const runOptions = { timeout: limitMs };

  let dead: Error | undefined;
  let depth = 0;
  let pending: (() => void) | undefined;
  const entry = new vm.Script(`${enterName}()`, { filename: 'drover:enter' });
  let inner: Inner;

  /** Host errors that reached the script, by id: the same error comes back out if the script rethrows it. */
  const hostErrors = new Map<number, unknown>();
  let nextHostError = 1;
  /** Host promises waiting on a script function (`invoke`), by token. */
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextToken = 1;
  let nextCall = 1;

  function stop(err: Error): void {
    if (dead) return;
    dead = err;
    const all = [...waiting.values()];
    waiting.clear();
    for (const w of all) w.reject(err);
  }

  /**
   * Runs `fn` (which calls into the context) under the watchdog. Re-entrant calls (the runtime
   * calling a thunk while the script's `parallel()` call is on the stack) are already covered.
   */
  function enter(fn: () => void): void {
    if (dead) return;
    if (depth > 0) {
      fn();
      return;
    }
    const stackDepth = asyncStackDepth();
    depth++;
    pending = fn;
    try {
      entry.runInContext(context, runOptions);
    } catch (err) {
      restoreAsyncStack(stackDepth);
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        stop(new ScriptCpuLimitError(limitMs));
      } else if (code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
        stop(new RunAbortedError('run stopped: interrupted (Ctrl-C)'));
        // Ctrl-C was taken by the watchdog: hand it to the driver's own handler (or Node's default).
        process.kill(process.pid, 'SIGINT');
      } else {
        stop(err instanceof Error ? err : new Error(errorMessage(err)));
      }
    } finally {
      depth--;
      pending = undefined;
    }
  }

  function errorJson(err: unknown): string {
    const id = nextHostError++;
    hostErrors.set(id, err);
    const e = isErrorLike(err) ? err : new Error(errorMessage(err));
    const code = (e as { code?: unknown }).code;
    const data = errorData(e);
    return JSON.stringify({
      id,
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(data ? { data } : {}),
    });
  }

  /** A host value as the context receives it: `n<number>` keeps Infinity and NaN; `j<json>` otherwise. */
  function valueOut(value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value === 'number') return `n${String(value)}`;
    return `j${JSON.stringify(value)}`;
  }

  /** A value the script threw or returned, rebuilt in the host (the host's own error when it was one). */
  function thrownIn(json: string): unknown {
    const e = JSON.parse(json, dataReviver) as {
      id?: number;
      error?: boolean;
      name?: string;
      message?: string;
      stack?: string;
      code?: string;
      value?: unknown;
    };
    if (typeof e.id === 'number' && hostErrors.has(e.id)) return hostErrors.get(e.id);
    if (e.error) {
      const err = new Error(e.message ?? '');
      err.name = e.name ?? 'Error';
      if (typeof e.stack === 'string') err.stack = e.stack;
      if (typeof e.code === 'string') (err as Error & { code?: string }).code = e.code;
      return err;
    }
    return e.value;
  }

  /** The host's stand-in for a script function: calls it inside the context, in the caller's branch. */
  function stub(fnId: number) {
    return (...args: unknown[]): Promise<unknown> =>
      new Promise((resolve, reject) => {
        if (dead) {
          reject(dead);
          return;
        }
        const token = nextToken++;
        waiting.set(token, { resolve, reject });
        let argsJson: string;
        try {
          argsJson = JSON.stringify(args.map((a) => (a === undefined ? null : a)));
        } catch (err) {
          waiting.delete(token);
          reject(err);
          return;
        }
        enter(() => inner.invoke(token, fnId, argsJson));
      });
  }

  /** Script data as host data: a `__proto__` key is dropped, never set. */
  function dataReviver(key: string, value: unknown): unknown {
    return key === '__proto__' ? undefined : value;
  }

  /** Arguments of a global: also turns function handles into stubs and keeps undefined arguments. */
  function argsReviver(key: string, value: unknown): unknown {
    if (key === '__proto__') return undefined;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === FN_KEY) return stub(Number((value as Record<string, unknown>)[FN_KEY]));
      if (keys.length === 1 && keys[0] === UNDEFINED_KEY) return undefined;
    }
    return value;
  }

  const t = api.tasks;
  const table: Record<string, (...a: unknown[]) => unknown> = {
    agent: (p, o) => api.agent(p as string, o as never),
    parallel: (th) => api.parallel(th as never),
    pipeline: (items, ...stages) => api.pipeline(items as unknown[], ...(stages as never[])),
    workflow: (ref, a) => api.workflow(ref, a),
    sh: (c, o) => api.sh(c as string, o as never),
    ask: (q, o) => api.ask(q as string, o as never),
    sleep: (ms) => api.sleep(ms as number),
    phase: (title) => api.phase(title as string),
    log: (...m) => api.log(...m),
    'budget.total': () => api.budget.total,
    'budget.spent': () => api.budget.spent(),
    'budget.remaining': () => api.budget.remaining(),
    'tasks.listId': () => t.listId,
    'tasks.create': (x) => t.create(x as never),
    'tasks.update': (id, patch) => t.update(id as string, patch as never),
    'tasks.ready': (limit) => t.ready(limit as number | undefined),
    'tasks.claim': (o) => t.claim(o as never),
    'tasks.complete': (id) => t.complete(id as string),
    'tasks.list': (f) => t.list(f as never),
  };

  /**
   * Hands a settled call's result to the script. It enters the context a turn later (settleSoon);
   * until then it counts as pending host work (`track`), or the runtime would see nothing in flight
   * in between and could take a healthy run for stuck. A call still running is the runtime's own
   * in-flight work, not tracked here: an unanswered `ask` or a call `--plan` parks is no delivery.
   */
  function deliver(callId: number, ok: boolean, value: unknown): void {
    let payload: string | undefined;
    try {
      payload = ok ? valueOut(value) : errorJson(value);
    } catch (err) {
      ok = false;
      payload = errorJson(err);
    }
    let entered = () => {};
    const delivered = new Promise<void>((resolve) => {
      entered = resolve;
    });
    void (host ? host.track(delivered) : delivered);
    settleSoon(() => inner.settle(callId, ok, payload), entered);
  }

  /**
   * Settlements of calls wait for the end of the event-loop turn and enter the context together:
   * each entry arms V8's watchdog (≈0.2-0.3 ms), so a turn in which many agents finish pays once.
   * `entered` runs once the batch has entered (or the entry failed).
   */
  const settling: { fn: () => void; entered: () => void }[] = [];
  function settleSoon(fn: () => void, entered: () => void): void {
    settling.push({ fn, entered });
    if (settling.length === 1) {
      setImmediate(() => {
        const batch = settling.splice(0);
        try {
          enter(() => {
            for (const f of batch) f.fn();
          });
        } finally {
          for (const f of batch) f.entered();
        }
      });
    }
  }

  const timerHandles = new Map<number, { timer: NodeJS.Timeout; done: () => void }>();
  const bridge = {
    /** A call of a global: `j<json>`/`n<number>` a value, `u` undefined, `e<json>` an error, `p<id>` a promise settled later. */
    call(name: unknown, argsJson: unknown): string {
      try {
        const fn = typeof name === 'string' && Object.hasOwn(table, name) ? table[name] : undefined;
        if (!fn || typeof argsJson !== 'string') return `e${errorJson(new Error('drover: unknown call'))}`;
        const args = JSON.parse(argsJson, argsReviver) as unknown[];
        const result = fn(...args);
        if (result instanceof Promise) {
          const callId = nextCall++;
          result.then(
            (v) => deliver(callId, true, v),
            (e) => deliver(callId, false, e),
          );
          return `p${callId}`;
        }
        return valueOut(result) ?? 'u';
      } catch (err) {
        return `e${errorJson(err)}`;
      }
    },
    done(token: unknown, ok: unknown, payload: unknown): void {
      const w = typeof token === 'number' ? waiting.get(token) : undefined;
      if (!w) return;
      waiting.delete(token as number);
      try {
        if (ok === true) w.resolve(typeof payload === 'string' ? JSON.parse(payload, dataReviver) : undefined);
        else w.reject(typeof payload === 'string' ? thrownIn(payload) : new Error('the script failed'));
      } catch (err) {
        w.reject(err);
      }
    },
    timer(id: unknown, ms: unknown): void {
      if (typeof id !== 'number') return;
      let done = () => {};
      const settled = new Promise<void>((resolve) => {
        done = resolve;
      });
      void (host ? host.track(settled) : settled);
      const delayMs = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, 2 ** 31 - 1) : 0;
      const timer = setTimeout(() => {
        timerHandles.delete(id);
        try {
          enter(() => inner.fire(id));
        } finally {
          done();
        }
      }, delayMs);
      // While the run lasts, the timer is tracked as in flight; it never keeps the process alive after the run ended.
      timer.unref();
      timerHandles.set(id, { timer, done });
    },
    clear(id: unknown): void {
      const entry = typeof id === 'number' ? timerHandles.get(id) : undefined;
      if (!entry) return;
      clearTimeout(entry.timer);
      timerHandles.delete(id as number);
      entry.done();
    },
    now: (): number => api.now(),
    random: (): number => api.random(),
    enter(): void {
      const fn = pending;
      pending = undefined;
      if (!fn) return;
      try {
        fn();
      } catch (err) {
        // Only a termination (the watchdog) or a broken invariant lands here.
        if (!dead) api.log(`drover: sandbox entry failed: ${errorMessage(err)}`);
      }
    },
  };

  inner = (vm.runInContext(BOOTSTRAP, context, runOptions) as (b: unknown, n: string) => Inner)(bridge, enterName);
  context.scriptDir = api.scriptDir;
  // args: a copy made inside the context, so the script sees its own realm's objects.
  context.args = api.args === undefined ? undefined : inner.parse(JSON.stringify(api.args));

  // The wrapper sits on line 0, so line numbers in errors are the file's own.
  const script = new vm.Script(wrapped, {
    filename,
    lineOffset: -1,
  });
  const onStop = () => stop(new RunAbortedError(`run stopped: ${String(host?.signal?.reason ?? 'interrupted')}`));
  if (host?.signal?.aborted) onStop();
  host?.signal?.addEventListener('abort', onStop, { once: true });
  const main = script.runInContext(context, runOptions);
  return stub(inner.register(main))();
}
