/**
 * @module The bubblewrap command line for a spec: what a process may see, write and reach is
 * decided by the kernel (mount and network namespaces), not by reading the command string, so a
 * wrapper (`timeout`, `env`, `sh -c`), a brace group, a subshell, an absolute path or a symlink
 * changes nothing. See docs/sandbox.md.
 */
import { lstatSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SandboxError } from './errors.js';
import { sandboxStatus } from './probe.js';
import { DEFAULT_DENIED, PROTECTED_WITHIN_WRITABLE, type SandboxSpec, SYSTEM_DIRS } from './spec.js';

/** A program and its arguments, ready for `spawn(file, args)`. */
export interface SandboxedCommand {
  file: string;
  args: string[];
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * A writable path as it will be bound: absolute, existing, not itself a symbolic link, resolved
 * with realpath (a link in a parent directory is followed; the bound path is where it leads).
 * @throws SandboxError `SANDBOX_INVALID` naming the path when it does not exist or is a link
 */
export function resolveWritable(path: string): string {
  const abs = resolve(path);
  const st = lstatOrNull(abs);
  if (!st) throw new SandboxError('SANDBOX_INVALID', `sandbox: writable path ${abs} does not exist`);
  if (st.isSymbolicLink()) {
    let target = '(a dangling link)';
    try {
      target = realpathSync(abs);
    } catch {}
    throw new SandboxError(
      'SANDBOX_INVALID',
      `sandbox: writable path ${abs} is a symbolic link to ${target}; refused (name the directory itself if it may be written)`,
    );
  }
  return realpathSync(abs);
}

/**
 * A readable path as it will be bound: absolute, existing, resolved with realpath.
 * @throws SandboxError `SANDBOX_INVALID` naming the path when it does not exist
 */
function resolveReadable(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    throw new SandboxError('SANDBOX_INVALID', `sandbox: readable path ${abs} does not exist`);
  }
}

/** Real paths of the denied entries that exist: `~/x` under the home, relative names at the top of each root. */
function deniedTargets(denied: readonly string[], roots: readonly string[], home: string): string[] {
  const out = new Set<string>();
  const add = (candidate: string) => {
    if (!lstatOrNull(candidate)) return;
    try {
      out.add(realpathSync(candidate));
    } catch {
      // A dangling link leads nowhere: nothing to hide.
    }
  };
  for (const entry of denied) {
    if (entry === '~' || entry.startsWith('~/')) add(join(home, entry.slice(1)));
    else if (isAbsolute(entry)) add(entry);
    else for (const root of roots) add(join(root, entry));
  }
  return [...out];
}

/**
 * The bwrap arguments confining `argv` run in `cwd` (pure apart from reading the filesystem to
 * resolve paths): the whole filesystem read-only (or, with `readablePaths`, only the system
 * directories and those paths), a fresh /dev and /proc, a private /tmp, the writable paths
 * read-write except drover's store and git's hooks and config inside them, denied paths hidden,
 * every capability dropped (root inside cannot remount), pid/ipc/uts namespaces of its own, and
 * with `network: 'none'` a network namespace of its own and no /run (daemons' sockets).
 * @throws SandboxError `SANDBOX_INVALID` for a writable path that does not exist or is a link
 */
export function bwrapArgs(spec: SandboxSpec, argv: readonly string[], cwd: string, home = homedir()): string[] {
  if (argv.length === 0) throw new SandboxError('SANDBOX_INVALID', 'sandbox: no command to run');
  const writable = spec.writablePaths.map(resolveWritable);
  const readable = spec.readablePaths?.map(resolveReadable);
  const args = ['--die-with-parent', '--new-session', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--cap-drop', 'ALL'];
  if (spec.network === 'none') args.push('--unshare-net');
  if (readable) {
    for (const dir of SYSTEM_DIRS) {
      const st = lstatOrNull(dir);
      // Merged-/usr systems have /bin -> usr/bin: the same link inside, so both names work.
      if (st?.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
      else if (st) args.push('--ro-bind', dir, dir);
    }
  } else {
    args.push('--ro-bind', '/', '/');
  }
  args.push('--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp');
  // The private /tmp must not hide the program itself: a command (an agent CLI, a script) that lives
  // under /tmp — a project cloned there, as CI does — keeps its top folder there, read-only.
  for (const top of tmpFoldersOf(argv)) args.push('--ro-bind', top, top);
  if (spec.network === 'none' && !readable && lstatOrNull('/run')?.isDirectory()) args.push('--tmpfs', '/run');
  for (const path of readable ?? []) args.push('--ro-bind', path, path);
  for (const path of writable) args.push('--bind', path, path);
  for (const root of writable) {
    for (const name of PROTECTED_WITHIN_WRITABLE) {
      const target = join(root, name);
      if (!lstatOrNull(target)) continue;
      const real = realpathOrNull(target);
      if (real && isInside(root, real)) args.push('--ro-bind', real, real);
    }
  }
  const visible = readable ? [...SYSTEM_DIRS, ...readable, ...writable] : ['/'];
  const cwdReal = realpathOrNull(cwd) ?? resolve(cwd);
  for (const target of deniedTargets(spec.deniedPaths ?? DEFAULT_DENIED, [...writable, cwdReal], home)) {
    if (!visible.some((root) => isInside(root, target))) continue;
    if (isInside('/tmp', target) && !writable.concat(readable ?? []).some((root) => isInside(root, target))) continue;
    if (lstatOrNull(target)?.isDirectory()) args.push('--tmpfs', target, '--remount-ro', target);
    else args.push('--ro-bind', '/dev/null', target);
  }
  args.push('--chdir', cwdReal, '--', ...argv);
  return args;
}

/** Top folders under /tmp (`/tmp/<name>`) holding an absolute path named in `argv`, links resolved. */
function tmpFoldersOf(argv: readonly string[]): string[] {
  const tops = new Set<string>();
  for (const item of argv) {
    if (!isAbsolute(item)) continue;
    for (const path of [item, realpathOrNull(item)]) {
      if (!path || !isInside('/tmp', path) || path === '/tmp') continue;
      const top = join('/tmp', relative('/tmp', path).split(sep)[0] as string);
      if (lstatOrNull(top)?.isDirectory()) tops.add(top);
    }
  }
  return [...tops];
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * `argv` wrapped in bubblewrap per `spec`, after checking (once per process) that bubblewrap
 * works here. A disabled spec returns `argv` as it is.
 * @throws SandboxError `SANDBOX_UNAVAILABLE` when the spec is enabled and bwrap is missing or
 *   cannot create namespaces (the message says what to install or allow) — the caller must not
 *   start the process; `SANDBOX_INVALID` for a bad writable path
 */
export async function sandboxCommand(spec: SandboxSpec, argv: readonly string[], cwd: string): Promise<SandboxedCommand> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new SandboxError('SANDBOX_INVALID', 'sandbox: no command to run');
  if (!spec.enabled) return { file: first, args: rest };
  const status = await sandboxStatus();
  if (!status.available) {
    throw new SandboxError(
      'SANDBOX_UNAVAILABLE',
      `the run asks for an OS sandbox and none can be made: ${status.reason}; the command was not run`,
    );
  }
  return { file: status.binary, args: bwrapArgs(spec, argv, cwd) };
}

/**
 * Checks a spec's paths now (before a run exists), so a typo is bad input rather than a failed step.
 * @throws SandboxError `SANDBOX_INVALID` naming the path
 */
export function checkSandboxSpec(spec: SandboxSpec): void {
  if (!spec.enabled) return;
  for (const path of spec.writablePaths) resolveWritable(path);
  for (const path of spec.readablePaths ?? []) resolveReadable(path);
}
