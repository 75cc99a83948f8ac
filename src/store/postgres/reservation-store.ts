// SCAFFOLD: replaced by the port of src/store/sqlite/reservation-store.ts.
import type { ReservationStore } from '../reservation-types.js';
import type { PgDb } from './db.js';

export interface PgReservationStore extends ReservationStore {}
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: scaffold until the port lands
export class PgReservationStore {
  constructor(readonly db: PgDb) {}
}
