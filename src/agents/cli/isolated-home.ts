import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh HOME for one agent process (its sessions, settings and caches stay out of the user's). */
export function isolatedHome(prefix: string): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), `drover-${prefix}-`));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}
