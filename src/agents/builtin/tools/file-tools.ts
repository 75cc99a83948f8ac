import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ToolSpec } from './tool.js';
import { ToolError } from './workspace.js';

const MAX_READ_CHARS = 100_000;

function str(input: Record<string, unknown>, key: string, optional = false): string {
  const v = input[key];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') throw new ToolError(`${key} must be a string`);
  return v;
}

export const readFileTool: ToolSpec = {
  name: 'read_file',
  description: 'Read a text file. Optional 1-based line offset and line limit.',
  parameters: {
    type: 'object',
    properties: { path: { type: 'string' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
    required: ['path'],
  },
  async run(input, { workspace }) {
    const file = workspace.resolve(input.path);
    const info = await stat(file).catch(() => null);
    if (!info) throw new ToolError(`no such file: ${workspace.show(file)}`);
    if (info.isDirectory()) throw new ToolError(`${workspace.show(file)} is a directory; use glob to list it`);
    let text = await readFile(file, 'utf8');
    if (input.offset !== undefined || input.limit !== undefined) {
      const lines = text.split('\n');
      const from = Math.max(1, Number(input.offset ?? 1)) - 1;
      text = lines.slice(from, input.limit === undefined ? undefined : from + Math.max(0, Number(input.limit))).join('\n');
    }
    if (text.length > MAX_READ_CHARS) {
      return `${text.slice(0, MAX_READ_CHARS)}\n[truncated: ${text.length - MAX_READ_CHARS} more characters; read with offset/limit]`;
    }
    return text;
  },
};

export const writeFileTool: ToolSpec = {
  name: 'write_file',
  description: 'Create or overwrite a file with the given content.',
  parameters: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] },
  async run(input, { workspace }) {
    const file = workspace.resolve(input.path);
    const content = str(input, 'content');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
    return `wrote ${workspace.show(file)} (${Buffer.byteLength(content)} bytes)`;
  },
};

export const editFileTool: ToolSpec = {
  name: 'edit_file',
  description: 'Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all is true.',
  parameters: {
    type: 'object',
    properties: {
      path: { type: 'string' },
      old_string: { type: 'string' },
      new_string: { type: 'string' },
      replace_all: { type: 'boolean' },
    },
    required: ['path', 'old_string', 'new_string'],
  },
  async run(input, { workspace }) {
    const file = workspace.resolve(input.path);
    const oldString = str(input, 'old_string');
    const newString = str(input, 'new_string');
    if (oldString === '') throw new ToolError('old_string must not be empty; use write_file to create a file');
    const text = await readFile(file, 'utf8').catch(() => {
      throw new ToolError(`no such file: ${workspace.show(file)}`);
    });
    const count = text.split(oldString).length - 1;
    if (count === 0) throw new ToolError(`old_string not found in ${workspace.show(file)}`);
    if (count > 1 && input.replace_all !== true) {
      throw new ToolError(`old_string occurs ${count} times in ${workspace.show(file)}; include more context or set replace_all`);
    }
    await writeFile(file, text.split(oldString).join(newString));
    return `edited ${workspace.show(file)} (${count} replacement${count > 1 ? 's' : ''})`;
  },
};
