/**
 * @module
 * A damaged store file: the typed error, the `<store>.damaged` mark and the guard that turns
 * SQLite's corruption codes into that error and refuses writes once the store is known to be damaged.
 *
 * Writing into a corrupt SQLite file can spread the damage (a b-tree balance over a bad page), so
 * the mark lives beside the store, never inside it: every later command that would write reads the
 * mark first and refuses before opening the file; commands that only read open it read-only.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DroverError } from '../core/errors.js';

/** Exit code of `StoreCorruptError` (docs/cli.md#exit-codes): not a failed run (1), bad input (2) nor a bug (70). */
export const STORE_CORRUPT_EXIT_CODE = 7;

/** What the mark beside a damaged store says. */
export interface DamageMark {
  /** SQLite's words (`database disk image is malformed`) or the integrity check's first findings. */
  finding: string;
  /** ISO 8601 time of the detection. */
  detectedAt: string;
  /** What found it: `doctor` or the operation that failed (`store.listCalls`…). */
  by: string;
}

/**
 * The store file is damaged (SQLite's SQLITE_CORRUPT or SQLITE_NOTADB, or an integrity check that
 * failed), or is marked damaged by an earlier detection. Code `STORE_CORRUPT`, exit code 7
 * (`STORE_CORRUPT_EXIT_CODE`). The message names the file and what to do; `path` is the store.
 */
export class StoreCorruptError extends DroverError {
  readonly path: string;
  readonly finding: string;
  constructor(path: string, finding: string, options: { refused?: boolean; cause?: unknown } = {}) {
    const what = options.refused
      ? `store ${path} is marked damaged (${finding}); drover refuses to write to it`
      : `store ${path} is damaged (${finding}); drover will not write to it again`;
    const p = shellWord(path);
    super(
      'STORE_CORRUPT',
      `${what}. Run \`drover doctor --store ${p}\` to check it (a clean check clears the mark ${damageMarkPath(path)}); ` +
        `restore a backup, or salvage what is readable with \`sqlite3 ${p} .recover | sqlite3 recovered.db\` and use --store recovered.db`,
      { exitCode: STORE_CORRUPT_EXIT_CODE, ...(options.cause !== undefined ? { cause: options.cause } : {}) },
    );
    this.path = path;
    this.finding = finding;
  }
}

/**
 * True for better-sqlite3's errors that mean the file itself is damaged: `SQLITE_CORRUPT` (and its
 * extended codes `SQLITE_CORRUPT_INDEX`, `_SEQUENCE`, `_VTAB`), `SQLITE_NOTADB`
 * (https://www.sqlite.org/rescode.html), and "unsupported file format" (a damaged header).
 */
export function isCorruptionError(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_')) return true;
  // A damaged header (its schema-format byte, offset 47) reads as a plain SQLITE_ERROR with this
  // message; nothing but a damaged or foreign file says it (found by the fuzz bench).
  return code === 'SQLITE_ERROR' && message === 'unsupported file format';
}

/** A path as the shell reads it: quoted only when it has to be. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

/** Where the mark of a damaged store lives: `<store>.damaged`. */
export function damageMarkPath(location: string): string {
  return `${location}.damaged`;
}

/** The store's damage mark, or undefined when there is none (or it is unreadable: then a bare mark). */
export function readDamageMark(location: string): DamageMark | undefined {
  if (location === ':memory:') return undefined;
  let text: string;
  try {
    text = readFileSync(damageMarkPath(location), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const mark = JSON.parse(text) as Partial<DamageMark>;
    return {
      finding: typeof mark.finding === 'string' ? mark.finding : 'marked damaged',
      detectedAt: typeof mark.detectedAt === 'string' ? mark.detectedAt : '?',
      by: typeof mark.by === 'string' ? mark.by : '?',
    };
  } catch {
    return { finding: 'marked damaged', detectedAt: '?', by: '?' };
  }
}

/**
 * Writes the mark beside the store (best effort: a read-only folder leaves no mark, and the error
 * that found the damage is still thrown). Returns the mark.
 */
export function markDamaged(location: string, finding: string, by: string, now = new Date()): DamageMark {
  const mark: DamageMark = { finding, detectedAt: now.toISOString(), by };
  if (location !== ':memory:') {
    try {
      writeFileSync(damageMarkPath(location), `${JSON.stringify(mark, null, 2)}\n`);
    } catch {
      // Nothing to do: the command still fails with StoreCorruptError.
    }
  }
  return mark;
}

/** Removes the mark (doctor, after a clean integrity check). */
export function clearDamageMark(location: string): void {
  if (location !== ':memory:') rmSync(damageMarkPath(location), { force: true });
}

/**
 * Methods that only read, so they may run on a store known to be damaged (the rest are refused):
 * an unknown method counts as a write.
 */
const READS =
  /^(get|list|query|count|ready|usage|history|lastTaskEventSeq$|watchTasks$|waitFor|stopRequestedAt$|forCall$|callsWithTranscripts$|nextTaskId$|checkHealth$|close$)/;

/** A guarded store's shared state: set once damage is seen, by any of its methods. */
interface GuardState {
  damaged: DamageMark | undefined;
}

/**
 * Wraps a store (and each of its parts: `tasks`, `spans`, `ledger`, `queue`, `jobs`…) so that:
 * - an SQLite corruption error from any method becomes `StoreCorruptError` naming `location`, and
 *   marks the store damaged (the mark file, and this object: its later writes are refused at once);
 * - when opened `readOnly` because the store was already marked, a write that reaches SQLite
 *   (SQLITE_READONLY) is the same refusal.
 * Reads keep working where the file allows it.
 */
export function guardStore<T extends object>(store: T, location: string, options: { damaged?: DamageMark } = {}): T {
  const state: GuardState = { damaged: options.damaged };
  return guard(store, location, state, '');
}

function guard<T extends object>(target: T, location: string, state: GuardState, prefix: string): T {
  const parts = new Map<PropertyKey, unknown>();
  const translate = (err: unknown, name: string): unknown => {
    if (err instanceof StoreCorruptError) return err;
    if (isCorruptionError(err)) {
      const finding = (err as Error).message;
      state.damaged ??= markDamaged(location, finding, `store.${name}`);
      return new StoreCorruptError(location, finding, { cause: err });
    }
    if (state.damaged && (err as { code?: unknown } | null)?.code === 'SQLITE_READONLY') {
      return new StoreCorruptError(location, state.damaged.finding, { refused: true, cause: err });
    }
    return err;
  };
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof prop !== 'string') return value;
      if (
        prop === 'tasks' ||
        prop === 'spans' ||
        prop === 'ledger' ||
        prop === 'control' ||
        prop === 'transcripts' ||
        prop === 'retention' ||
        prop === 'workflows' ||
        prop === 'reservations' ||
        prop === 'queue' ||
        prop === 'jobs'
      ) {
        if (typeof value !== 'object' || value === null) return value;
        if (!parts.has(prop)) parts.set(prop, guard(value, location, state, `${prop}.`));
        return parts.get(prop);
      }
      if (typeof value !== 'function') return value;
      const name = `${prefix}${prop}`;
      return (...args: unknown[]) => {
        // Every Store method is async: a refusal is a rejection, like any failure of the store.
        if (state.damaged && !READS.test(prop)) {
          return Promise.reject(new StoreCorruptError(location, state.damaged.finding, { refused: true }));
        }
        let out: unknown;
        try {
          out = (value as (...a: unknown[]) => unknown).apply(obj, args);
        } catch (err) {
          throw translate(err, name);
        }
        if (out instanceof Promise) {
          return out.catch((err: unknown) => {
            throw translate(err, name);
          });
        }
        return out;
      };
    },
  });
}
