/**
 * @module Whether bubblewrap can sandbox here: found once, probed once (a real sandboxed `/bin/sh`
 * with every namespace drover asks for), the answer cached per binary for the process's life.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian/Ubuntu package and the other usual names, for the message that says what to install. */
export const INSTALL_HINT = 'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)';

export type SandboxStatus =
  | { available: true; binary: string; version: string }
  | { available: false; binary: string | null; reason: string };

/** Flags every sandbox uses, so the probe tests exactly what a step will need. */
export const NAMESPACE_FLAGS = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--cap-drop', 'ALL'] as const;

/** The bwrap to use: `DROVER_BWRAP` when set (a path), else the first on PATH; null when none. */
export function locateBwrap(env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env.DROVER_BWRAP;
  if (override) return isExecutable(override) ? override : null;
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'bwrap'))) return join(dir, 'bwrap');
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<string, Promise<SandboxStatus>>();

/**
 * Finds bwrap and runs `/bin/sh -c 'exit 0'` in a sandbox with every namespace drover uses; the
 * answer is cached per binary path. Never throws: an unavailable sandbox is a status with its reason.
 */
export function sandboxStatus(env: NodeJS.ProcessEnv = process.env): Promise<SandboxStatus> {
  if (process.platform !== 'linux') {
    return Promise.resolve({
      available: false,
      binary: null,
      reason: `the OS sandbox uses Linux namespaces (bubblewrap); this machine runs ${process.platform}: run drover on Linux (or in a Linux container or VM)`,
    });
  }
  const binary = locateBwrap(env);
  if (!binary) {
    const where = env.DROVER_BWRAP ? `DROVER_BWRAP=${env.DROVER_BWRAP} is not an executable` : 'bwrap is not on PATH';
    return Promise.resolve({ available: false, binary: null, reason: `${where}: ${INSTALL_HINT}` });
  }
  let status = cache.get(binary);
  if (!status) {
    status = probe(binary);
    cache.set(binary, status);
  }
  return status;
}

function run(file: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ ok: !err, out: `${stdout}${stderr}`.trim() || (err ? err.message : '') });
    });
  });
}

async function probe(binary: string): Promise<SandboxStatus> {
  const version = await run(binary, ['--version']);
  if (!version.ok) return { available: false, binary, reason: `${binary} --version failed (${version.out}): ${INSTALL_HINT}` };
  const trial = await run(binary, [
    '--die-with-parent',
    '--new-session',
    ...NAMESPACE_FLAGS,
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--',
    '/bin/sh',
    '-c',
    'exit 0',
  ]);
  if (!trial.ok) {
    return {
      available: false,
      binary,
      reason:
        `${binary} cannot create the sandbox's namespaces here (${trial.out.split('\n')[0]}): allow unprivileged user namespaces ` +
        '(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0), or run where containers may nest them',
    };
  }
  return { available: true, binary, version: version.out.replace(/^bubblewrap\s*/i, '') };
}
