import type { PriceOverrides } from '../../budget/prices.js';
import { DroverError, LeaseLostError, NotFoundError } from '../../core/index.js';
import {
  type CallRow,
  callFromRow,
  callParams,
  LISTING_COLUMNS,
  type ListingRow,
  listingFromRow,
  type QuestionRow,
  questionFromRow,
  type RunRow,
  runFromRow,
  safeJson,
  safeText,
} from '../rows.js';
import type { StoredSpan } from '../span-types.js';
import type {
  CallRecord,
  CallRekey,
  DeletedRuns,
  Fence,
  LeaseRequest,
  LeaseResult,
  NewRun,
  QuestionRecord,
  RunEvent,
  RunListing,
  RunPatch,
  RunRecord,
  RunStatus,
  Store,
  StoreHealth,
  UsageRecord,
  UsageTotals,
} from '../types.js';
import { reportedParams, totalsFromRow } from '../usage-rows.js';
import { PgControlStore, PgTranscriptStore } from './control-store.js';
import { isPostgresUrl, PG_UNIQUE_VIOLATION, PgDb, type Queryable, redactUrl } from './db.js';
import { PgJobStore } from './job-store.js';
import { PgLedgerStore } from './ledger-store.js';
import { migratePg, PG_SCHEMA_VERSION, readSchemaVersion } from './migrations.js';
import { PgNotifier } from './notify.js';
import { PgRunQueue } from './queue-store.js';
import { PgReservationStore } from './reservation-store.js';
import { PgRetentionStore } from './retention-store.js';
import { PgSpanStore } from './span-store.js';
import { PgTaskStore } from './task-store.js';
import { PgWorkflowStore } from './workflow-store.js';

export interface PostgresStoreOptions {
  /** Price overrides for the usage rows `recordCalls` writes to the ledger (`drover.config.json` `prices`). */
  prices?: PriceOverrides;
  /** Open without migrating (doctor inspects a database as it is). */
  migrate?: boolean;
  /** Connection pool size (default 10). */
  poolSize?: number;
}

/** The store's schema error: a database migrated by a newer drover (exit code 2). */
export class PgSchemaError extends DroverError {
  constructor(message: string) {
    super('STORE_SCHEMA', message, { exitCode: 2 });
  }
}

const CALL_COLUMNS = [
  'run_id',
  'key',
  'kind',
  'label',
  'phase',
  'status',
  'inputs_json',
  'result_json',
  'error_json',
  'attempts',
  'started_at',
  'finished_at',
  'reused_from',
  'detail_json',
  'position_key',
  'content_key',
] as const;

const CALL_UPSERT = `INSERT INTO calls (${CALL_COLUMNS.join(', ')})
  VALUES (${CALL_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
  ON CONFLICT (run_id, key) DO UPDATE SET ${CALL_COLUMNS.slice(2)
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;

const TOTALS_SELECT = `COUNT(*) AS requests, COALESCE(SUM(input_tokens),0) AS "inputTokens", COALESCE(SUM(output_tokens),0) AS "outputTokens",
  COALESCE(SUM(cache_read_tokens),0) AS "cacheReadTokens", COALESCE(SUM(cache_write_5m_tokens + cache_write_1h_tokens),0) AS "cacheWriteTokens",
  drover_sum(cost_usd) AS "costUsd", COUNT(*) FILTER (WHERE price_flag = 'unpriced') AS "unpricedRequests",
  COUNT(refused_by) AS "refusedRequests"`;

const RUN_PATCH_COLUMNS: Record<keyof RunPatch, [string, (v: unknown) => unknown]> = {
  status: ['status', (v) => v],
  result: ['result_json', (v) => safeJson(v)],
  error: ['error_json', (v) => (v === null ? null : safeJson(v))],
  finishedAt: ['finished_at', (v) => v],
  settings: ['settings_json', (v) => safeJson(v)],
  scriptPath: ['script_path', (v) => v],
  scriptSource: ['script_source', (v) => safeText(v as string)],
  scriptHash: ['script_hash', (v) => v],
  name: ['name', (v) => safeText(v as string)],
  description: ['description', (v) => safeText(v as string)],
};

function upsertCall(q: Queryable, c: CallRecord) {
  const p = callParams(c);
  return q.query(
    CALL_UPSERT,
    CALL_COLUMNS.map((k) => p[k]),
  );
}

/**
 * The store on PostgreSQL: the same interface and semantics as the SQLite store (src/store/sqlite),
 * for a team sharing runs, ledger, spans and task board across machines (docs/scale.md). Opening
 * is lazy: the constructor connects nothing; the first operation connects and migrates, and
 * rejects with the connection's error (or PgSchemaError for a newer schema) — as does every later one.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  /** The URL with any password replaced by `***`. */
  readonly location: string;
  readonly db: PgDb;
  readonly tasks: PgTaskStore;
  readonly spans: PgSpanStore;
  readonly ledger: PgLedgerStore;
  readonly reservations: PgReservationStore;
  readonly control: PgControlStore;
  readonly transcripts: PgTranscriptStore;
  readonly retention: PgRetentionStore;
  readonly workflows: PgWorkflowStore;
  readonly queue: PgRunQueue;
  readonly jobs: PgJobStore;
  /** LISTEN/NOTIFY of this store (one dedicated connection, opened by the first wait). */
  readonly notifier: PgNotifier;
  private readonly prices: PriceOverrides | undefined;
  private closed = false;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    if (!isPostgresUrl(url)) throw new DroverError('BAD_STORE', `not a PostgreSQL URL: ${redactUrl(url)}`, { exitCode: 2 });
    this.location = redactUrl(url);
    this.prices = options.prices;
    this.db = new PgDb(url, { max: options.poolSize ?? 10 });
    if (options.migrate !== false) {
      this.db.initialise(async (pool) => {
        const client = await pool.connect();
        try {
          const found = await migratePg(client, this.db.schema);
          if (found > PG_SCHEMA_VERSION) {
            throw new PgSchemaError(
              `store ${this.location} has schema version ${found}, newer than this drover understands (${PG_SCHEMA_VERSION}); upgrade drover`,
            );
          }
        } finally {
          client.release();
        }
      });
    }
    this.tasks = new PgTaskStore(this.db);
    this.spans = new PgSpanStore(this.db);
    this.ledger = new PgLedgerStore(this.db);
    this.reservations = new PgReservationStore(this.db);
    this.control = new PgControlStore(this.db);
    this.transcripts = new PgTranscriptStore(this.db);
    this.retention = new PgRetentionStore(this.db);
    this.workflows = new PgWorkflowStore(this.db);
    this.notifier = new PgNotifier(this.db);
    this.queue = new PgRunQueue(this.db, this.notifier);
    this.jobs = new PgJobStore(this.db, this.notifier);
  }

  async createRun(run: NewRun, now: number): Promise<RunRecord> {
    try {
      await this.db.tx(async (q) => {
        await q.query(
          `INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, from_run_id, created_at, updated_at, pool)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $12, $10, $11, $11, $13)`,
          [
            run.id,
            safeText(run.name),
            safeText(run.description),
            run.scriptPath,
            safeText(run.scriptSource),
            run.scriptHash,
            run.scriptForm,
            safeJson(run.args ?? null),
            safeJson(run.settings),
            run.fromRunId,
            now,
            run.pool ? 'queued' : 'running',
            run.pool ?? null,
          ],
        );
        if (run.pool) await this.queue.announce(q, run.pool);
      });
    } catch (err) {
      if ((err as { code?: string }).code === PG_UNIQUE_VIOLATION) {
        throw new DroverError('RUN_EXISTS', `run ${run.id} already exists; use drover resume ${run.id}`, { exitCode: 2 });
      }
      throw err;
    }
    return (await this.getRun(run.id)) as RunRecord;
  }

  async getRun(id: string, q: Queryable = this.db): Promise<RunRecord | undefined> {
    const row = (await q.query<RunRow>('SELECT * FROM runs WHERE id = $1', [id])).rows[0];
    return row ? runFromRow(row) : undefined;
  }

  async listRuns(options: { limit?: number; status?: RunStatus } = {}): Promise<RunListing[]> {
    const params: unknown[] = [];
    let where = '';
    if (options.status) {
      params.push(options.status);
      where = 'WHERE status = $1';
    }
    params.push(options.limit ?? 50);
    const rows = await this.db.rows<ListingRow>(
      `SELECT ${LISTING_COLUMNS}, octet_length(result_json) AS result_bytes FROM runs ${where} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(listingFromRow);
  }

  /**
   * Inside a transaction: refuses the write when `fence` no longer holds the run's lease. The run's
   * row is locked (FOR SHARE) until commit, so a takeover cannot slip in between check and write.
   */
  async checkFence(q: Queryable, fence: Fence | undefined): Promise<void> {
    if (!fence) return;
    const row = (await q.query<{ lease_token: string | null }>('SELECT lease_token FROM runs WHERE id = $1 FOR SHARE', [fence.runId]))
      .rows[0];
    if (row?.lease_token !== fence.token) throw new LeaseLostError(fence.runId);
  }

  async updateRun(id: string, patch: RunPatch, now: number, fence?: Fence): Promise<void> {
    const sets: string[] = ['updated_at = $2'];
    const params: unknown[] = [id, now];
    for (const [key, value] of Object.entries(patch) as [keyof RunPatch, unknown][]) {
      if (value === undefined) continue;
      const [column, convert] = RUN_PATCH_COLUMNS[key];
      params.push(convert(value));
      sets.push(`${column} = $${params.length}`);
    }
    let where = 'WHERE id = $1';
    if (fence) {
      params.push(fence.token);
      where += ` AND lease_token = $${params.length}`;
    }
    const info = await this.db.query(`UPDATE runs SET ${sets.join(', ')} ${where}`, params);
    if (info.rowCount === 0) {
      if (fence && (await this.getRun(id))) throw new LeaseLostError(id);
      throw new NotFoundError(`run ${id}`);
    }
  }

  async acquireRunLease(req: LeaseRequest): Promise<LeaseResult> {
    return this.db.tx(async (client): Promise<LeaseResult> => {
      const row = (await client.query<RunRow>('SELECT * FROM runs WHERE id = $1 FOR UPDATE', [req.runId])).rows[0];
      if (!row) throw new NotFoundError(`run ${req.runId}`);
      const held = runFromRow(row).lease;
      const free = held === null || held.expiresAt <= req.now || held.token === req.holder.token || req.isHolderGone(held);
      if (!free) return { acquired: false, heldBy: held };
      await client.query('UPDATE runs SET lease_token = $2, lease_pid = $3, lease_host = $4, lease_expires_at = $5 WHERE id = $1', [
        req.runId,
        req.holder.token,
        req.holder.pid,
        req.holder.host,
        req.now + req.ttlMs,
      ]);
      return { acquired: true, tookOverFrom: held && held.token !== req.holder.token ? held : null };
    });
  }

  async renewRunLease(runId: string, token: string, expiresAt: number): Promise<boolean> {
    const info = await this.db.query('UPDATE runs SET lease_expires_at = $1 WHERE id = $2 AND lease_token = $3', [expiresAt, runId, token]);
    return info.rowCount === 1;
  }

  async releaseRunLease(runId: string, token: string): Promise<void> {
    await this.db.query(
      'UPDATE runs SET lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_token = $2',
      [runId, token],
    );
  }

  async listCalls(runId: string): Promise<CallRecord[]> {
    return (await this.db.rows<CallRow>('SELECT * FROM calls WHERE run_id = $1', [runId])).map(callFromRow);
  }

  async recordCalls(
    calls: CallRecord[],
    usage: UsageRecord[] = [],
    spans: StoredSpan[] = [],
    rekeys: CallRekey[] = [],
    fence?: Fence,
    replacing: StoredSpan[] = [],
  ): Promise<void> {
    if (calls.length === 0 && usage.length === 0 && spans.length === 0 && replacing.length === 0) return;
    await this.db.tx(async (client) => {
      await this.checkFence(client, fence);
      const runId = calls[0]?.runId;
      if (runId) {
        for (const { from, to } of rekeys) {
          await client.query('DELETE FROM calls WHERE run_id = $1 AND key = $2', [runId, to]);
          await client.query('UPDATE calls SET key = $1 WHERE run_id = $2 AND key = $3', [to, runId, from]);
          await client.query('UPDATE ledger SET call_key = $1 WHERE run_id = $2 AND call_key = $3', [to, runId, from]);
        }
      }
      for (const c of calls) await upsertCall(client, c);
      for (const u of usage) await insertReportedUsage(client, u, this.prices);
      await this.spans.insertMany(client, spans);
      for (const s of replacing) await this.spans.replaceOwn(client, s);
    });
  }

  async usageTotals(runId: string): Promise<UsageTotals> {
    const row = (
      await this.db.rows<Omit<UsageTotals, 'cacheHitRatio'>>(`SELECT ${TOTALS_SELECT} FROM ledger WHERE run_id = $1`, [runId])
    )[0];
    return totalsFromRow(row as Omit<UsageTotals, 'cacheHitRatio'>);
  }

  async usageByCall(runId: string): Promise<Map<string, UsageTotals>> {
    const rows = await this.db.rows<Omit<UsageTotals, 'cacheHitRatio'> & { call_key: string }>(
      `SELECT call_key, ${TOTALS_SELECT} FROM ledger WHERE run_id = $1 AND call_key IS NOT NULL GROUP BY call_key`,
      [runId],
    );
    return new Map(rows.map(({ call_key, ...totals }) => [call_key, totalsFromRow(totals)]));
  }

  async listUsage(runId: string): Promise<UsageRecord[]> {
    return this.db.rows<UsageRecord>(
      `SELECT run_id AS "runId", call_key AS "callKey", request_id AS "requestId", model, input_tokens AS "inputTokens",
        output_tokens AS "outputTokens", cache_read_tokens AS "cacheReadTokens", cache_write_5m_tokens AS "cacheWrite5mTokens",
        cache_write_1h_tokens AS "cacheWrite1hTokens", stop_reason AS "stopReason", ended_at AS "createdAt" FROM ledger WHERE run_id = $1 ORDER BY id`,
      [runId],
    );
  }

  async createQuestion(q: QuestionRecord, fence?: Fence): Promise<void> {
    await this.db.tx(async (client) => {
      await this.checkFence(client, fence);
      await client.query(
        `INSERT INTO questions (run_id, id, call_key, question, choices_json, status, answer, created_at, answered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [
          q.runId,
          q.id,
          q.callKey,
          safeText(q.question),
          safeJson(q.choices ?? undefined),
          q.status,
          safeText(q.answer),
          q.createdAt,
          q.answeredAt,
        ],
      );
    });
  }

  async getQuestion(runId: string, id: string): Promise<QuestionRecord | undefined> {
    const row = (await this.db.rows<QuestionRow>('SELECT * FROM questions WHERE run_id = $1 AND id = $2', [runId, id]))[0];
    return row ? questionFromRow(row) : undefined;
  }

  async listQuestions(runId: string): Promise<QuestionRecord[]> {
    return (await this.db.rows<QuestionRow>('SELECT * FROM questions WHERE run_id = $1 ORDER BY created_at, id', [runId])).map(
      questionFromRow,
    );
  }

  async answerQuestion(runId: string, id: string, answer: string, now: number): Promise<QuestionRecord> {
    return this.db.tx(async (client) => {
      const row = (await client.query<QuestionRow>('SELECT * FROM questions WHERE run_id = $1 AND id = $2 FOR UPDATE', [runId, id]))
        .rows[0];
      if (!row) throw new NotFoundError(`question ${id} of run ${runId}`);
      const stored = safeText(answer);
      const updated = await client.query<QuestionRow>(
        "UPDATE questions SET status = 'answered', answer = $1, answered_at = $2 WHERE run_id = $3 AND id = $4 AND status = 'pending' RETURNING *",
        [stored, now, runId, id],
      );
      if (updated.rowCount !== 1) {
        throw new DroverError('ALREADY_ANSWERED', `question ${id} of run ${runId} was already answered`, { exitCode: 2 });
      }
      const callRow = (await client.query<CallRow>('SELECT * FROM calls WHERE run_id = $1 AND key = $2', [runId, row.call_key])).rows[0];
      const base: CallRecord = callRow
        ? callFromRow(callRow)
        : {
            runId,
            key: row.call_key,
            kind: 'ask',
            label: null,
            phase: null,
            status: 'started',
            inputs: { question: row.question },
            result: null,
            error: null,
            attempts: 1,
            startedAt: now,
            finishedAt: null,
            reusedFrom: null,
          };
      await upsertCall(client, { ...base, status: 'finished', result: stored, error: null, finishedAt: now });
      return questionFromRow(updated.rows[0] as QuestionRow);
    });
  }

  async listPendingQuestions(limit = 500): Promise<QuestionRecord[]> {
    const rows = await this.db.rows<QuestionRow>(
      "SELECT * FROM questions WHERE status = 'pending' ORDER BY created_at, run_id, id LIMIT $1",
      [limit],
    );
    return rows.map(questionFromRow);
  }

  /**
   * The server's WAL insert position: it moves with every committed write by any client (and with
   * the server's own housekeeping, which only makes a watcher look once more). No table is read.
   */
  async changeMark(): Promise<string> {
    const row = (await this.db.rows<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0];
    return row?.lsn ?? '';
  }

  async appendEvents(events: RunEvent[], fence?: Fence): Promise<void> {
    if (events.length === 0) return;
    await this.db.tx(async (client) => {
      await this.checkFence(client, fence);
      for (const e of events) {
        await client.query('INSERT INTO events (run_id, ts, type, data_json) VALUES ($1, $2, $3, $4)', [
          e.runId,
          e.ts,
          e.type,
          safeJson(e.data) ?? 'null',
        ]);
      }
    });
  }

  async listEvents(runId: string): Promise<RunEvent[]> {
    const rows = await this.db.rows<{ ts: number; type: RunEvent['type']; data_json: string }>(
      'SELECT ts, type, data_json FROM events WHERE run_id = $1 ORDER BY id',
      [runId],
    );
    return rows.map((r) => ({ runId, ts: r.ts, type: r.type, data: JSON.parse(r.data_json) }));
  }

  async deleteRuns(ids: readonly string[], now: number, traceIdOf?: (runId: string) => string, actor = 'unknown'): Promise<DeletedRuns> {
    return this.db.tx(async (client): Promise<DeletedRuns> => {
      const out: DeletedRuns = { runs: [], skipped: [], calls: 0, usage: 0, questions: 0, events: 0, spans: 0 };
      for (const id of ids) {
        const row = (await client.query<RunRow>('SELECT * FROM runs WHERE id = $1 FOR UPDATE', [id])).rows[0];
        if (!row) continue;
        const run = runFromRow(row);
        if (run.lease && run.lease.expiresAt > now) {
          out.skipped.push(id);
          continue;
        }
        const removed = await this.retention.removeRunRows(client, id, traceIdOf);
        await this.retention.record(client, id, 'prune', now, actor, removed);
        out.spans += removed.spans;
        out.calls += removed.calls;
        out.usage += removed.ledgerAnonymised;
        out.questions += removed.questions;
        out.events += removed.events;
        out.runs.push(id);
      }
      return out;
    });
  }

  async checkHealth(): Promise<StoreHealth> {
    return inspectPostgres(this.db, this.location);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ledger.flush();
    await this.tasks.close();
    await this.notifier.close();
    await this.db.close();
  }
}

async function insertReportedUsage(client: Queryable, u: UsageRecord, prices: PriceOverrides | undefined): Promise<void> {
  const p = reportedParams(u, prices);
  await client.query(
    `INSERT INTO ledger (run_id, call_key, agent_label, phase, workflow, provider, wire, mode, model, request_id,
      status, stop_reason, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
      cost_usd, price_flag, started_at, ended_at)
     VALUES ($1, $2, (SELECT label FROM calls WHERE run_id = $1 AND key = $2), (SELECT phase FROM calls WHERE run_id = $1 AND key = $2),
      (SELECT name FROM runs WHERE id = $1), $3, $4, 'reported', $5, $6, 200, $7, $8, $9, $10, $11, $12, 0, $13, $14, $15, $15)`,
    [
      p.run_id,
      p.call_key,
      p.provider,
      p.wire,
      p.model,
      p.request_id,
      p.stop_reason,
      p.input_tokens,
      p.cache_read_tokens,
      p.cache_write_5m_tokens,
      p.cache_write_1h_tokens,
      p.output_tokens,
      p.cost_usd,
      p.price_flag,
      p.at,
    ],
  );
}

/**
 * Connection, server version and schema version of a PostgreSQL store, in plain words. Never
 * throws for an unreachable server: that is a problem in the report.
 */
export async function inspectPostgres(db: PgDb, location: string): Promise<StoreHealth> {
  const problems: string[] = [];
  const facts: Record<string, string | number | boolean> = { location };
  let schemaVersion: number | null = null;
  try {
    const client = await db.pool.connect();
    try {
      facts.serverVersion = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?';
      const num = Number((await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n")).rows[0]?.n ?? 0);
      if (num < 130000) problems.push(`PostgreSQL ${facts.serverVersion} is older than 13, the oldest drover supports`);
      schemaVersion = await readSchemaVersion(client);
      if (schemaVersion < PG_SCHEMA_VERSION) {
        problems.push(`schema version ${schemaVersion} is older than ${PG_SCHEMA_VERSION}; any drover command that writes will upgrade it`);
      } else if (schemaVersion > PG_SCHEMA_VERSION) {
        problems.push(`schema version ${schemaVersion} is newer than this drover (${PG_SCHEMA_VERSION}); upgrade drover`);
      }
      if (schemaVersion >= 1) {
        facts.runs = Number((await client.query<{ n: number }>('SELECT COUNT(*) AS n FROM runs')).rows[0]?.n ?? 0);
        facts.calls = Number((await client.query<{ n: number }>('SELECT COUNT(*) AS n FROM calls')).rows[0]?.n ?? 0);
      }
    } finally {
      client.release();
    }
  } catch (err) {
    problems.push(`cannot use ${location}: ${(err as Error).message}`);
  }
  return { ok: problems.length === 0, schemaVersion, expectedSchemaVersion: PG_SCHEMA_VERSION, problems, facts };
}
