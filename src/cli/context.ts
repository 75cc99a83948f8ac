/** @module Config and store for a command: resolved once from --store, DROVER_* and drover.config.json. */
import { existsSync } from 'node:fs';
import { type Config, resolveConfig } from '../config/index.js';
import { DroverError } from '../core/errors.js';
import { createStore } from '../store/index.js';
import type { Store } from '../store/types.js';

export interface GlobalFlags {
  store?: string;
  json?: boolean;
}

/** A read-only command asked about a store that does not exist. Exit code 2, code `NO_STORE`. */
export class NoStoreError extends DroverError {
  readonly path: string;
  constructor(path: string) {
    super(
      'NO_STORE',
      `no drover store at ${path} (nothing has run here yet; \`drover run\` or \`drover tasks add\` creates it; --store <path> or DROVER_STORE points at another)`,
      { exitCode: 2 },
    );
    this.path = path;
  }
}

export function loadConfig(flags: GlobalFlags): Config {
  return resolveConfig(flags.store ? { store: flags.store } : {});
}

export interface OpenStoreOptions {
  /**
   * For commands that only read (runs, status, trace show, tasks list…): refuse with
   * `NoStoreError` instead of creating an empty store where the command was run.
   */
  mustExist?: boolean;
}

/** Opens the configured store, creating it unless `mustExist`. Throws `NoStoreError` (exit 2) when it must exist and does not. */
export function openStore(flags: GlobalFlags, options: OpenStoreOptions = {}): { config: Config; store: Store } {
  const config = loadConfig(flags);
  if (options.mustExist && config.storePath !== ':memory:' && !existsSync(config.storePath)) throw new NoStoreError(config.storePath);
  return { config, store: createStore(config.storePath, { synchronous: config.synchronous, prices: config.prices }) };
}
