import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** A tool call the agent got wrong: reported back to the model as a tool error, never thrown out of the loop. */
export class ToolError extends Error {}

/**
 * The directory the agent may touch. Every path is resolved inside it; `..` and
 * symlinks whose target lies outside are refused (checked on the real path of the
 * deepest existing ancestor, so a file about to be created is checked too).
 */
export class Workspace {
  readonly root: string;
  private readonly realRoot: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.realRoot = realpathSync(this.root);
  }

  resolve(path: unknown, what = 'path'): string {
    if (typeof path !== 'string' || path.trim() === '') throw new ToolError(`${what} must be a non-empty string`);
    const abs = resolve(this.root, path);
    if (!this.inside(this.root, abs)) throw new ToolError(`${what} "${path}" is outside the workspace; use a path inside ${this.root}`);
    let existing = abs;
    while (!existsSync(existing)) {
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
    const real = realpathSync(existing);
    if (!this.inside(this.realRoot, real)) {
      throw new ToolError(`${what} "${path}" leads outside the workspace through a symbolic link; refused`);
    }
    return abs;
  }

  /** The path as the model should see it: relative to the workspace. */
  show(abs: string): string {
    return relative(this.root, abs) || '.';
  }

  private inside(root: string, candidate: string): boolean {
    const rel = relative(root, candidate);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  }
}
