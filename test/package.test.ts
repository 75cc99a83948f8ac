/**
 * The package as a user gets it: `npm pack` of the built repository, installed into fresh temp
 * projects (one ES module project, one CommonJS project), then the CLI and module workflows
 * run from there. Offline: the tarball is extracted the way `npm install <tarball>` lays it out
 * (node_modules/drover, its bin made executable and linked in node_modules/.bin) and drover's
 * `dependencies` — only those — are linked to this repository's node_modules.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, ROOT, tempDir, write } from './helpers.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, with a clean drover environment (no inherited store or keys). */
function run(command: string, args: string[], cwd: string): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, CI: '1', NO_COLOR: '1' };
  for (const name of Object.keys(env)) {
    if (name.startsWith('DROVER_') || name.endsWith('_API_KEY') || name.startsWith('npm_')) delete env[name];
  }
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  dependencies: Record<string, string>;
};

const SCENARIO = `
rules:
  - name: hello
    match: { prompt: '^say hello to (\\S+)' }
    turns: [{ text: 'hello, {{1}}' }]
`;

/** A module workflow that needs both entry points to have loaded for real. */
const MODULE_WORKFLOW = (name: string) => `
import { defineWorkflow, WORKFLOW_MARK } from 'drover/workflow';
import { defineWorkflow as rootDefine, InputError } from 'drover';

export default defineWorkflow({ name: '${name}', description: 'imports drover and drover/workflow' }, async (ctx) => {
  const sh = await ctx.sh('node -p "6 * 7"');
  const greeting = await ctx.agent('say hello to ${name}');
  const viaRoot = rootDefine({ name: 'x', description: 'y' }, () => null);
  return {
    sh: sh.stdout.trim(),
    greeting,
    marked: viaRoot[WORKFLOW_MARK] === true,
    errorCode: new InputError('bad').code,
  };
});
`;

/** Every file below `dir`, as paths relative to it with forward slashes. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name)).split('\\').join('/')],
  );
}

/** The specifiers a built .js file loads: static and dynamic imports with a literal, and `new URL('./x', import.meta.url)`. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /new URL\(\s*['"](\.[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1] as string);
  return found;
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

let packed: { tarball: string; files: string[] };

/** Lays the tarball out as `npm install` does, in a new project with this package.json. */
async function project(packageJson: Record<string, unknown>): Promise<string> {
  const dir = tempDir('drover-user-');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true, ...packageJson }, null, 2));
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  const untar = await run('tar', ['xzf', packed.tarball, '-C', modules], dir);
  expect(untar.code, untar.stderr).toBe(0);
  const installed = join(modules, 'drover');
  renameSync(join(modules, 'package'), installed);
  for (const dep of Object.keys(PKG.dependencies)) {
    const link = join(installed, 'node_modules', dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), link, 'dir');
  }
  for (const [name, target] of Object.entries(PKG.bin)) {
    chmodSync(join(installed, target), 0o755);
    symlinkSync(posix.join('..', 'drover', target), join(modules, '.bin', name));
  }
  write(dir, 'scenario.yaml', SCENARIO);
  return dir;
}

beforeAll(async () => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'run `npm run build` first').toBe(true);
  // Lives for the whole file (tempDir() is cleaned after each test).
  const out = mkdtempSync(join(tmpdir(), 'drover-pack-'));
  // --ignore-scripts: pack the dist this test run built, without a prepack rebuild.
  const pack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${pack.stdout}`);
  packed = { tarball: join(out, info.filename), files: info.files.map((f) => f.path).sort() };
}, 120_000);
afterAll(() => {
  if (packed) rmSync(dirname(packed.tarball), { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds exactly the files npm lists for it, which an install extracts as they are', async () => {
    const list = await run('tar', ['tzf', packed.tarball], ROOT);
    expect(list.code, list.stderr).toBe(0);
    const inTarball = list.stdout
      .split('\n')
      .filter((l) => l && !l.endsWith('/'))
      .map((l) => l.replace(/^package\//, ''))
      .sort();
    expect(inTarball).toEqual(packed.files);
  });

  it('ships every entry point, the examples and the docs, and no sources, tests, maps or stores', () => {
    const files = new Set(packed.files);
    const entries = [
      PKG.main,
      PKG.types,
      ...Object.values(PKG.bin),
      ...Object.values(PKG.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
    ].map((p) => p.replace(/^\.\//, ''));
    for (const entry of entries) expect(files, entry).toContain(entry);
    for (const example of walk(join(ROOT, 'examples'))) expect(files, example).toContain(`examples/${example}`);
    expect(files).toContain('docs/install.md');
    expect(files).toContain('README.md');
    const unwanted = packed.files.filter((f) => /^(src|test|bench|\.ci|\.drover|node_modules)\/|\.map$|\.db(-wal|-shm)?$|\.tgz$/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('ships no stale build output: every dist file comes from a source file that exists', () => {
    // tsc never deletes outputs, so a renamed or deleted source leaves its old .js in dist/ for npm pack to ship.
    const stale = packed.files
      .filter((f) => f.startsWith('dist/'))
      .filter((f) => !existsSync(join(ROOT, f.replace(/^dist\//, 'src/').replace(/\.d\.ts$|\.js$/, '.ts'))));
    expect(stale, 'stale files in dist/: rm -rf dist && npm run build').toEqual([]);
  });

  it('resolves every file the built code loads, and every package it imports is a dependency', () => {
    const files = new Set(packed.files);
    const deps = new Set(Object.keys(PKG.dependencies));
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    const code = packed.files.filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
    expect(code.length).toBeGreaterThan(50);
    for (const file of code) {
      for (const spec of specifiers(readFileSync(join(ROOT, file), 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = posix.normalize(posix.join(posix.dirname(file), spec));
          if (!files.has(target)) problems.push(`${file}: ${spec} is not shipped`);
        } else if (spec.startsWith('node:') || builtins.has(spec)) {
          // built in
        } else if (!deps.has(packageName(spec))) {
          problems.push(`${file}: imports ${spec}, which is not in dependencies`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('drover/workflow loads only defineWorkflow and types: two small files, no dependency', () => {
    const exported = PKG.exports['./workflow'] as Record<string, string>;
    const start = (exported.default as string).replace(/^\.\//, '');
    const seen = new Set<string>();
    const bare: string[] = [];
    const queue = [start];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of specifiers(readFileSync(join(ROOT, file), 'utf8'))) {
        if (spec.startsWith('.')) queue.push(posix.normalize(posix.join(posix.dirname(file), spec)));
        else bare.push(`${file}: ${spec}`);
      }
    }
    expect([...seen].sort()).toEqual(['dist/workflow-entry.js', 'dist/workflow/api.js']);
    expect(bare).toEqual([]);
  });
});

describe('installed into a fresh project', { timeout: 120_000 }, () => {
  it('the CLI runs from node_modules/.bin: --version and a Claude-Code-format script', async () => {
    const dir = await project({});
    const bin = join(dir, 'node_modules', '.bin', 'drover');
    const version = await run(bin, ['--version'], dir);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(PKG.version);

    write(
      dir,
      'cc.js',
      `export const meta = { name: 'cc', description: 'script form' };
const out = await sh('node -p "1 + 1"');
return { sh: out.stdout.trim(), greeting: await agent('say hello to script') };
`,
    );
    const res = await run(bin, ['run', 'cc.js', '--sim', 'scenario.yaml', '--json'], dir);
    expect(res.code, res.stderr).toBe(0);
    expect(lastJson(res.stdout)).toMatchObject({ status: 'completed', result: { sh: '2', greeting: 'hello, script' } });
    // The store lands in the user's project, not in the package.
    expect(existsSync(join(dir, '.drover', 'drover.db'))).toBe(true);
  });

  for (const kind of ['module', 'commonjs'] as const) {
    for (const ext of ['ts', 'mjs'] as const) {
      it(`a .${ext} module workflow importing drover and drover/workflow runs in a ${kind === 'module' ? 'ES module ("type": "module")' : 'CommonJS (no "type")'} project`, async () => {
        const dir = await project(kind === 'module' ? { type: 'module' } : {});
        const name = `${kind}-${ext}`;
        write(dir, `workflow.${ext}`, MODULE_WORKFLOW(name));
        const res = await run(
          join(dir, 'node_modules', '.bin', 'drover'),
          ['run', `workflow.${ext}`, '--sim', 'scenario.yaml', '--json'],
          dir,
        );
        expect(res.code, res.stderr).toBe(0);
        expect(lastJson(res.stdout)).toMatchObject({
          status: 'completed',
          result: { sh: '42', greeting: `hello, ${name}`, marked: true, errorCode: 'INVALID_INPUT' },
        });
      });
    }
  }

  it('CommonJS code can require() drover and drover/workflow; ES code can import them', async () => {
    const dir = await project({});
    const probe = `JSON.stringify({ root: typeof d.runWorkflow, createStore: typeof d.createStore, wf: Object.keys(w).sort() })`;
    const cjs = await run(
      process.execPath,
      ['-e', `const d = require('drover'); const w = require('drover/workflow'); console.log(${probe})`],
      dir,
    );
    expect(cjs.code, cjs.stderr).toBe(0);
    expect(cjs.stderr).toBe('');
    const esm = await run(
      process.execPath,
      ['--input-type=module', '-e', `import * as d from 'drover'; import * as w from 'drover/workflow'; console.log(${probe})`],
      dir,
    );
    expect(esm.code, esm.stderr).toBe(0);
    const expected = { root: 'function', createStore: 'function', wf: ['WORKFLOW_MARK', 'defineWorkflow'] };
    expect(JSON.parse(cjs.stdout)).toEqual(expected);
    expect(JSON.parse(esm.stdout)).toEqual(expected);
    const version = await run(process.execPath, ['-p', `require('drover/package.json').version`], dir);
    expect(version.stdout.trim()).toBe(PKG.version);
  });

  it('TypeScript resolves the types of both entry points from ES module and CommonJS files (module: nodenext)', async () => {
    // One tsc run for both formats: the project is ESM, its cjs/ folder CommonJS (nearest package.json decides).
    const dir = await project({ type: 'module' });
    mkdirSync(join(dir, 'cjs'));
    write(dir, 'cjs/package.json', '{}');
    const wrong = `import { defineWorkflow } from 'drover/workflow';
import type { RunSummary } from 'drover';
export const summary: RunSummary | null = null;
export default defineWorkflow({ name: 'w', description: 'd' }, async (ctx) => {
  const out = await ctx.sh('true');
  const code: string = out.exitCode;
  return code;
});
`;
    for (const sub of ['', 'cjs/']) {
      write(dir, `${sub}workflow.ts`, MODULE_WORKFLOW('typed'));
      write(dir, `${sub}wrong.ts`, wrong);
    }
    write(
      dir,
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ['workflow.ts', 'wrong.ts', 'cjs/workflow.ts', 'cjs/wrong.ts'],
      }),
    );
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], dir);
    // Exactly the planted errors: the types are real (not `any`) and everything else resolves.
    const errors = tsc.stdout
      .split('\n')
      .filter((l) => l.includes('error TS'))
      .sort();
    expect(errors, tsc.stdout).toHaveLength(2);
    expect(errors[0]).toMatch(/^cjs\/wrong\.ts\(6,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    expect(errors[1]).toMatch(/^wrong\.ts\(6,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  }, 180_000);

  it('drover ui serves its page, modules and their libraries from the installed package (no CDN)', async () => {
    const dir = await project({});
    const child = spawn(join(dir, 'node_modules', '.bin', 'drover'), ['ui', '--port', '0', '--json'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolveUrl(JSON.parse(out.split('\n')[0] as string).url);
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('close', (code) => reject(new Error(`drover ui exited ${code}: ${err}`)));
      });
      const base = new URL('/', url);
      const page = await (await fetch(base)).text();
      const seen = new Set<string>();
      const queue = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
      // The stylesheet, the boot module (early API requests), the app, and the modules it preloads.
      expect(queue.slice(0, 3)).toEqual(['/assets/style.css', '/assets/boot.mjs', '/assets/app.mjs']);
      expect(queue.every((p) => p.startsWith('/assets/'))).toBe(true);
      // Every module the page loads, transitively (static imports of absolute or relative paths).
      while (queue.length > 0) {
        const path = queue.pop() as string;
        if (seen.has(path)) continue;
        seen.add(path);
        const res = await fetch(new URL(path, base));
        expect(res.status, path).toBe(200);
        const body = await res.text();
        for (const m of body.matchAll(/(?:import|from)\s*["']([^"']+)["']/g))
          queue.push(new URL(m[1] as string, new URL(path, base)).pathname);
      }
      expect([...seen].filter((p) => p.startsWith('/assets/vendor/')).sort()).toEqual([
        '/assets/vendor/hooks.mjs',
        '/assets/vendor/htm.mjs',
        '/assets/vendor/preact.mjs',
      ]);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('the shipped demo runs from the project folder, with the command docs/install.md gives', async () => {
    const dir = await project({});
    const demo = join(dir, 'node_modules', 'drover', 'examples', 'triage-failures');
    const res = await run(
      join(dir, 'node_modules', '.bin', 'drover'),
      ['run', join(demo, 'workflow.js'), '--sim', join(demo, 'scenario.yaml'), '--json'],
      dir,
    );
    expect(res.code, res.stderr).toBe(0);
    const summary = lastJson(res.stdout);
    expect(summary).toMatchObject({ status: 'completed', result: { build: 'ci-1842', failing: 5, disputed: ['integration:db'] } });
    expect((summary.result as { confirmed: unknown[] }).confirmed).toHaveLength(4);
    const doc = readFileSync(join(ROOT, 'docs', 'install.md'), 'utf8');
    expect(doc).toContain('npx drover run $D/workflow.js --sim $D/scenario.yaml\n');
  });
});
