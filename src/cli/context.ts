import { type Config, resolveConfig } from '../config/index.js';
import type { Store } from '../store/index.js';
import { createStore } from '../store/index.js';

export interface GlobalFlags {
  store?: string;
  json?: boolean;
}

export function loadConfig(flags: GlobalFlags): Config {
  return resolveConfig(flags.store ? { store: flags.store } : {});
}

export function openStore(flags: GlobalFlags): { config: Config; store: Store } {
  const config = loadConfig(flags);
  return { config, store: createStore(config.storePath, { synchronous: config.synchronous }) };
}
