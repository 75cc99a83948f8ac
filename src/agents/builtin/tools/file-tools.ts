/**
 * @module read_file, write_file and edit_file: files are opened only through
 * {@link Workspace.openRead}/{@link Workspace.openWrite} (real path checked,
 * O_NOFOLLOW, checked again once open), never by path with fs.readFile/writeFile.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ToolSpec } from './tool.js';
import { ToolError } from './workspace.js';

const MAX_READ_CHARS = 100_000;

function str(input: Record<string, unknown>, key: string, optional = false): string {
  const v = input[key];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') throw new ToolError(`${key} must be a string`);
  return v;
}

/** Replaces the whole content of an open file (positional writes: the handle's offset may be anywhere). */
async function overwrite(handle: FileHandle, content: string): Promise<void> {
  const bytes = Buffer.from(content, 'utf8');
  await handle.truncate(0);
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.length - at, at);
    at += bytesWritten;
  }
}

/** Runs `fn` on the handle and closes it, whatever happens. */
async function withFile<T>(
  opened: Promise<{ handle: FileHandle; abs: string }>,
  fn: (handle: FileHandle, abs: string) => Promise<T>,
): Promise<T> {
  const { handle, abs } = await opened;
  try {
    return await fn(handle, abs);
  } finally {
    await handle.close();
  }
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
    let text = await withFile(workspace.openRead(input.path), (handle) => handle.readFile('utf8'));
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
    const content = str(input, 'content');
    const file = await withFile(workspace.openWrite(input.path, true), async (handle, abs) => {
      await overwrite(handle, content);
      return abs;
    });
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
    const oldString = str(input, 'old_string');
    const newString = str(input, 'new_string');
    if (oldString === '') throw new ToolError('old_string must not be empty; use write_file to create a file');
    return withFile(workspace.openWrite(input.path, false), async (handle, abs) => {
      const file = workspace.show(abs);
      const text = await handle.readFile('utf8');
      const count = text.split(oldString).length - 1;
      if (count === 0) throw new ToolError(`old_string not found in ${file}`);
      if (count > 1 && input.replace_all !== true) {
        throw new ToolError(`old_string occurs ${count} times in ${file}; include more context or set replace_all`);
      }
      await overwrite(handle, text.split(oldString).join(newString));
      return `edited ${file} (${count} replacement${count > 1 ? 's' : ''})`;
    });
  },
};
