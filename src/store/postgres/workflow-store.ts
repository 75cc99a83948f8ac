// SCAFFOLD: replaced by the port of src/store/sqlite/workflow-store.ts.
import type { WorkflowStore } from '../workflow-types.js';
import type { PgDb } from './db.js';

export interface PgWorkflowStore extends WorkflowStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgWorkflowStore {
  constructor(readonly db: PgDb) {}
}
