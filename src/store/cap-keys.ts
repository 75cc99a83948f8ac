import type { Cap } from '../budget/caps-types.js';
import { UNBILLED_MODES } from '../budget/ledger-types.js';

/** How a cap's key names the ledger rows it counts, shared by the SQLite and PostgreSQL reservation stores. */

const DAY_MS = 86_400_000;

/** [start, end) of a UTC day `YYYY-MM-DD` in ms since the epoch; undefined when the text is no such day. */
export function utcDayRange(day: string): [number, number] | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const start = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(start) ? undefined : [start, start + DAY_MS];
}

/** Splits `a/b` at the first (`last`: the last) slash. */
function split(key: string, last = false): [string, string] {
  const i = last ? key.lastIndexOf('/') : key.indexOf('/');
  return i < 0 ? [key, ''] : [key.slice(0, i), key.slice(i + 1)];
}

/**
 * The parameters of a cap's ledger filter, in the order each scope's filter takes them:
 * `run` [runId]; `phase` [runId, phase]; `call` [runId, callKey]; `workflow-day` [workflow, start, end];
 * `store-day` [start, end] (start/end: ms since the epoch, end exclusive).
 * @throws Error when a day scope's key holds no `YYYY-MM-DD` day
 */
export function capSpendArgs(cap: Cap): (string | number)[] {
  switch (cap.scope) {
    case 'run':
      return [cap.key];
    case 'phase':
    case 'call':
      return split(cap.key);
    case 'workflow-day': {
      const [workflow, day] = split(cap.key, true);
      const range = utcDayRange(day);
      if (!range) throw new Error(`cap key "${cap.key}" is not <workflow>/<YYYY-MM-DD>`);
      return [workflow, ...range];
    }
    case 'store-day': {
      const range = utcDayRange(cap.key);
      if (!range) throw new Error(`cap key "${cap.key}" is not <YYYY-MM-DD>`);
      return range;
    }
  }
}

/**
 * The ledger rows a daily cap counts (SQL, the same on both stores): every mode but `sim` and
 * `replay`, whose answers no provider billed. Run, phase and call caps count all of their run's rows.
 */
export const BILLED_ROWS = `mode NOT IN (${UNBILLED_MODES.map((m) => `'${m}'`).join(', ')})`;
