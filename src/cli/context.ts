/** @module Config and store for a command: resolved once from --store, DROVER_* and drover.config.json. */
import { existsSync } from 'node:fs';
import { type Config, resolveConfig } from '../config/index.js';
import { DroverError } from '../core/errors.js';
import { createStore, isPostgresUrl } from '../store/index.js';
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
  /**
   * The command only reads (implies `mustExist`): a store marked damaged is still opened,
   * read-only. Otherwise a damaged store is refused with `StoreCorruptError` (exit 7) before the
   * file is touched.
   */
  readOnly?: boolean;
  /**
   * Open the file only when the command first uses the store, so input refused before that
   * (a missing script, a bad flag) leaves no store behind.
   */
  lazy?: boolean;
}

/**
 * Opens the configured store, creating it unless `mustExist`/`readOnly`. Throws `NoStoreError`
 * (exit 2) when it must exist and does not, `StoreCorruptError` (exit 7) when it is damaged.
 */
export function openStore(flags: GlobalFlags, options: OpenStoreOptions = {}): { config: Config; store: Store } {
  const config = loadConfig(flags);
  const mustExist = options.mustExist || options.readOnly;
  const open = () => {
    // A PostgreSQL store is a server's database, not a file: reading it needs no file to exist.
    if (mustExist && config.storePath !== ':memory:' && !isPostgresUrl(config.storePath) && !existsSync(config.storePath))
      throw new NoStoreError(config.storePath);
    return createStore(config.storePath, {
      synchronous: config.synchronous,
      prices: config.prices,
      access: options.readOnly ? 'read' : 'write',
    });
  };
  return { config, store: options.lazy ? lazyStore(config.storePath, open) : open() };
}

/** A store opened by `open` on first use; `close` before that opens nothing. */
function lazyStore(location: string, open: () => Store): Store {
  let store: Store | undefined;
  return new Proxy({ kind: 'sqlite', location } as Store, {
    get(stub, prop) {
      if (prop === 'location' || prop === 'kind') return Reflect.get(stub, prop);
      if (prop === 'then') return undefined; // not a promise: `await` must not open it
      if (prop === 'close' && !store) return async () => {};
      store ??= open();
      const value = Reflect.get(store, prop);
      return typeof value === 'function' ? value.bind(store) : value;
    },
  });
}
