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
 * same file agrees; for a PostgreSQL store, from its server, database and schema (not the user or
 * password, which may differ between processes sharing it). A store with no file (`:memory:`) or no
 * ledger gets a random identity.
 */
export function storeIdentity(store: { kind: string; location: string } | null): string {
  if (!store || store.location === ':memory:' || store.location === '') return `none:${randomBytes(8).toString('hex')}`;
  if (isPostgresUrl(store.location)) return `postgres:${hash(pgIdentity(store.location))}`;
  let path = resolve(store.location);
  try {
    path = realpathSync(path);
  } catch {
    // Not created yet: the resolved path is what every process will name.
  }
  return `${store.kind}:${hash(path)}`;
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** `host:port/database?schema=` of a PostgreSQL URL, with libpq's defaults (host localhost, port 5432, database = user, schema public). */
function pgIdentity(location: string): string {
  const u = new URL(location);
  const user = decodeURIComponent(u.username);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  const host = u.hostname || u.searchParams.get('host') || 'localhost';
  return `${host.toLowerCase()}:${u.port || '5432'}/${database}?schema=${u.searchParams.get('schema') ?? 'public'}`;
}
