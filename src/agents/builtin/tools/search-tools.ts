import { readFile, stat } from 'node:fs/promises';
import { glob as findFiles } from 'tinyglobby';
import type { ToolSpec } from './tool.js';
import { ToolError } from './workspace.js';

const IGNORE = ['**/.git/**', '**/node_modules/**'];
const MAX_FILES = 500;
const MAX_MATCHES = 200;
const MAX_GREP_FILE_BYTES = 2_000_000;

export const globTool: ToolSpec = {
  name: 'glob',
  description: 'List files matching a glob pattern (e.g. "src/**/*.ts"), relative to the workspace.',
  parameters: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
  async run(input, { workspace }) {
    if (typeof input.pattern !== 'string' || input.pattern === '') throw new ToolError('pattern must be a non-empty string');
    if (input.pattern.startsWith('/') || input.pattern.split('/').includes('..')) {
      throw new ToolError('pattern must be relative to the workspace, without ".."');
    }
    const files = (await findFiles(input.pattern, { cwd: workspace.root, ignore: IGNORE, onlyFiles: true, dot: false })).sort();
    if (files.length === 0) return 'no files match';
    const shown = files.slice(0, MAX_FILES).join('\n');
    return files.length > MAX_FILES ? `${shown}\n[${files.length - MAX_FILES} more]` : shown;
  },
};

export const grepTool: ToolSpec = {
  name: 'grep',
  description: 'Search file contents with a JavaScript regular expression. Optional path (file or directory) and glob filter.',
  parameters: {
    type: 'object',
    properties: { pattern: { type: 'string' }, path: { type: 'string' }, glob: { type: 'string' } },
    required: ['pattern'],
  },
  async run(input, { workspace }) {
    if (typeof input.pattern !== 'string' || input.pattern === '') throw new ToolError('pattern must be a non-empty string');
    let re: RegExp;
    try {
      re = new RegExp(input.pattern);
    } catch (err) {
      throw new ToolError(`bad regular expression: ${(err as Error).message}`);
    }
    const base = workspace.resolve(input.path ?? '.');
    const info = await stat(base).catch(() => null);
    if (!info) throw new ToolError(`no such path: ${workspace.show(base)}`);
    const pattern = typeof input.glob === 'string' && input.glob !== '' ? input.glob : '**/*';
    const files = info.isDirectory()
      ? (await findFiles(pattern, { cwd: base, ignore: IGNORE, onlyFiles: true, absolute: true })).sort()
      : [base];
    const matches: string[] = [];
    for (const file of files) {
      workspace.resolve(file);
      const size = (await stat(file)).size;
      if (size > MAX_GREP_FILE_BYTES) continue;
      const text = await readFile(file, 'utf8');
      if (text.includes('\u0000')) continue; // binary
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (re.test(lines[i] as string)) {
          matches.push(`${workspace.show(file)}:${i + 1}: ${(lines[i] as string).slice(0, 300)}`);
          if (matches.length >= MAX_MATCHES) return `${matches.join('\n')}\n[stopped at ${MAX_MATCHES} matches]`;
        }
      }
    }
    return matches.length ? matches.join('\n') : 'no matches';
  },
};
