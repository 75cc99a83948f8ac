import { randomBytes } from 'node:crypto';
import { InputError } from './errors.js';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Run ids sort by creation time and stay readable: `20261122-045236-a1b2c3`. */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function validateRunId(id: string, where = '--run-id'): string {
  if (!RUN_ID.test(id)) {
    throw new InputError(`${where}: "${id}" is not a valid run id (letters, digits, . _ -, at most 64, starting with a letter or digit)`);
  }
  return id;
}

export function newToken(bytes = 8): string {
  return randomBytes(bytes).toString('hex');
}
