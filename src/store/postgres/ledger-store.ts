// SCAFFOLD: replaced by the port of src/store/sqlite/ledger-store.ts.
import type { LedgerStore } from '../ledger-types.js';
import type { PgDb } from './db.js';

export interface PgLedgerStore extends LedgerStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgLedgerStore {
  constructor(readonly db: PgDb) {}
  async flush(): Promise<void> {}
}
