import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxStatus } from '../src/sandbox/index.js';
import { onCleanup } from './helpers.js';

/**
 * The sandbox tests need a working bubblewrap: CI installs it (.ci/run). When it is missing they
 * FAIL with the reason — never skip — so a machine without it cannot pass them silently.
 */
export async function requireBwrap(): Promise<void> {
  const status = await sandboxStatus();
  if (!status.available) {
    throw new Error(`the OS sandbox tests need bubblewrap and it does not work here: ${status.reason} (.ci/run installs it)`);
  }
}

/**
 * A workspace and its neighbours under /var/tmp, not /tmp: the sandbox gives every process a
 * private /tmp, so a write to a host path under /tmp would vanish even without the read-only
 * filesystem; under /var/tmp only the read-only mount can stop it.
 */
export function sandboxDirs(): { base: string; ws: string; outside: string; home: string } {
  const base = mkdtempSync('/var/tmp/drover-sbx-');
  onCleanup(() => rmSync(base, { recursive: true, force: true }));
  const ws = join(base, 'ws');
  const outside = join(base, 'outside');
  const home = join(base, 'home');
  for (const d of [ws, outside, home]) mkdirSync(d);
  return { base, ws, outside, home };
}
