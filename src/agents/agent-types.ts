/**
 * @module Agent definitions as Claude Code reads them, for `agent(prompt, { agentType })`.
 *
 * A definition is a markdown file under a `.claude/agents/` directory (subfolders included) with
 * YAML frontmatter; the agent is known by its frontmatter `name`, not its file name. Lookup order,
 * first match wins — as observed with the real Claude Code 2.1.197 CLI (`claude -p --agent <name>`):
 * 1. project: `.claude/agents/` in the working directory, then in each parent up to the git root
 *    (the directory holding `.git`; without one, up to the filesystem root, the user's home excluded);
 *    the nearest directory wins;
 * 2. user: `~/.claude/agents/`;
 * 3. Claude Code's built-in types that drover mirrors: `general-purpose`, `Explore`, `Plan`.
 * Files without frontmatter or without a `name` are not agents (skipped, as Claude Code does).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { InputError } from '../core/index.js';
import type { AgentOutcome, AgentRequest, Effort } from './types.js';

export interface AgentDefinition {
  name: string;
  description: string;
  /** Claude Code tool names the agent may use, as written (`Read`, `Bash(git *)`, …); undefined: every tool. */
  tools?: string[];
  /** Claude Code tool names removed from `tools` (or from every tool). */
  disallowedTools?: string[];
  /** `sonnet`, `opus`, `haiku`, `inherit` or a model id; undefined means `inherit`. */
  model?: string;
  /** Most turns the agent may take (frontmatter `maxTurns`). */
  maxTurns?: number;
  /** Reasoning effort (frontmatter `effort`), used when the call sets none. */
  effort?: Effort;
  /** Frontmatter fields Claude Code acts on that the builtin and codex backends do not (`hooks`, `mcpServers`, …). */
  unapplied?: string[];
  /** The markdown body: the agent's system prompt (trimmed). */
  prompt: string;
  /** Absolute path of the file, or `built-in`. */
  source: string;
  scope: 'project' | 'user' | 'built-in';
}

/**
 * An agent definition that cannot be used. Codes: `AGENT_TYPE_NOT_FOUND` (no definition with that
 * name; the message lists the directories searched and the names available) and
 * `INVALID_AGENT_DEFINITION` (the message starts with `<file>:<line>:`). Exit code 2.
 */
export class AgentDefinitionError extends InputError {
  constructor(
    message: string,
    code: 'AGENT_TYPE_NOT_FOUND' | 'INVALID_AGENT_DEFINITION',
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message, code);
  }
}

export interface AgentLookup {
  /** The call's working directory: the start of the project search. */
  cwd: string;
  /** The user's home (its `.claude/agents/`); default `os.homedir()`. */
  home?: string;
}

/**
 * Claude Code's built-in agent types that drover mirrors for the builtin and codex backends
 * (the claude-code backend leaves them to Claude Code). `general-purpose` is drover's default
 * agent; `Explore` and `Plan` are read-only, as in Claude Code.
 */
const BUILT_IN: readonly AgentDefinition[] = [
  { name: 'general-purpose', description: 'General-purpose agent', prompt: '', source: 'built-in', scope: 'built-in' },
  {
    name: 'Explore',
    description: 'Read-only codebase exploration',
    tools: ['Bash', 'Glob', 'Grep', 'Read'],
    prompt: 'You explore the codebase to answer the question. Do not modify any file.',
    source: 'built-in',
    scope: 'built-in',
  },
  {
    name: 'Plan',
    description: 'Read-only research for a plan',
    tools: ['Bash', 'Glob', 'Grep', 'Read'],
    prompt: 'You research the codebase and answer with an implementation plan. Do not modify any file.',
    source: 'built-in',
    scope: 'built-in',
  },
];

/** The `.claude/agents/` directories searched for `cwd`, in precedence order (existing ones only). */
export function agentDirectories(lookup: AgentLookup): { dir: string; scope: 'project' | 'user' }[] {
  const home = resolve(lookup.home ?? homedir());
  const dirs: { dir: string; scope: 'project' | 'user' }[] = [];
  let at = resolve(lookup.cwd);
  for (;;) {
    if (at === home) break;
    const dir = join(at, '.claude', 'agents');
    if (isDirectory(dir)) dirs.push({ dir, scope: 'project' });
    if (existsSync(join(at, '.git'))) break;
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  const user = join(home, '.claude', 'agents');
  if (isDirectory(user)) dirs.push({ dir: user, scope: 'user' });
  return dirs;
}

/**
 * Finds the definition of agent type `name` (see the module comment for the order).
 * Throws AgentDefinitionError `AGENT_TYPE_NOT_FOUND`, or `INVALID_AGENT_DEFINITION` when the file that
 * would define it cannot be read (its file name or its `name:` line names the type).
 */
export function findAgentDefinition(name: string, lookup: AgentLookup): AgentDefinition {
  const dirs = agentDirectories(lookup);
  const available = new Set<string>();
  for (const { dir, scope } of dirs) {
    for (const file of markdownFiles(dir)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      let definition: AgentDefinition | null;
      try {
        definition = parseAgentDefinition(text, file, scope);
      } catch (err) {
        if (err instanceof AgentDefinitionError && meantNames(text, file).includes(name)) throw err;
        continue;
      }
      if (!definition) continue;
      if (definition.name === name) return definition;
      available.add(definition.name);
    }
  }
  const builtIn = BUILT_IN.find((d) => d.name === name);
  if (builtIn) return builtIn;
  for (const d of BUILT_IN) available.add(d.name);
  const searched = dirs.length ? dirs.map((d) => d.dir).join(', ') : `no .claude/agents/ directory from ${lookup.cwd} nor in the home`;
  throw new AgentDefinitionError(
    `agentType '${name}' not found (searched: ${searched}). Available agents: ${[...available].sort().join(', ')}`,
    'AGENT_TYPE_NOT_FOUND',
  );
}

/**
 * Parses one definition file. Returns null when the file is not an agent definition (no
 * frontmatter, or no `name`), as Claude Code skips those. Throws AgentDefinitionError
 * `INVALID_AGENT_DEFINITION` naming `file:line` for YAML errors and fields of the wrong type.
 */
export function parseAgentDefinition(text: string, file: string, scope: AgentDefinition['scope'] = 'project'): AgentDefinition | null {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '---') return null;
  const end = lines.findIndex((l, i) => i > 0 && l.trim() === '---');
  const invalid = (line: number, problem: string) =>
    new AgentDefinitionError(`${file}:${line}: ${problem}`, 'INVALID_AGENT_DEFINITION', file, line);
  if (end < 0) throw invalid(1, 'the frontmatter opened by --- is never closed by a --- line');
  const counter = new LineCounter();
  const doc = parseDocument(lines.slice(1, end).join('\n'), { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  // Frontmatter line n is file line n + 1 (line 1 is the opening ---).
  const fileLine = (offset: number | undefined) => (offset === undefined ? 2 : counter.linePos(offset).line + 1);
  const yamlError = doc.errors[0];
  if (yamlError) throw invalid(fileLine(yamlError.pos[0]), `invalid YAML frontmatter: ${yamlError.message.split('\n')[0]}`);
  if (doc.contents === null) return null;
  if (!isMap(doc.contents)) throw invalid(2, 'the frontmatter must be a mapping of fields (name, description, tools, model, …)');
  const node = (key: string): Node | undefined => doc.get(key, true) as Node | undefined;
  const lineOf = (key: string) => fileLine(node(key)?.range?.[0]);
  const str = (key: string): string | undefined => {
    const n = node(key);
    if (n === undefined || (isScalar(n) && n.value === null)) return undefined;
    if (!isScalar(n) || typeof n.value === 'object') throw invalid(lineOf(key), `\`${key}\` must be a string`);
    return String(n.value).trim();
  };
  const toolList = (key: string): string[] | undefined => {
    const n = node(key);
    if (n === undefined) return undefined;
    if (isScalar(n)) {
      if (n.value === null) return [];
      if (typeof n.value !== 'string') throw invalid(lineOf(key), `\`${key}\` must be a comma-separated string or a list of tool names`);
      return splitTools(n.value);
    }
    if (isSeq(n) && n.items.every((i) => isScalar(i) && typeof i.value === 'string')) {
      return n.items.flatMap((i) => splitTools(String((i as { value: string }).value)));
    }
    throw invalid(lineOf(key), `\`${key}\` must be a comma-separated string or a list of tool names`);
  };

  const name = str('name');
  if (!name) return null;
  const description = str('description');
  if (!description)
    throw invalid(lineOf('name'), `agent '${name}' has no \`description\` (required; Claude Code skips definitions without one)`);
  const tools = toolList('tools');
  const disallowedTools = toolList('disallowedTools');
  const model = str('model');
  let maxTurns: number | undefined;
  const turns = node('maxTurns');
  if (turns !== undefined) {
    const value = isScalar(turns) ? turns.value : undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
      throw invalid(lineOf('maxTurns'), '`maxTurns` must be a positive integer');
    maxTurns = value;
  }
  const effort = str('effort');
  if (effort !== undefined && !EFFORTS.includes(effort as Effort))
    throw invalid(lineOf('effort'), `\`effort\` must be one of ${EFFORTS.join(', ')}`);
  const unapplied = UNAPPLIED_FIELDS.filter((f) => doc.has(f));
  return {
    name,
    description,
    ...(effort ? { effort: effort as Effort } : {}),
    ...(unapplied.length ? { unapplied } : {}),
    ...(tools !== undefined ? { tools } : {}),
    ...(disallowedTools !== undefined ? { disallowedTools } : {}),
    ...(model ? { model } : {}),
    ...(maxTurns !== undefined ? { maxTurns } : {}),
    prompt: lines
      .slice(end + 1)
      .join('\n')
      .trim(),
    source: file,
    scope,
  };
}

const EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];

/** Claude Code subagent fields with effects drover's own agents do not reproduce (reported by Claude Code's docs). */
const UNAPPLIED_FIELDS = ['permissionMode', 'skills', 'mcpServers', 'hooks', 'memory', 'background', 'isolation'];

/** The warning for fields a backend does not apply, if any. */
export function unappliedWarning(definition: AgentDefinition, backend: string): string[] {
  return definition.unapplied?.length
    ? [`agentType '${definition.name}': ${definition.unapplied.join(', ')} not applied by the ${backend} backend`]
    : [];
}

/** Model aliases as Claude Code 2.1.197 resolves them (observed: `claude --model <alias>` requests these ids). */
export const CLAUDE_MODEL_ALIASES: Readonly<Record<string, string>> = {
  sonnet: 'claude-sonnet-5',
  opus: 'claude-opus-4-8',
  haiku: 'claude-haiku-4-5-20251001',
};

/** Claude Code tool names and the builtin agent's tools they stand for. */
export const CLAUDE_TO_BUILTIN_TOOLS: Readonly<Record<string, string>> = {
  Bash: 'bash',
  Edit: 'edit_file',
  Glob: 'glob',
  Grep: 'grep',
  Read: 'read_file',
  Write: 'write_file',
};

/**
 * The builtin tools a definition grants, out of `available` (builtin names), with a warning for
 * each Claude Code tool that has no builtin counterpart (ignored) and for each tool written with a
 * rule (`Bash(git *)`): the builtin agent cannot enforce the rule, so the tool is not granted.
 */
export function builtinToolsFor(definition: AgentDefinition, available: readonly string[]): { tools: string[]; warnings: string[] } {
  const warnings: string[] = [];
  const map = (names: readonly string[], warn: boolean): Set<string> => {
    const out = new Set<string>();
    for (const raw of names) {
      const mapped = CLAUDE_TO_BUILTIN_TOOLS[raw];
      if (mapped) out.add(mapped);
      else if (!warn) continue;
      else if (/^\w+\(.*\)$/.test(raw))
        warnings.push(`agentType '${definition.name}': tool '${raw}' has a rule the builtin agent cannot enforce; not granted`);
      else warnings.push(`agentType '${definition.name}': tool '${raw}' has no builtin counterpart; ignored`);
    }
    return out;
  };
  const granted = definition.tools ? map(definition.tools, true) : new Set(available);
  const denied = map(definition.disallowedTools ?? [], false);
  return { tools: available.filter((t) => granted.has(t) && !denied.has(t)), warnings };
}

/**
 * The model for a call with this definition: the call's own model when it named one, else the
 * definition's (an alias mapped for Anthropic models), else the run's. On a backend that does not
 * speak Anthropic models (`anthropicModels` false) an alias is not applied, with a warning.
 */
export function modelFor(
  definition: AgentDefinition,
  request: { model: string; modelFromCall?: boolean },
  anthropicModels: boolean,
): { model: string; warning?: string } {
  const wanted = definition.model;
  if (!wanted || wanted === 'inherit' || request.modelFromCall) return { model: request.model };
  const alias = CLAUDE_MODEL_ALIASES[wanted];
  if (!alias) return { model: wanted };
  if (anthropicModels) return { model: alias };
  return {
    model: request.model,
    warning: `agentType '${definition.name}': model '${wanted}' is a Claude alias; kept ${request.model} on this provider`,
  };
}

/** Appends an agent's prompt to a fixed system text: the fixed part stays first, so it stays a cacheable prefix. */
export function withAgentPrompt(system: string, definition: AgentDefinition): string {
  return definition.prompt ? `${system}\n\n${definition.prompt}` : system;
}

function splitTools(value: string): string[] {
  // Commas inside a rule's parentheses (`Bash(a, b)`) do not split.
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of value) {
    if (ch === '(') depth++;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** The names a broken file may have meant: its file name and its `name:` line. */
function meantNames(text: string, file: string): string[] {
  const m = /^name:\s*["']?([^"'\r\n#]*?)["']?\s*$/m.exec(text);
  return [basename(file, '.md'), ...(m?.[1] ? [m[1].trim()] : [])];
}

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return out;
  }
  for (const entry of entries.sort()) {
    if (!entry.endsWith('.md')) continue;
    const file = join(dir, entry);
    if (relative(dir, file).startsWith('..')) continue;
    try {
      if (statSync(file).isFile()) out.push(file);
    } catch {
      // A dangling link: not a definition.
    }
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Resolves a request's `agentType` for a backend: the definition, or the failed outcome to return
 * (`AGENT_TYPE_NOT_FOUND`, `INVALID_AGENT_DEFINITION`; no request was made, so no usage).
 */
export function resolveAgentType(
  request: AgentRequest,
  home: string | undefined,
): { definition: AgentDefinition; failure?: undefined } | { definition?: undefined; failure: AgentOutcome & { ok: false } } {
  try {
    return { definition: findAgentDefinition(request.agentType as string, { cwd: request.cwd, ...(home ? { home } : {}) }) };
  } catch (err) {
    if (!(err instanceof AgentDefinitionError)) throw err;
    return { failure: { ok: false, error: { code: err.code, message: err.message }, usage: [], attempts: 0 } };
  }
}

/** Sends each warning as `warning` progress and returns the outcome with the definition and warnings in its detail. */
export function noteDefinition(outcome: AgentOutcome, source: string | undefined, warnings: readonly string[]): AgentOutcome {
  const detail = {
    ...outcome.detail,
    ...(source ? { agentDefinition: source } : {}),
    ...(warnings.length ? { warnings: [...(outcome.detail?.warnings ?? []), ...warnings] } : {}),
  };
  return { ...outcome, detail };
}

export function emitWarnings(request: AgentRequest, warnings: readonly string[]): void {
  for (const message of warnings) request.onProgress?.({ type: 'warning', message });
}
