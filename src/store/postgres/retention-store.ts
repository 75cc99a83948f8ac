// SCAFFOLD: replaced by the port of src/store/sqlite/retention-store.ts.
import type { DeletionRecord, RemovedCounts, RetentionStore } from '../retention-types.js';
import type { PgDb, Queryable } from './db.js';

export interface PgRetentionStore extends RetentionStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgRetentionStore {
  constructor(readonly db: PgDb) {}
  async removeRunRows(_q: Queryable, _runId: string, _traceIdOf?: (runId: string) => string): Promise<RemovedCounts> {
    throw new Error('not yet');
  }
  async record(
    _q: Queryable,
    _runId: string,
    _kind: DeletionRecord['kind'],
    _now: number,
    _actor: string,
    _counts: RemovedCounts,
  ): Promise<void> {
    throw new Error('not yet');
  }
}
