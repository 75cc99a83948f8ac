// What the CLI loads to start: each command imports its handler only when it runs, so the commands
// agents call in loops (`tasks claim`, `tasks done`) and `--version`/`--help` load none of the
// heavy modules. Checked by recording every module a real `drover` process loads (ESM through a
// module.register hook, CommonJS through Module._load), not by timing.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, cli, tempDir, write } from './helpers.js';

/** Modules a start-up-critical command must not load. */
const HEAVY: [string, RegExp][] = [
  ['workflow runtime', /\/dist\/workflow\/(runtime|run|loader|sandbox|journal)\.js$/],
  ['gateway', /\/dist\/gateway\//],
  ['OpenTelemetry SDK', /@opentelemetry\/(sdk-trace-base|exporter-trace-otlp-http|otlp-transformer|context-async-hooks|resources)\//],
  ['gpt-tokenizer', /\/gpt-tokenizer\//],
  ['MCP SDK', /@modelcontextprotocol\/sdk\//],
  ['Anthropic SDK', /@anthropic-ai\/sdk\//],
  ['OpenAI SDK', /\/node_modules\/openai\//],
  ['zod', /\/node_modules\/zod\//],
  ['yaml', /\/node_modules\/yaml\//],
  ['log-update', /\/node_modules\/log-update\//],
  ['Claude Code bridge', /\/dist\/tasks\/claude-(bridge|format)\.js$/],
];

/** A preload that appends every module the process loads (ESM and CommonJS) to $DROVER_LOAD_LOG. */
function loadRecorder(dir: string): string {
  const hooks = write(
    dir,
    'hooks.mjs',
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.DROVER_LOAD_LOG, url + '\\n');
  return next(url, context);
}
`,
  );
  return write(
    dir,
    'record-loads.mjs',
    `import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { appendFileSync(process.env.DROVER_LOAD_LOG, Module._resolveFilename(request, parent, isMain) + '\\n'); } catch {}
  return load.apply(this, arguments);
};
`,
  );
}

async function loadsOf(args: string[], dir: string, env: Record<string, string>) {
  const log = join(dir, `loads-${args.join('-').replace(/\W+/g, '_')}.txt`);
  writeFileSync(log, '');
  const result = await cli(args, {
    cwd: dir,
    env: { ...env, DROVER_LOAD_LOG: log, NODE_OPTIONS: `--import ${pathToFileURL(loadRecorder(dir)).href}` },
  });
  const modules = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const heavy = HEAVY.filter(([, re]) => modules.some((m) => re.test(m))).map(([name]) => name);
  return { result, modules, heavy };
}

describe('start-up: a command loads only what it uses', () => {
  it('--version, --help, tasks claim and tasks done load no heavy module', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 'drover.db'), DROVER_TASK_LIST: 'loop' };
    expect((await cli(['tasks', 'add', 'first'], { cwd: dir, env })).code).toBe(0);

    const version = await loadsOf(['--version'], dir, env);
    expect(version.result.stdout.trim()).toBe('0.1.0');
    expect(version.heavy).toEqual([]);
    // The handlers are not even loaded: only commander and the register files.
    expect(version.modules.filter((m) => m.includes('/dist/cli/handlers/'))).toEqual([]);

    const help = await loadsOf(['--help'], dir, env);
    expect(help.result.stdout).toMatch(/tasks/);
    expect(help.heavy).toEqual([]);

    const claim = await loadsOf(['tasks', 'claim', '--json'], dir, env);
    expect(claim.result.code).toBe(0);
    expect(claim.heavy).toEqual([]);
    expect(claim.modules.some((m) => m.endsWith('/dist/tasks/board.js'))).toBe(true);

    const done = await loadsOf(['tasks', 'done', '1', '--json'], dir, env);
    expect(done.result.code).toBe(0);
    expect(done.heavy).toEqual([]);
  });

  it('the recorder sees heavy modules where a command does use them (run loads the runtime and a model SDK)', async () => {
    const dir = tempDir();
    const env = { DROVER_STORE: join(dir, 'drover.db') };
    const scenario = write(dir, 'scenario.yaml', 'rules:\n  - name: any\n    turns: [{ text: ok }]\n');
    const script = write(dir, 'wf.js', "export const meta = { name: 'one', description: 'd' };\nreturn await agent('hi')\n");
    const run = await loadsOf(['run', script, '--sim', scenario, '--json'], dir, env);
    expect(run.result.code).toBe(0);
    expect(run.heavy).toEqual(expect.arrayContaining(['workflow runtime', 'gateway', 'Anthropic SDK', 'gpt-tokenizer']));
  });
});

describe('drover run exits when it is done', () => {
  // The cause of the linger: V8 re-compiled undici's llhttp.wasm (the model SDKs' HTTP parser) with
  // TurboFan in the background after a few responses, and a finished process waited for it at exit.
  // Checked by what V8 compiles, not by timing: run/resume keep WebAssembly on the baseline compiler.
  it('a 4-agent run compiles no WebAssembly with TurboFan (the background compile it waited for)', () => {
    const dir = tempDir();
    const scenario = write(
      dir,
      'scenario.yaml',
      'rules:\n  - name: any\n    usage: { input_tokens: 20, output_tokens: 5 }\n    turns: [{ text: ok }]\n',
    );
    const script = write(
      dir,
      'four.js',
      "export const meta = { name: 'four', description: 'd' };\nreturn await parallel([0, 1, 2, 3].map((i) => () => agent('task ' + i, { tools: [] })));\n",
    );
    const r = spawnSync(process.execPath, ['--trace-wasm-compilation-times', CLI, 'run', script, '--sim', scenario, '--json'], {
      cwd: dir,
      env: { ...process.env, CI: '1', DROVER_STORE: join(dir, 'drover.db') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    // The trace is on: baseline (Liftoff) compilations of llhttp are listed…
    expect(r.stdout).toMatch(/Compiled function .* using Liftoff/);
    // …and none with TurboFan.
    expect(r.stdout).not.toMatch(/using TurboFan/);
  });
});
