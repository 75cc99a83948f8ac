import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as acorn from 'acorn';
import { InputError, ScriptError, sha256Hex } from '../core/index.js';
import type { ScriptForm } from '../store/index.js';
import { WORKFLOW_MARK, type WorkflowApi, type WorkflowDefinition, type WorkflowMeta } from './api.js';
import { checkMeta } from './meta.js';
import type { ChildWorkflow } from './runtime.js';
import { dynamicImportOffset, runInSandbox, type ScriptHost } from './sandbox.js';

export interface LoadedWorkflow {
  form: ScriptForm;
  path: string;
  source: string;
  hash: string;
  meta: WorkflowMeta;
  execute(api: WorkflowApi, host?: ScriptHost): Promise<unknown>;
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);
type Node = acorn.AnyNode;

export async function loadWorkflowFile(file: string): Promise<LoadedWorkflow> {
  const path = resolve(file);
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(
      `${file}: cannot read workflow script (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'SCRIPT_NOT_FOUND',
    );
  }
  return loadWorkflowSource(path, source);
}

/** Loads a script from its text; `path` names it in errors and anchors relative imports. */
export async function loadWorkflowSource(path: string, source: string, form?: ScriptForm): Promise<LoadedWorkflow> {
  const hash = sha256Hex(source);
  // .ts/.mts/.cts and .cjs (CommonJS `module.exports = defineWorkflow(...)`) can only be modules.
  if (TS_EXTENSIONS.has(extname(path)) || extname(path) === '.cjs' || form === 'module') return loadModule(path, source, hash);
  const program = parseScript(path, source);
  const isModule = program.body.some((n) => n.type === 'ExportDefaultDeclaration');
  if (isModule) return loadModule(path, source, hash);
  return loadClaudeCodeScript(path, source, hash, program);
}

function at(path: string, source: string, offset: number): { file: string; line: number; column: number } {
  const loc = acorn.getLineInfo(source, offset);
  return { file: path, line: loc.line, column: loc.column + 1 };
}

function parseScript(path: string, source: string): acorn.Program {
  try {
    return acorn.parse(source, {
      ecmaVersion: 'latest',
      sourceType: 'module',
      allowAwaitOutsideFunction: true,
      allowReturnOutsideFunction: true,
      allowHashBang: true,
      locations: true,
    });
  } catch (err) {
    const e = err as SyntaxError & { loc?: { line: number; column: number } };
    const message = `SyntaxError: ${e.message.replace(/\s*\(\d+:\d+\)$/, '')}`;
    throw new ScriptError(message, e.loc ? { file: path, line: e.loc.line, column: e.loc.column + 1 } : undefined, 'SCRIPT_SYNTAX');
  }
}

/** Evaluates a pure literal (no calls, variables or computed keys); anything else is refused. */
function literalValue(node: Node, path: string, source: string): unknown {
  const refuse = (n: Node, what: string): never => {
    throw new ScriptError(`meta must be a pure literal: ${what} is not allowed`, at(path, source, n.start), 'SCRIPT_META');
  };
  switch (node.type) {
    case 'Literal':
      if ('regex' in node && node.regex) return refuse(node, 'a regular expression');
      if (typeof node.value === 'bigint') return refuse(node, 'a BigInt');
      return node.value;
    case 'TemplateLiteral':
      if (node.expressions.length > 0) return refuse(node, 'a template with substitutions');
      return node.quasis.map((q) => q.value.cooked).join('');
    case 'UnaryExpression':
      if (node.operator === '-' && node.argument.type === 'Literal' && typeof node.argument.value === 'number') return -node.argument.value;
      return refuse(node, `the operator ${node.operator}`);
    case 'ArrayExpression':
      return node.elements.map((el) =>
        el === null ? refuse(node, 'an array hole') : el.type === 'SpreadElement' ? refuse(el, 'a spread') : literalValue(el, path, source),
      );
    case 'ObjectExpression': {
      const out: Record<string, unknown> = {};
      for (const prop of node.properties) {
        if (prop.type === 'SpreadElement') return refuse(prop, 'a spread');
        if (prop.computed || prop.kind !== 'init' || prop.method) return refuse(prop, 'a computed key, method or accessor');
        const key =
          prop.key.type === 'Identifier'
            ? prop.key.name
            : prop.key.type === 'Literal'
              ? String(prop.key.value)
              : refuse(prop.key, 'this key');
        if (prop.shorthand) return refuse(prop, `the shorthand property "${key}"`);
        out[key] = literalValue(prop.value as Node, path, source);
      }
      return out;
    }
    default:
      return refuse(node, `${node.type.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}`);
  }
}

function loadClaudeCodeScript(path: string, source: string, hash: string, program: acorn.Program): LoadedWorkflow {
  let meta: WorkflowMeta | undefined;
  let metaExportStart = -1;
  for (const node of program.body) {
    if (node.type === 'ImportDeclaration') {
      throw new ScriptError(
        'import is not available in workflow scripts (no Node APIs; use sh() or a module-form workflow)',
        at(path, source, node.start),
        'SCRIPT_IMPORT',
      );
    }
    if (node.type === 'ExportAllDeclaration') {
      throw new ScriptError('only `export const meta = {...}` may be exported', at(path, source, node.start), 'SCRIPT_EXPORT');
    }
    if (node.type !== 'ExportNamedDeclaration') continue;
    const decl = node.declaration;
    const declarator =
      decl?.type === 'VariableDeclaration' && decl.kind === 'const' && decl.declarations.length === 1 ? decl.declarations[0] : undefined;
    if (declarator?.id.type !== 'Identifier' || declarator.id.name !== 'meta' || !declarator.init) {
      throw new ScriptError('only `export const meta = {...}` may be exported', at(path, source, node.start), 'SCRIPT_EXPORT');
    }
    const value = literalValue(declarator.init, path, source);
    const checked = checkMeta(value);
    if ('problem' in checked) throw new ScriptError(checked.problem, at(path, source, declarator.init.start), 'SCRIPT_META');
    meta = checked.meta;
    metaExportStart = node.start;
  }
  if (!meta) {
    throw new ScriptError(
      'a workflow script must declare `export const meta = { name, description }`',
      { file: path, line: 1, column: 1 },
      'SCRIPT_META',
    );
  }
  // Blank out the `export` keyword only, so every line and column stays where it was.
  const body = `${source.slice(0, metaExportStart)}      ${source.slice(metaExportStart + 6)}`.replace(/^#!.*/, '');
  const scriptMeta = meta;
  // import() reaches the host realm: refused at load, like an import declaration (no run is created).
  const importAt = dynamicImportOffset(`(async function () {\n${body}\n})`);
  if (importAt !== undefined) {
    const loc = acorn.getLineInfo(`(async function () {\n${body}\n})`, importAt);
    throw new ScriptError(
      'import() is not available in workflow scripts (no Node APIs; use sh() or a module-form workflow)',
      { file: path, line: loc.line - 1, column: loc.column + 1 },
      'SCRIPT_IMPORT',
    );
  }
  return {
    form: 'claude-code',
    path,
    source,
    hash,
    meta: scriptMeta,
    execute: (api, host) => runInSandbox(body, path, api, host),
  };
}

async function loadModule(path: string, source: string, hash: string): Promise<LoadedWorkflow> {
  if (!existsSync(path)) {
    throw new InputError(`${path}: module-form workflow no longer exists; pass --script <path>`, 'SCRIPT_NOT_FOUND');
  }
  let mod: { default?: unknown };
  try {
    if (TS_EXTENSIONS.has(extname(path))) {
      const { tsImport } = await import('tsx/esm/api');
      mod = (await tsImport(`${pathToFileURL(path).href}?drover=${hash.slice(0, 12)}`, import.meta.url)) as { default?: unknown };
    } else {
      mod = (await import(`${pathToFileURL(path).href}?drover=${hash.slice(0, 12)}`)) as { default?: unknown };
    }
  } catch (err) {
    const e = err as Error;
    throw new ScriptError(`cannot load module: ${e.message.split('\n')[0]}`, undefined, 'SCRIPT_LOAD');
  }
  const def = unwrapDefault(mod.default);
  if (!isDefinition(def)) {
    throw new ScriptError(
      'the default export must be defineWorkflow({ name, description }, async (ctx) => { ... })',
      { file: path, line: 1, column: 1 },
      'SCRIPT_EXPORT',
    );
  }
  const checked = checkMeta(def.meta);
  if ('problem' in checked) throw new ScriptError(checked.problem, { file: path, line: 1, column: 1 }, 'SCRIPT_META');
  return { form: 'module', path, source, hash, meta: checked.meta, execute: async (api) => def.run(api) };
}

function unwrapDefault(value: unknown): unknown {
  // tsx may wrap a CommonJS-looking default once more.
  if (value && typeof value === 'object' && !isDefinition(value) && 'default' in value) return (value as { default: unknown }).default;
  return value;
}

function isDefinition(value: unknown): value is WorkflowDefinition {
  return (
    !!value &&
    typeof value === 'object' &&
    ((value as Record<symbol, unknown>)[WORKFLOW_MARK] === true ||
      ('meta' in value && typeof (value as { run?: unknown }).run === 'function'))
  );
}

/** Resolves `workflow(nameOrRef)`: a definition object, or a path relative to the calling script. */
export async function loadChildWorkflow(ref: unknown, fromDir: string): Promise<ChildWorkflow> {
  if (isDefinition(ref)) {
    const checked = checkMeta(ref.meta);
    if ('problem' in checked) throw new InputError(`workflow(): ${checked.problem}`);
    return { name: checked.meta.name, scriptDir: fromDir, execute: async (api) => ref.run(api) };
  }
  if (typeof ref !== 'string' || ref.trim() === '')
    throw new InputError('workflow(): takes a script path or name, or a defineWorkflow() value');
  const base = isAbsolute(ref) ? ref : resolve(fromDir, ref);
  const candidates = [base, `${base}.js`, `${base}.mjs`, `${base}.ts`, resolve(base, 'workflow.js')];
  const found = candidates.find((c) => existsSync(c) && !c.endsWith('/'));
  if (!found)
    throw new InputError(
      `workflow(): no workflow "${ref}" (looked for ${candidates.map((c) => c.replace(`${fromDir}/`, '')).join(', ')})`,
      'SCRIPT_NOT_FOUND',
    );
  const loaded = await loadWorkflowFile(found);
  return { name: loaded.meta.name, scriptDir: dirname(found), execute: loaded.execute };
}
