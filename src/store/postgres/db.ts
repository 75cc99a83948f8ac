import { createRequire } from 'node:module';
import type pg from 'pg';
import { DroverError } from '../../core/index.js';

import { redactUrl } from '../location.js';

export { isPostgresUrl, redactUrl } from '../location.js';

// Loaded on first use: commands on an SQLite store never pay for loading node-postgres.
const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
function loadPg(): typeof pg {
  pgModule ??= require('pg') as typeof pg;
  return pgModule;
}

/**
 * A connection pool to one PostgreSQL database, with the few helpers every PostgreSQL sub-store
 * uses: `query` on any pooled connection, `tx` for a transaction on one connection.
 *
 * Column values come back as the SQLite store returns them, so both stores share row mapping
 * (src/store/rows.ts): BIGINT (epoch ms, ids, token counts) and NUMERIC (sums) as JS numbers —
 * drover's integers stay far below 2^53 — and JSON kept as TEXT columns.
 */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return loadPg().types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PgDbOptions {
  /** Pool size; default 10. */
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** Give up connecting after this many ms (default: wait as long as the OS does). */
  connectTimeoutMs?: number;
}

/** PostgreSQL's error codes drover reacts to (https://www.postgresql.org/docs/15/errcodes-appendix.html). */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_SERIALIZATION_FAILURE = '40001';
export const PG_DEADLOCK_DETECTED = '40P01';

/**
 * Query parameters a store URL may carry: drover's `schema`, and those node-postgres reads from a
 * connection string (pg-connection-string's `parse`, and the client options it passes on:
 * https://node-postgres.com/apis/client). Any other is refused: pg would ignore it silently, so a
 * mistyped `?shema=team_a` would put a team's runs in `public`.
 */
const STORE_URL_PARAMETERS = new Set([
  'schema',
  'host',
  'port',
  'user',
  'password',
  // Not `db` / `encoding`: pg-connection-string reads them only from `socket:` URLs, never a store's postgres:// one.
  'client_encoding',
  'application_name',
  'fallback_application_name',
  'options',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'connect_timeout',
  'statement_timeout',
  'lock_timeout',
  'query_timeout',
  'idle_in_transaction_session_timeout',
  'keepalives',
  'keepalives_idle',
]);

/**
 * Splits drover's `schema` parameter off a PostgreSQL URL (`postgres://u@h/db?schema=team_a`): the
 * store's tables live in that schema (created when missing) instead of `public`, so several stores
 * can share one database. Throws DroverError `BAD_STORE` for a schema name that is not a plain identifier.
 */
export function splitSchema(url: string): { url: string; schema: string | null } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DroverError(
      'BAD_STORE',
      `store URL ${redactUrl(url)} is not a valid URL (expected postgres://user@host[:port]/database[?schema=name])`,
      {
        exitCode: 2,
      },
    );
  }
  for (const name of parsed.searchParams.keys()) {
    if (!STORE_URL_PARAMETERS.has(name)) {
      throw new DroverError(
        'BAD_STORE',
        `store URL ${redactUrl(url)}: unknown parameter "${name}" (drover takes schema; node-postgres takes ${[...STORE_URL_PARAMETERS].slice(1).join(', ')})`,
        { exitCode: 2 },
      );
    }
  }
  const schema = parsed.searchParams.get('schema');
  if (schema === null) return { url, schema: null };
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new DroverError(
      'BAD_STORE',
      `store URL: schema "${schema}" must be letters, digits and _ (at most 63), not starting with a digit`,
      {
        exitCode: 2,
      },
    );
  }
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}

type SocketOptions = Pick<pg.ClientConfig, 'connectionTimeoutMillis' | 'keepAlive' | 'keepAliveInitialDelayMillis'>;

/**
 * What drover applies itself from a store URL (`schema` already split off), read in one parse:
 * - `options`, taken out of the URL: node-postgres lets a URL value replace the pool's own, which
 *   would drop drover's search_path and idle timeout, so the caller puts it first and drover's after;
 * - the libpq parameters node-postgres parses but never applies (its client reads
 *   `connectionTimeoutMillis` / `keepAlive*` only), as those: `connect_timeout` (seconds; 0 = none),
 *   `keepalives` (0 or 1), `keepalives_idle` (seconds).
 * @throws DroverError `BAD_STORE` (exit 2) for a value that is not a whole number.
 */
function urlClientOptions(url: string): { url: string; options: string | null; socket: SocketOptions } {
  const parsed = new URL(url);
  const params = parsed.searchParams;
  const seconds = (name: string): number | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    if (!/^\d+$/.test(v.trim())) {
      throw new DroverError('BAD_STORE', `store URL ${redactUrl(url)}: ${name} must be a whole number of seconds, not "${v}"`, {
        exitCode: 2,
      });
    }
    return Number(v);
  };
  const socket: SocketOptions = {};
  const timeout = seconds('connect_timeout');
  if (timeout) socket.connectionTimeoutMillis = timeout * 1000;
  const keepalives = seconds('keepalives');
  if (keepalives !== undefined) socket.keepAlive = keepalives !== 0;
  const idle = seconds('keepalives_idle');
  if (idle !== undefined) socket.keepAliveInitialDelayMillis = idle * 1000;
  const options = params.get('options');
  if (options === null) return { url, options, socket };
  params.delete('options');
  return { url: parsed.toString(), options, socket };
}

/**
 * The store's server cannot be used: not reachable, refused the login, no such database, SSL
 * mismatch (code `STORE_UNREACHABLE`, exit 2). The message names the store (password masked), the
 * server's reason, and what to check.
 */
export class StoreUnreachableError extends DroverError {
  constructor(location: string, reason: string, cause?: unknown) {
    super('STORE_UNREACHABLE', `cannot use store ${location}: ${reason}`, { exitCode: 2, ...(cause ? { cause } : {}) });
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET']);

/**
 * The reason, in plain words with a hint, when `err` means the server cannot be used at all (as
 * opposed to a failed statement); undefined otherwise. PostgreSQL codes from
 * https://www.postgresql.org/docs/15/errcodes-appendix.html (28P01, 28000, 3D000).
 */
export function connectionProblem(err: unknown): string | undefined {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  if (e?.code && NETWORK_CODES.has(e.code)) return `${message} (is the server running, and reachable from here?)`;
  if (e?.code === '28P01' || e?.code === '28000') return `${message} (check the user and password: in the URL, or PGPASSWORD)`;
  if (e?.code === '3D000') return `${message} (create it, or name another database in the URL)`;
  if (/client password must be a string/.test(message))
    return 'the server asks for a password and none was given (set PGPASSWORD, or put it in the URL)';
  if (/does not support SSL/.test(message)) return `${message} (drop sslmode=require from the URL, or enable SSL on the server)`;
  if (/Connection terminated|timeout expired/i.test(message)) return `${message} (the server closed the connection)`;
  return undefined;
}

/** How long the server lets a drover connection sit idle inside a transaction before ending it, ms. */
export const IDLE_IN_TRANSACTION_MS = 5_000;

export class PgDb {
  readonly pool: pg.Pool;
  /** The schema the store's tables live in (`?schema=` of the URL), or null for the server's default (`public`). */
  readonly schema: string | null;
  private readonly clientConfig: pg.ClientConfig;
  /** Set by the store: what every query waits for first (connecting and migrating). */
  private ready: Promise<void> = Promise.resolve();

  private readonly rawUrl: string;

  constructor(url: string, options: PgDbOptions = {}) {
    this.rawUrl = url;
    const { url: withOptions, schema } = splitSchema(url);
    // A URL `options` goes first, drover's after (see urlClientOptions).
    const { url: connectionString, options: urlOptions, socket } = urlClientOptions(withOptions);
    this.schema = schema;
    if (options.connectTimeoutMs) socket.connectionTimeoutMillis = options.connectTimeoutMs;
    this.clientConfig = {
      connectionString,
      types,
      application_name: options.applicationName ?? 'drover',
      ...(urlOptions ? { options: urlOptions } : {}),
      ...socket,
    };
    this.pool = new (loadPg().Pool)({
      connectionString,
      // A process frozen inside a transaction (SIGSTOP, a debugger, a swap storm) would hold its row
      // locks for ever, and every claim would skip those rows (SKIP LOCKED): the server ends such a
      // session instead. drover never waits inside a transaction (no model call runs in one).
      options: [
        urlOptions ?? '',
        schema ? `-c search_path=${schema}` : '',
        `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
      ]
        .filter(Boolean)
        .join(' '),
      max: options.max ?? 10,
      types,
      application_name: options.applicationName ?? 'drover',
      ...socket,
    });
    // An idle pooled connection the server dropped must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
  }

  /**
   * Runs `init` (the store's migration) once, before any query of this pool; a failure is what every
   * later query rejects with.
   */
  initialise(init: (pool: pg.Pool) => Promise<void>): Promise<void> {
    this.ready = init(this.pool).catch((err: unknown) => {
      throw this.unreachable(err);
    });
    // Seen by whoever queries first; not an unhandled rejection when nobody does.
    this.ready.catch(() => {});
    return this.ready;
  }

  /** One statement on any pooled connection; rows typed by the caller. */
  async query<R extends object = Record<string, unknown>>(text: string, params: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    await this.ready;
    try {
      return await this.pool.query<R>(text, params as unknown[]);
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  async rows<R extends object = Record<string, unknown>>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return (await this.query<R>(text, params)).rows;
  }

  /**
   * Runs `fn` in one transaction on one connection (READ COMMITTED unless `isolation` says otherwise);
   * commits when it resolves, rolls back when it throws. A serialization failure or deadlock (which
   * SERIALIZABLE transactions and racing row locks can raise) is retried up to `retries` times (default 5).
   */
  async tx<T>(
    fn: (client: Queryable) => Promise<T>,
    options: { isolation?: 'serializable' | 'repeatable read'; retries?: number } = {},
  ): Promise<T> {
    const retries = options.retries ?? 5;
    await this.ready;
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect().catch((err: unknown) => {
        throw this.unreachable(err);
      });
      try {
        await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}` : 'BEGIN');
        const q: Queryable = {
          query: <R extends object>(text: string, params: readonly unknown[] = []) =>
            client.query<R & pg.QueryResultRow>(text, params as unknown[]),
        };
        const out = await fn(q);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        const code = (err as { code?: string }).code;
        if ((code === PG_SERIALIZATION_FAILURE || code === PG_DEADLOCK_DETECTED) && attempt < retries) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  /** A connection of its own, outside the pool (LISTEN holds one for as long as the store is open). */
  async connectDedicated(): Promise<pg.Client> {
    await this.ready;
    const client = new (loadPg().Client)({ ...this.clientConfig });
    await client.connect().catch((err: unknown) => {
      throw this.unreachable(err);
    });
    if (this.schema) await client.query(`SET search_path TO ${this.schema}`);
    return client;
  }

  /** `err` as StoreUnreachableError when it means the server cannot be used (password scrubbed); else `err` itself. */
  unreachable(err: unknown): unknown {
    if (err instanceof StoreUnreachableError) return err;
    const reason = connectionProblem(err);
    if (reason === undefined) return err;
    return new StoreUnreachableError(redactUrl(this.rawUrl), scrubPassword(reason, this.rawUrl), err);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** `$1, $2, …` for `n` parameters starting at `from` (1-based). */
export function placeholders(n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');
}

/** `message` with the URL's password (if any) replaced by `***`. */
export function scrubPassword(message: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password ? message.split(password).join('***') : message;
  } catch {
    return message;
  }
}
