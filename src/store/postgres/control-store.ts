// SCAFFOLD: replaced by the port of src/store/sqlite/control-store.ts.
import type { ControlStore } from '../control-types.js';
import type { TranscriptStore } from '../transcript-types.js';
import type { PgDb } from './db.js';

export interface PgControlStore extends ControlStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgControlStore {
  constructor(readonly db: PgDb) {}
}
export interface PgTranscriptStore extends TranscriptStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgTranscriptStore {
  constructor(readonly db: PgDb) {}
}
