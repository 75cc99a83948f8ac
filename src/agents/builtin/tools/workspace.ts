/**
 * @module The directory the built-in agent may touch, and the only ways its file
 * tools open files: every path is resolved to where it really leads (symlinks
 * followed, dangling ones included) and refused when that is outside; files are
 * then opened without following a link and checked again once open.
 */
import { constants, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { type FileHandle, mkdir, open, readlink, realpath, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** A tool call the agent got wrong: reported back to the model as a tool error, never thrown out of the loop. */
export class ToolError extends Error {}

/** 0 where the platform has no O_NOFOLLOW (Windows): the post-open check still applies. */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** A planted FIFO must not block an open: it is opened at once, then refused as not a regular file. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
/** Linux's own limit on symlinks followed while resolving one path (MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;

/** True when `candidate` is `root` or below it (both absolute, normalised). */
export function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

/** Where a workspace path leads. */
export interface Located {
  /** The path as asked for, absolute, inside the workspace lexically. */
  abs: string;
  /** Where it really leads: symlinks resolved, including dangling ones; no link left in it when it was checked. */
  real: string;
  /** Whether `real` existed when it was checked. */
  exists: boolean;
}

/**
 * The directory the agent may touch. Every path is resolved inside it; `..` and
 * symlinks whose target lies outside are refused, dangling ones too (a link
 * planted in a cloned repository towards a file that does not exist yet).
 * Tools open files only through {@link Workspace.openRead} and
 * {@link Workspace.openWrite}, which open the resolved path with O_NOFOLLOW and
 * check the opened file's real location again (/proc/self/fd on Linux, device
 * and inode elsewhere), so a link swapped in between check and open is refused.
 */
export class Workspace {
  readonly root: string;
  /** The root's real path: what every resolved path is compared with. */
  readonly realRoot: string;

  /**
   * @param guard the policy's check of a file's real path (AgentPolicyLimits.checkPath): null
   *   allows, a string is the refusal, thrown as a ToolError before the file is opened
   */
  constructor(
    root: string,
    readonly guard?: (op: 'read' | 'write', realPath: string) => string | null,
  ) {
    this.root = resolve(root);
    this.realRoot = realpathSync.native(this.root);
  }

  /** Refuses what the policy denies on the file's real path. */
  private allow(op: 'read' | 'write', at: Located): void {
    const refusal = this.guard?.(op, at.real);
    if (refusal) throw new ToolError(refusal);
  }

  /**
   * The absolute path for a tool's `path` argument, after checking both the path
   * and where it really leads.
   * @throws ToolError when the path is not a non-empty string, lies outside, or leads outside through a symlink.
   */
  resolve(path: unknown, what = 'path'): string {
    return this.locate(path, what).abs;
  }

  /**
   * Resolves a tool's `path` argument to where it really leads.
   * @throws ToolError as {@link Workspace.resolve}, and for a symlink loop.
   */
  locate(path: unknown, what = 'path'): Located {
    if (typeof path !== 'string' || path.trim() === '') throw new ToolError(`${what} must be a non-empty string`);
    const abs = resolve(this.root, path);
    if (!isInside(this.root, abs)) throw new ToolError(`${what} "${path}" is outside the workspace; use a path inside ${this.root}`);
    const { real, exists } = realTarget(abs, path);
    if (!isInside(this.realRoot, real)) {
      throw new ToolError(`${what} "${path}" leads outside the workspace through a symbolic link; refused`);
    }
    return { abs, real, exists };
  }

  /**
   * Opens an existing file for reading.
   * @throws ToolError when it is missing, outside, or a directory.
   */
  async openRead(path: unknown): Promise<{ handle: FileHandle; abs: string }> {
    const at = this.locate(path);
    if (!at.exists) throw new ToolError(`no such file: ${this.show(at.abs)}`);
    this.allow('read', at);
    const handle = await this.openChecked(at, constants.O_RDONLY, false);
    return { handle, abs: at.abs };
  }

  /**
   * Opens a file for reading and writing, creating it (and missing parent
   * directories) when `create`. Nothing is truncated: the caller does, once
   * it holds a checked handle.
   * @throws ToolError when it is missing (without `create`), outside, or a directory.
   */
  async openWrite(path: unknown, create: boolean): Promise<{ handle: FileHandle; abs: string }> {
    let at = this.locate(path);
    if (!at.exists && !create) throw new ToolError(`no such file: ${this.show(at.abs)}`);
    // Checked before any directory is made; an edit reads too, so both are asked.
    this.allow('write', at);
    if (at.exists) this.allow('read', at);
    if (!at.exists) {
      // The missing directories lie under the real path of an existing one: no link in between.
      await mkdir(dirname(at.real), { recursive: true }).catch((err: unknown) => {
        throw codeOf(err) === 'ENOTDIR' || codeOf(err) === 'EEXIST'
          ? new ToolError(`${this.show(at.abs)}: a parent is not a directory`)
          : err;
      });
      const again = this.locate(path);
      if (again.real !== at.real) throw new ToolError(`${this.show(at.abs)} changed while it was being created; refused`);
      at = again;
    }
    const handle = await this.openChecked(at, constants.O_RDWR | (create ? constants.O_CREAT : 0), create);
    return { handle, abs: at.abs };
  }

  /** The path as the model should see it: relative to the workspace. */
  show(abs: string): string {
    return relative(this.root, abs) || '.';
  }

  private async openChecked(at: Located, flags: number, create: boolean): Promise<FileHandle> {
    const shown = this.show(at.abs);
    let handle: FileHandle;
    let created = false;
    try {
      if (create) {
        try {
          handle = await open(at.real, flags | constants.O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o666);
          created = true;
        } catch (err) {
          if (codeOf(err) !== 'EEXIST') throw err;
          handle = await open(at.real, (flags & ~constants.O_CREAT) | O_NOFOLLOW | O_NONBLOCK);
        }
      } else {
        handle = await open(at.real, flags | O_NOFOLLOW | O_NONBLOCK);
      }
    } catch (err) {
      const code = codeOf(err);
      if (code === 'ELOOP') throw new ToolError(`${shown} became a symbolic link while it was being opened; refused`);
      if (code === 'EISDIR') throw new ToolError(`${shown} is a directory; use glob to list it`);
      if (code === 'ENOENT') throw new ToolError(`no such file: ${shown}`);
      if (code === 'ENOTDIR') throw new ToolError(`${shown}: a parent is not a directory`);
      if (code === 'ENXIO') throw new ToolError(`${shown} is not a regular file; refused`);
      throw err;
    }
    try {
      const where = await this.openedAt(handle, at.real);
      if (where === null || !isInside(this.realRoot, where)) {
        if (created && where !== null) await unlink(where).catch(() => undefined);
        throw new ToolError(`${shown} leads outside the workspace (it changed while it was being opened); refused`);
      }
      const info = await handle.stat();
      if (info.isDirectory()) throw new ToolError(`${shown} is a directory; use glob to list it`);
      if (!info.isFile()) throw new ToolError(`${shown} is not a regular file (a FIFO, socket or device); refused`);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The real path of an open file, or null when it is not the file that was checked. */
  private async openedAt(handle: FileHandle, expected: string): Promise<string | null> {
    const viaProc = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => null);
    if (viaProc !== null) return viaProc;
    // No /proc (macOS, Windows): the open file must be the one the real path names now.
    const [opened, named, real] = await Promise.all([
      handle.stat(),
      stat(expected).catch(() => null),
      realpath(expected).catch(() => null),
    ]);
    return named && real && opened.dev === named.dev && opened.ino === named.ino ? real : null;
  }
}

/**
 * Where `abs` really leads: the real path of its deepest existing ancestor plus
 * the rest, following symlinks, dangling ones included (a dangling link's target
 * is resolved against its directory's real path, as the kernel would).
 * @throws ToolError past 40 links (a loop).
 */
export function realTarget(abs: string, asked = abs): { real: string; exists: boolean } {
  let path = abs;
  for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
    const rest: string[] = [];
    let existing = path;
    for (;;) {
      try {
        lstatSync(existing);
        break;
      } catch (err) {
        if (codeOf(err) !== 'ENOENT' && codeOf(err) !== 'ENOTDIR') throw err;
        const parent = dirname(existing);
        if (parent === existing) break;
        rest.unshift(basename(existing));
        existing = parent;
      }
    }
    try {
      return { real: join(realpathSync.native(existing), ...rest), exists: rest.length === 0 };
    } catch (err) {
      if (codeOf(err) === 'ELOOP') break;
      if (codeOf(err) !== 'ENOENT') throw err;
      // `existing` is a link whose target (or a link on the way) does not exist: follow it by hand.
      const target = readlinkSync(existing);
      path = join(resolve(realpathSync.native(dirname(existing)), target), ...rest);
    }
  }
  throw new ToolError(`path "${asked}" goes through more than ${MAX_LINK_HOPS} symbolic links; refused`);
}
