// SCAFFOLD: replaced by the port of src/store/sqlite/task-store.ts.
import type { TaskStore } from '../task-types.js';
import type { PgDb } from './db.js';

export interface PgTaskStore extends TaskStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgTaskStore {
  constructor(readonly db: PgDb) {}
  async close(): Promise<void> {}
}
