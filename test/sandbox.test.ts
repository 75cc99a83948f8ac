import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, lastJson, spawnCli, tempDir, tempStore, waitFor } from './helpers.js';

const SCENARIO = `
rules:
  - name: structured
    match: { prompt: '^classify (\\w+)' }
    turns: [{ json: { word: '{{1}}' } }]
  - name: echo
    match: { prompt: '^p(\\d+)' }
    turns: [{ text: 'r{{1}}' }]
`;

async function setup() {
  const dir = tempDir();
  const gw = await gateway(SCENARIO);
  const { store } = tempStore(dir);
  const run = (body: string, extra: Partial<Parameters<typeof runWorkflow>[0]> = {}) =>
    runWorkflow({ store, script: ccScript(dir, body), gateway: gw.url, workdir: dir, backoff: FAST_BACKOFF, ...extra });
  return { dir, gw, store, run };
}

/**
 * Script code that tries `x.constructor.constructor('return process')()` (and the same through
 * the prototype chain) on every value in `probes`, and reports per probe either 'ESCAPED' (it
 * reached `process`), 'foreign' (the value belongs to another realm than the script's) or 'held'.
 */
const PROBE = `
const escapes = {};
function reach(x) {
  const seen = [];
  for (let o = x; o !== null && o !== undefined && seen.length < 6; o = Object.getPrototypeOf(o)) {
    seen.push(o);
    for (const key of ['constructor']) {
      try {
        const c = o[key];
        const F = c && c.constructor;
        if (typeof F === 'function' && F !== Function) return 'foreign';
        const p = F('return process')();
        if (p && typeof p.pid === 'number') return 'ESCAPED';
      } catch (e) {
        if (e && e.constructor && e.constructor.constructor !== Function) return 'foreign';
      }
    }
  }
  return 'held';
}
function probe(name, x) { escapes[name] = reach(x); }
`;

afterEach(() => {
  for (const key of ['polluted', 'pollutedViaValue', 'label']) delete (Object.prototype as Record<string, unknown>)[key];
});

describe('the script sandbox holds', () => {
  it('no global reaches the host through a constructor chain', async () => {
    const { run } = await setup();
    const s = await run(`${PROBE}
      for (const name of ['agent', 'parallel', 'pipeline', 'phase', 'log', 'workflow', 'sh', 'ask', 'sleep',
                          'setTimeout', 'clearTimeout', 'Date']) probe(name, globalThis[name]);
      probe('budget', budget); probe('budget.spent', budget.spent); probe('budget.remaining', budget.remaining);
      probe('tasks', tasks); probe('tasks.create', tasks.create); probe('tasks.list', tasks.list);
      probe('console', console); probe('console.log', console.log); probe('Math.random', Math.random);
      probe('globalThis', globalThis); probe('this', this);
      for (const name of Object.getOwnPropertyNames(globalThis)) {
        const d = Object.getOwnPropertyDescriptor(globalThis, name);
        if (d && 'value' in d && (typeof d.value === 'function' || typeof d.value === 'object')) probe('global ' + name, d.value);
      }
      for (const sym of Object.getOwnPropertySymbols(agent)) probe('agent[symbol]', agent[sym]);
      return escapes;`);
    expect(s.status).toBe('completed');
    const result = s.result as Record<string, string>;
    expect(Object.keys(result).length).toBeGreaterThan(20);
    for (const [name, verdict] of Object.entries(result)) expect(`${name}: ${verdict}`).toBe(`${name}: held`);
  });

  it('no value drover hands in (results, arrays, promises, errors, args) reaches the host', async () => {
    const { run } = await setup();
    const s = await run(
      `${PROBE}
      const promise = agent('p1');
      probe('agent() promise', promise);
      probe('agent() object result', await agent('classify apple', { schema: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] } }));
      probe('sh() result', await sh('echo hi'));
      probe('sh() promise', sh('true'));
      probe('parallel() array', await parallel([() => 1, async () => agent('p2')]));
      probe('pipeline() array', await pipeline([1], (prev, item) => item));
      probe('tasks.list() array', await tasks.list());
      probe('args', args);
      probe('args.list', args.list);
      try { await parallel('nope'); } catch (e) { probe('rejected error', e); }
      try { probe('sh(123) value', await sh(123)); } catch (e) { probe('sh(123) error', e); }
      try { probe('tasks.claim value', await tasks.claim({ id: 'missing' })); } catch (e) { probe('tasks.claim error', e); }
      await parallel([(...a) => { probe('thunk arguments', a); return 1; }]);
      await pipeline([{ x: 1 }], (prev, item, i) => { probe('stage prev', prev); probe('stage item', item); return prev; });
      await new Promise((resolve) => setTimeout((...a) => { probe('timer arguments', a); resolve(); }, 0, { y: 1 }));
      await parallel([function thunk() { probe('thunk caller', thunk.caller); probe('thunk callee caller', arguments.callee.caller); }]);
      await new Promise((resolve) => setTimeout(function cb() { probe('timer caller', cb.caller); resolve(); }, 0));
      return escapes;`,
      { args: { list: [1, 2] } },
    );
    expect(s.error).toBeUndefined();
    const result = s.result as Record<string, string>;
    expect(Object.keys(result)).toEqual(
      expect.arrayContaining(['agent() promise', 'sh() result', 'parallel() array', 'thunk arguments', 'stage item', 'timer arguments']),
    );
    expect(Object.keys(result).length).toBeGreaterThanOrEqual(16);
    for (const [name, verdict] of Object.entries(result)) expect(`${name}: ${verdict}`).toBe(`${name}: held`);
  });

  it('errors the script catches are its own Error, with the name, message and code drover gave', async () => {
    const { run } = await setup();
    const s = await run(`
      const out = {};
      try { await parallel('nope'); } catch (e) {
        out.parallel = { own: e instanceof Error, name: e.name, message: e.message, code: e.code };
      }
      try { await tasks.claim({ id: 'missing' }); } catch (e) { out.claim = { own: e instanceof Error, code: e.code }; }
      out.promiseOwn = agent('p1') instanceof Promise;
      out.arrayOwn = Array.isArray(await parallel([() => 1])) && (await parallel([() => 1])) instanceof Array;
      return out;`);
    expect(s.result).toMatchObject({
      parallel: { own: true, name: 'ScriptUsageError', message: expect.stringContaining('parallel()'), code: 'BAD_CALL' },
      claim: { own: true, code: expect.any(String) },
      promiseOwn: true,
      arrayOwn: true,
    });
  });

  it('an uncaught drover error still ends the run with its own code; a script error keeps its position', async () => {
    const { run } = await setup();
    const a = await run('await parallel("nope");');
    expect(a.status).toBe('failed');
    expect(a.error?.code).toBe('BAD_CALL');
    const b = await run('const x = 1;\nnull.boom;');
    expect(b.error).toMatchObject({ code: 'SCRIPT_RUNTIME', line: 3 });
    expect(b.error?.message).toContain('TypeError');
  });

  it('Error.prepareStackTrace sees only frames of the script realm, even in a thunk the host calls', async () => {
    const { run } = await setup();
    const s = await run(`${PROBE}
      Error.prepareStackTrace = (err, frames) => frames;
      const look = (label) => {
        const frames = new Error('x').stack;
        frames.forEach((f, i) => {
          probe(label + ' frame ' + i, f);
          try { probe(label + ' this ' + i, f.getThis()); } catch {}
          try { probe(label + ' fn ' + i, f.getFunction()); } catch {}
        });
      };
      look('top');
      await parallel([() => look('thunk')]);
      await pipeline([1], () => look('stage'));
      try { await parallel('nope'); } catch (e) { const frames = e.stack; if (Array.isArray(frames)) frames.forEach((f, i) => probe('error frame ' + i, f)); }
      return escapes;`);
    expect(s.error).toBeUndefined();
    for (const [name, verdict] of Object.entries(s.result as Record<string, string>)) expect(`${name}: ${verdict}`).toBe(`${name}: held`);
  });

  it('polluting Object.prototype through a global or a returned value leaves the host and the store clean', async () => {
    const { run, store } = await setup();
    const s = await run(`
      const viaGlobal = Object.getPrototypeOf(Object.getPrototypeOf(agent));
      viaGlobal.polluted = 'yes';
      viaGlobal.label = 'POLLUTED';
      const r = await sh('echo hi');
      Object.getPrototypeOf(r).pollutedViaValue = 'yes';
      const a = await parallel([() => 1]);
      Object.getPrototypeOf(Object.getPrototypeOf(a)).pollutedViaValue = 'yes';
      await agent('p1');
      return { ok: true };`);
    expect(s.status).toBe('completed');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).pollutedViaValue).toBeUndefined();
    expect(({} as Record<string, unknown>).label).toBeUndefined();
    const calls = await store.listCalls(s.runId);
    const agentCall = calls.find((c) => c.kind === 'agent');
    expect(agentCall?.label).not.toBe('POLLUTED');
    const { scriptSource: _source, ...stored } = (await store.getRun(s.runId)) ?? {};
    expect(JSON.stringify({ calls, stored })).not.toContain('POLLUTED');
  });

  it('__proto__ in arguments is data, never a prototype', async () => {
    const { run, store } = await setup();
    const s = await run(`
      const opts = JSON.parse('{"__proto__": {"label": "POLLUTED", "polluted": 1}}');
      await agent('p1', opts);
      const r = await sh('echo "[$X]"', JSON.parse('{"env": {"__proto__": {"X": "polluted"}}}'));
      return r.stdout.trim();`);
    expect(s.status).toBe('completed');
    expect(s.result).toBe('[]');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const calls = await store.listCalls(s.runId);
    expect(JSON.stringify(calls)).not.toContain('POLLUTED');
  });

  it('import() in the script is refused at load, before any run exists (its rejection is a host-realm error)', async () => {
    const { run } = await setup();
    await expect(
      run(`${PROBE}
      await sh('echo ran');
      let message = 'no error';
      try { await import('node:fs'); } catch (e) { probe('import error', e); message = e.message; }
      return { escapes, message };`),
    ).rejects.toMatchObject({
      code: 'SCRIPT_IMPORT',
      exitCode: 2,
      position: { line: 26 },
      message: expect.stringContaining('import() is not available'),
    });
    await expect(
      run('const f = async () => { return (await import("node:child_process")).execSync("id"); };\nreturn 1;'),
    ).rejects.toMatchObject({ code: 'SCRIPT_IMPORT', position: { line: 2 } });
  });

  it('code generation from strings (eval, Function and its async/generator kin) is refused', async () => {
    const { run } = await setup();
    const s = await run(`
      const tries = {
        eval: () => eval('1 + 1'),
        indirectEval: () => (0, eval)('1 + 1'),
        Function: () => Function('return 1')(),
        newFunction: () => new Function('return 1')(),
        asyncFunction: () => (async function () {}).constructor('return 1'),
        generator: () => (function* () {}).constructor('return 1'),
        setTimeoutString: () => setTimeout('globalThis.ran = 1', 0),
        wasm: () => new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) {
        try { f(); out[k] = 'ran'; } catch (e) { out[k] = e.name; }
      }
      return out;`);
    expect(s.result).toEqual({
      eval: 'EvalError',
      indirectEval: 'EvalError',
      Function: 'EvalError',
      newFunction: 'EvalError',
      asyncFunction: 'EvalError',
      generator: 'EvalError',
      setTimeoutString: 'TypeError',
      wasm: 'CompileError',
    });
  });

  it('Symbol-keyed and toJSON tricks hand the host nothing callable', async () => {
    const { run } = await setup();
    const s = await run(`${PROBE}
      const got = [];
      const trap = {
        [Symbol.for('nodejs.util.inspect.custom')](...a) { got.push(...a); return 'x'; },
        [Symbol.toPrimitive](...a) { got.push(...a); return 'x'; },
        toJSON(...a) { got.push(...a); return { fine: true }; },
        toString(...a) { got.push(...a); return 'x'; },
      };
      log(trap);
      await agent('p1', { label: trap });
      await parallel([() => { throw trap; }]);
      try { await sh(trap); } catch {}
      got.forEach((x, i) => probe('argument ' + i, x));
      for (const sym of [Symbol.asyncIterator, Symbol.iterator, Symbol.species, Symbol.hasInstance]) {
        try { probe('agent ' + String(sym), agent[sym]); } catch {}
      }
      return escapes;`);
    expect(s.error).toBeUndefined();
    for (const [name, verdict] of Object.entries(s.result as Record<string, string>)) expect(`${name}: ${verdict}`).toBe(`${name}: held`);
  });

  it("drover's globals are frozen", async () => {
    const { run } = await setup();
    const s = await run(`
      const frozen = [agent, sh, log, parallel, budget, tasks, console, budget.spent, tasks.create, setTimeout].map(Object.isFrozen);
      return frozen;`);
    expect(s.result).toEqual(new Array(10).fill(true));
  });
});

describe('the CPU watchdog', () => {
  async function cliRun(body: string, limitMs: string) {
    const dir = tempDir();
    const gw = await gateway(SCENARIO);
    ccScript(dir, 'while (true) {}', 'child.js', 'child');
    const script = ccScript(dir, body);
    const child = spawnCli(['run', script, '--gateway', gw.url, '--json'], {
      cwd: dir,
      env: { DROVER_STORE: join(dir, 'drover.db'), DROVER_SCRIPT_CPU_MS: limitMs },
    });
    return { dir, child };
  }

  it('stops `while (true) {}` at top level with an error naming the limit; the run ends failed', async () => {
    const { child } = await cliRun("await agent('p1');\nwhile (true) {}", '300');
    const r = await child.done;
    expect(r.code).toBe(1);
    const out = lastJson(r.stdout);
    expect(out.status).toBe('failed');
    expect(out.error).toMatchObject({ code: 'SCRIPT_CPU_LIMIT', message: expect.stringContaining('DROVER_SCRIPT_CPU_MS=300') });
  });

  it('stops a loop after an await inside a parallel thunk, and before any await', async () => {
    const { child } = await cliRun(
      "const r = await parallel([async () => { await agent('p1'); while (true) {} }, () => agent('p2')]);\nreturn r;",
      '300',
    );
    const r = await child.done;
    expect(lastJson(r.stdout)).toMatchObject({ status: 'failed', error: { code: 'SCRIPT_CPU_LIMIT' } });
    const sync = await cliRun('for (;;) {}', '300');
    expect(lastJson((await sync.child.done).stdout)).toMatchObject({ status: 'failed', error: { code: 'SCRIPT_CPU_LIMIT' } });
  });

  it('a loop in a nested workflow stops that workflow; its caller sees SCRIPT_CPU_LIMIT', async () => {
    const { child } = await cliRun("let r;\ntry { r = await workflow('./child.js'); } catch (e) { r = e.code; }\nreturn r;", '300');
    const r = await child.done;
    expect(lastJson(r.stdout)).toMatchObject({ status: 'completed', result: 'SCRIPT_CPU_LIMIT' });
  });

  it('a loop in a setTimeout callback is stopped too', async () => {
    const { child } = await cliRun('await new Promise((resolve) => setTimeout(() => { while (true) {} }, 0));', '300');
    expect(lastJson((await child.done).stdout)).toMatchObject({ status: 'failed', error: { code: 'SCRIPT_CPU_LIMIT' } });
  });

  it.runIf(existsSync('/proc/self/stat'))('Ctrl-C during a spinning loop ends the run once the watchdog stops the loop', async () => {
    const { dir, child } = await cliRun("await sh('touch started');\nwhile (true) {}", '10000');
    await waitFor(() => existsSync(join(dir, 'started')), 20_000, 'the script to start its loop');
    // The loop is running once the driver has burnt a further 0.2 s of CPU (an event, not a sleep;
    // little enough that a starved process shows it well before the watchdog's wall-clock limit).
    const cpuTicks = () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
    };
    const base = cpuTicks();
    await waitFor(() => cpuTicks() - base >= 20, 60_000, 'the script to spin');
    child.kill('SIGINT');
    const r = await child.done;
    expect([1, 130]).toContain(r.code);
    expect(lastJson(r.stdout)).toMatchObject({ status: 'failed' });
    expect(['INTERRUPTED', 'SCRIPT_CPU_LIMIT']).toContain((lastJson(r.stdout).error as { code: string }).code);
  });

  it('a bad DROVER_SCRIPT_CPU_MS fails the run before any script code runs, naming the variable', async () => {
    const { dir, child } = await cliRun("await sh('touch ran');", 'ten');
    const r = await child.done;
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('DROVER_SCRIPT_CPU_MS');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});
