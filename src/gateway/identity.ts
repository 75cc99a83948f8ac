/**
 * @module The store identity a gateway names in its `x-drover-gateway` response header. Two
 * gateways writing one store have the same identity: a gateway whose upstream answers with its
 * own identity leaves metering and caps to that upstream (one ledger row per request, never two).
 */
import { createHash, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { isPostgresUrl } from '../store/location.js';

/** Response header naming the store a drover gateway writes its ledger to. */
export const GATEWAY_HEADER = 'x-drover-gateway';

/**
 * `<kind>:<16 hex>` from the store's real path (symlinks resolved), so every process opening the
 * same file agrees — or, for PostgreSQL, from its URL (password masked), so every machine does. A store with no file (`:memory:`) or no ledger gets a random identity.
 */
export function storeIdentity(store: { kind: string; location: string } | null): string {
  if (!store || store.location === ':memory:' || store.location === '') return `none:${randomBytes(8).toString('hex')}`;
  // A PostgreSQL store is the same wherever it is opened from: its URL (password already masked) names it.
  if (isPostgresUrl(store.location)) return `${store.kind}:${createHash('sha256').update(store.location).digest('hex').slice(0, 16)}`;
  let path = resolve(store.location);
  try {
    path = realpathSync(path);
  } catch {
    // Not created yet: the resolved path is what every process will name.
  }
  return `${store.kind}:${createHash('sha256').update(path).digest('hex').slice(0, 16)}`;
}
