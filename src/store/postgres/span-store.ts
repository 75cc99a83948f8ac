// SCAFFOLD: replaced by the port of src/store/sqlite/span-store.ts.
import type { SpanStore, StoredSpan } from '../span-types.js';
import type { PgDb, Queryable } from './db.js';

export interface PgSpanStore extends SpanStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgSpanStore {
  constructor(readonly db: PgDb) {}
  async insertMany(_q: Queryable, spans: StoredSpan[]): Promise<void> {
    if (spans.length) throw new Error('not yet');
  }
  async replaceOwn(_q: Queryable, _span: StoredSpan): Promise<void> {
    throw new Error('not yet');
  }
}
