import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { PriceOverrides } from '../../budget/prices.js';
import type { SqliteSynchronous } from '../../config/index.js';
import { DroverError, LeaseLostError, NotFoundError } from '../../core/index.js';
import { isCorruptionError } from '../corruption.js';
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
import { SqliteControlStore, SqliteTranscriptStore } from './control-store.js';
import { SqliteJobStore } from './job-store.js';
import { SqliteLedgerStore } from './ledger-store.js';
import { SQLITE_MIGRATIONS, SQLITE_POST_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './migrations.js';
import { SqliteRunQueue } from './queue-store.js';
import { SqliteReservationStore } from './reservation-store.js';
import { SqliteRetentionStore } from './retention-store.js';
import { SqliteSpanStore } from './span-store.js';
import { SqliteTaskStore } from './task-store.js';
import { SqliteWorkflowStore } from './workflow-store.js';

export interface SqliteStoreOptions {
  synchronous?: SqliteSynchronous;
  /** Open without migrating (doctor inspects a store as it is). */
  migrate?: boolean;
  readonly?: boolean;
  /** Price overrides for the usage rows `recordCalls` writes to the ledger (`drover.config.json` `prices`). */
  prices?: PriceOverrides;
}

export class StoreSchemaError extends DroverError {
  constructor(message: string) {
    super('STORE_SCHEMA', message, { exitCode: 2 });
  }
}

const CALL_UPSERT = `INSERT INTO calls (run_id, key, kind, label, phase, status, inputs_json, result_json, error_json, attempts, started_at, finished_at, reused_from, detail_json, position_key, content_key)
  VALUES (@run_id, @key, @kind, @label, @phase, @status, @inputs_json, @result_json, @error_json, @attempts, @started_at, @finished_at, @reused_from, @detail_json, @position_key, @content_key)
  ON CONFLICT (run_id, key) DO UPDATE SET kind=excluded.kind, label=excluded.label, phase=excluded.phase, status=excluded.status,
    inputs_json=excluded.inputs_json, result_json=excluded.result_json, error_json=excluded.error_json, attempts=excluded.attempts,
    started_at=excluded.started_at, finished_at=excluded.finished_at, reused_from=excluded.reused_from, detail_json=excluded.detail_json,
    position_key=excluded.position_key, content_key=excluded.content_key`;

// Usage is read from the ledger (schema v7): one row per model request, whoever wrote it.
const TOTALS_SELECT = `COUNT(*) AS requests, COALESCE(SUM(input_tokens),0) AS inputTokens, COALESCE(SUM(output_tokens),0) AS outputTokens,
  COALESCE(SUM(cache_read_tokens),0) AS cacheReadTokens, COALESCE(SUM(cache_write_5m_tokens + cache_write_1h_tokens),0) AS cacheWriteTokens,
  SUM(cost_usd) AS costUsd, COALESCE(SUM(price_flag = 'unpriced'),0) AS unpricedRequests,
  COUNT(refused_by) AS refusedRequests`;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly location: string;
  private readonly db: Database.Database;
  private readonly stmts;
  readonly tasks: SqliteTaskStore;
  readonly spans: SqliteSpanStore;
  readonly ledger: SqliteLedgerStore;
  readonly reservations: SqliteReservationStore;
  readonly control: SqliteControlStore;
  readonly transcripts: SqliteTranscriptStore;
  readonly retention: SqliteRetentionStore;
  readonly workflows: SqliteWorkflowStore;
  readonly queue: SqliteRunQueue;
  readonly jobs: SqliteJobStore;
  private readonly prices: PriceOverrides | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.location = path;
    this.prices = options.prices;
    if (path !== ':memory:' && !options.readonly) mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    this.db.pragma('busy_timeout = 10000');
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      // Checkpoint every ~40 MB of WAL instead of 4 MB: each checkpoint fsyncs, and a busy board commits thousands of small transactions.
      this.db.pragma('wal_autocheckpoint = 10000');
      // Pages come from a shared mapping instead of one pread each after another process commits.
      this.db.pragma('mmap_size = 268435456');
      this.db.pragma(`synchronous = ${(options.synchronous ?? 'normal').toUpperCase()}`);
      this.db.pragma('foreign_keys = ON');
    }
    if (options.migrate !== false && !options.readonly) this.migrate();
    this.stmts = this.prepare();
    this.tasks = new SqliteTaskStore(this.db);
    this.spans = new SqliteSpanStore(this.db);
    this.ledger = new SqliteLedgerStore(this.db);
    this.reservations = new SqliteReservationStore(this.db);
    this.control = new SqliteControlStore(this.db);
    this.transcripts = new SqliteTranscriptStore(this.db);
    this.retention = new SqliteRetentionStore(this.db);
    this.workflows = new SqliteWorkflowStore(this.db);
    this.queue = new SqliteRunQueue(this.db);
    this.jobs = new SqliteJobStore(this.db);
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_SCHEMA_VERSION) {
      throw new StoreSchemaError(
        `store ${this.location} has schema version ${current}, newer than this drover understands (${SQLITE_SCHEMA_VERSION}); upgrade drover`,
      );
    }
    if (current === SQLITE_SCHEMA_VERSION) return;
    // IMMEDIATE takes the write lock first, so two processes opening a new store cannot both migrate.
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < SQLITE_SCHEMA_VERSION; v++) {
          this.db.exec(SQLITE_MIGRATIONS[v] as string);
          SQLITE_POST_MIGRATIONS[v + 1]?.(this.db);
        }
        this.db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
      })
      .immediate();
  }

  private prepare() {
    const db = this.db;
    return {
      insertRun:
        db.prepare(`INSERT INTO runs (id, name, description, script_path, script_source, script_hash, script_form, args_json, settings_json, status, from_run_id, created_at, updated_at, pool)
        VALUES (@id, @name, @description, @script_path, @script_source, @script_hash, @script_form, @args_json, @settings_json, @status, @from_run_id, @now, @now, @pool)`),
      getRun: db.prepare('SELECT * FROM runs WHERE id = ?'),
      setLease: db.prepare(
        'UPDATE runs SET lease_token = @token, lease_pid = @pid, lease_host = @host, lease_expires_at = @expiresAt WHERE id = @runId',
      ),
      renewLease: db.prepare('UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_token = ?'),
      leaseToken: db.prepare('SELECT lease_token FROM runs WHERE id = ?').pluck(),
      releaseLease: db.prepare(
        'UPDATE runs SET lease_token = NULL, lease_pid = NULL, lease_host = NULL, lease_expires_at = NULL WHERE id = ? AND lease_token = ?',
      ),
      listCalls: db.prepare('SELECT * FROM calls WHERE run_id = ?'),
      upsertCall: db.prepare(CALL_UPSERT),
      insertUsage: db.prepare(`INSERT INTO ledger (run_id, call_key, agent_label, phase, workflow, provider, wire, mode, model, request_id,
        status, stop_reason, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
        cost_usd, price_flag, started_at, ended_at)
        VALUES (@run_id, @call_key, (SELECT label FROM calls WHERE run_id = @run_id AND key = @call_key),
          (SELECT phase FROM calls WHERE run_id = @run_id AND key = @call_key), (SELECT name FROM runs WHERE id = @run_id),
          @provider, @wire, 'reported', @model, @request_id, 200, @stop_reason, @input_tokens, @cache_read_tokens, @cache_write_5m_tokens,
          @cache_write_1h_tokens, @output_tokens, 0, @cost_usd, @price_flag, @at, @at)`),
      usageTotals: db.prepare(`SELECT ${TOTALS_SELECT} FROM ledger WHERE run_id = ?`),
      usageByCall: db.prepare(`SELECT call_key, ${TOTALS_SELECT} FROM ledger WHERE run_id = ? AND call_key IS NOT NULL GROUP BY call_key`),
      listUsage: db.prepare(`SELECT run_id AS runId, call_key AS callKey, request_id AS requestId, model, input_tokens AS inputTokens,
        output_tokens AS outputTokens, cache_read_tokens AS cacheReadTokens, cache_write_5m_tokens AS cacheWrite5mTokens,
        cache_write_1h_tokens AS cacheWrite1hTokens, stop_reason AS stopReason, ended_at AS createdAt FROM ledger WHERE run_id = ? ORDER BY id`),
      insertQuestion:
        db.prepare(`INSERT INTO questions (run_id, id, call_key, question, choices_json, status, answer, created_at, answered_at)
        VALUES (@run_id, @id, @call_key, @question, @choices_json, @status, @answer, @created_at, @answered_at) ON CONFLICT DO NOTHING`),
      getQuestion: db.prepare('SELECT * FROM questions WHERE run_id = ? AND id = ?'),
      listQuestions: db.prepare('SELECT * FROM questions WHERE run_id = ? ORDER BY created_at, id'),
      pendingQuestions: db.prepare("SELECT * FROM questions WHERE status = 'pending' ORDER BY created_at, run_id, id LIMIT ?"),
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      answerQuestion: db.prepare(
        "UPDATE questions SET status = 'answered', answer = ?, answered_at = ? WHERE run_id = ? AND id = ? AND status = 'pending'",
      ),
      getCall: db.prepare('SELECT * FROM calls WHERE run_id = ? AND key = ?'),
      deleteCall: db.prepare('DELETE FROM calls WHERE run_id = ? AND key = ?'),
      rekeyCall: db.prepare('UPDATE calls SET key = ? WHERE run_id = ? AND key = ?'),
      rekeyUsage: db.prepare('UPDATE ledger SET call_key = ? WHERE run_id = ? AND call_key = ?'),
      insertEvent: db.prepare('INSERT INTO events (run_id, ts, type, data_json) VALUES (?, ?, ?, ?)'),
      listEvents: db.prepare('SELECT run_id, ts, type, data_json FROM events WHERE run_id = ? ORDER BY id'),
    };
  }

  async createRun(run: NewRun, now: number): Promise<RunRecord> {
    try {
      this.insertRun(run, now);
    } catch (err) {
      // Two processes choosing the same --run-id: the loser hears what happened, not SQLite's words.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new DroverError('RUN_EXISTS', `run ${run.id} already exists; use drover resume ${run.id}`, { exitCode: 2 });
      }
      throw err;
    }
    return this.getRunSync(run.id) as RunRecord;
  }

  private insertRun(run: NewRun, now: number): void {
    this.stmts.insertRun.run({
      id: run.id,
      name: safeText(run.name),
      description: safeText(run.description),
      script_path: run.scriptPath,
      // A script with a secret written into it is stored redacted: only a resume whose script file is
      // gone runs this copy (docs/redaction.md).
      script_source: safeText(run.scriptSource),
      script_hash: run.scriptHash,
      script_form: run.scriptForm,
      args_json: safeJson(run.args ?? null),
      settings_json: safeJson(run.settings),
      from_run_id: run.fromRunId,
      status: run.pool ? 'queued' : 'running',
      pool: run.pool ?? null,
      now,
    });
  }

  private getRunSync(id: string): RunRecord | undefined {
    const row = this.stmts.getRun.get(id) as RunRow | undefined;
    return row ? runFromRow(row) : undefined;
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.getRunSync(id);
  }

  async listRuns(options: { limit?: number; status?: RunStatus } = {}): Promise<RunListing[]> {
    const where = options.status ? 'WHERE status = ?' : '';
    const params: unknown[] = options.status ? [options.status] : [];
    params.push(options.limit ?? 50);
    // The columns come from the runs_listing index: the row itself stores them after result_json,
    // and reaching them there walks every overflow page of the result (~20 ms per 10 MB result).
    // octet_length reads only the row's header (SQLite >= 3.43), never the result's pages.
    const rows = this.db
      .prepare(
        `SELECT ${LISTING_COLUMNS}, octet_length(result_json) AS result_bytes FROM runs ${where} ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(...params) as ListingRow[];
    return rows.map(listingFromRow);
  }

  /** Inside a write transaction: refuses the write when `fence` no longer holds the run's lease. */
  private checkFence(fence: Fence | undefined): void {
    if (fence && this.stmts.leaseToken.get(fence.runId) !== fence.token) throw new LeaseLostError(fence.runId);
  }

  async updateRun(id: string, patch: RunPatch, now: number, fence?: Fence): Promise<void> {
    const sets: string[] = ['updated_at = @now'];
    const params: Record<string, unknown> = { id, now };
    const map: Record<keyof RunPatch, [string, (v: unknown) => unknown]> = {
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
    for (const [key, value] of Object.entries(patch) as [keyof RunPatch, unknown][]) {
      if (value === undefined) continue;
      const [column, convert] = map[key];
      sets.push(`${column} = @${column}`);
      params[column] = convert(value);
    }
    if (fence) {
      params.token = fence.token;
      const info = this.db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id = @id AND lease_token = @token`).run(params);
      if (info.changes === 0) throw this.getRunSync(id) ? new LeaseLostError(id) : new NotFoundError(`run ${id}`);
      return;
    }
    const info = this.db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id = @id`).run(params);
    if (info.changes === 0) throw new NotFoundError(`run ${id}`);
  }

  async acquireRunLease(req: LeaseRequest): Promise<LeaseResult> {
    return this.db
      .transaction((): LeaseResult => {
        const run = this.getRunSync(req.runId);
        if (!run) throw new NotFoundError(`run ${req.runId}`);
        const held = run.lease;
        const free = held === null || held.expiresAt <= req.now || held.token === req.holder.token || req.isHolderGone(held);
        if (!free) return { acquired: false, heldBy: held };
        this.stmts.setLease.run({ runId: req.runId, ...req.holder, expiresAt: req.now + req.ttlMs });
        return { acquired: true, tookOverFrom: held && held.token !== req.holder.token ? held : null };
      })
      .immediate();
  }

  async renewRunLease(runId: string, token: string, expiresAt: number): Promise<boolean> {
    return this.stmts.renewLease.run(expiresAt, runId, token).changes === 1;
  }

  async releaseRunLease(runId: string, token: string): Promise<void> {
    this.stmts.releaseLease.run(runId, token);
  }

  async listCalls(runId: string): Promise<CallRecord[]> {
    return (this.stmts.listCalls.all(runId) as CallRow[]).map(callFromRow);
  }

  private readonly writeJournal = (
    calls: CallRecord[],
    usage: UsageRecord[],
    spans: StoredSpan[],
    rekeys: CallRekey[],
    fence: Fence | undefined,
    replacing: StoredSpan[],
  ) => {
    this.checkFence(fence);
    for (const { from, to } of rekeys) {
      const runId = calls[0]?.runId;
      if (!runId) break;
      this.stmts.deleteCall.run(runId, to);
      this.stmts.rekeyCall.run(to, runId, from);
      this.stmts.rekeyUsage.run(to, runId, from);
    }
    for (const c of calls) this.stmts.upsertCall.run(callParams(c));
    for (const u of usage) this.stmts.insertUsage.run(reportedParams(u, this.prices));
    for (const s of spans) this.spans.insertOne(s);
    for (const s of replacing) this.spans.replaceOwn(s);
  };
  private journalTx:
    | ((
        calls: CallRecord[],
        usage: UsageRecord[],
        spans: StoredSpan[],
        rekeys: CallRekey[],
        fence: Fence | undefined,
        replacing: StoredSpan[],
      ) => void)
    | undefined;

  async recordCalls(
    calls: CallRecord[],
    usage: UsageRecord[] = [],
    spans: StoredSpan[] = [],
    rekeys: CallRekey[] = [],
    fence?: Fence,
    replacing: StoredSpan[] = [],
  ): Promise<void> {
    if (calls.length === 0 && usage.length === 0 && spans.length === 0 && replacing.length === 0) return;
    this.journalTx ??= this.db.transaction(this.writeJournal).immediate;
    this.journalTx(calls, usage, spans, rekeys, fence, replacing);
  }

  async usageTotals(runId: string): Promise<UsageTotals> {
    return totalsFromRow(this.stmts.usageTotals.get(runId) as UsageTotals);
  }

  async listUsage(runId: string): Promise<UsageRecord[]> {
    return this.stmts.listUsage.all(runId) as UsageRecord[];
  }

  async usageByCall(runId: string): Promise<Map<string, UsageTotals>> {
    const rows = this.stmts.usageByCall.all(runId) as (UsageTotals & { call_key: string })[];
    return new Map(rows.map(({ call_key, ...totals }) => [call_key, totalsFromRow(totals)]));
  }

  async createQuestion(q: QuestionRecord, fence?: Fence): Promise<void> {
    this.db
      .transaction(() => {
        this.checkFence(fence);
        this.insertQuestion(q);
      })
      .immediate();
  }

  private insertQuestion(q: QuestionRecord): void {
    this.stmts.insertQuestion.run({
      run_id: q.runId,
      id: q.id,
      call_key: q.callKey,
      question: safeText(q.question),
      choices_json: safeJson(q.choices ?? undefined),
      status: q.status,
      answer: safeText(q.answer),
      created_at: q.createdAt,
      answered_at: q.answeredAt,
    });
  }

  async getQuestion(runId: string, id: string): Promise<QuestionRecord | undefined> {
    const row = this.stmts.getQuestion.get(runId, id) as QuestionRow | undefined;
    return row ? questionFromRow(row) : undefined;
  }

  async listQuestions(runId: string): Promise<QuestionRecord[]> {
    return (this.stmts.listQuestions.all(runId) as QuestionRow[]).map(questionFromRow);
  }

  async answerQuestion(runId: string, id: string, answer: string, now: number): Promise<QuestionRecord> {
    return this.db
      .transaction(() => {
        const row = this.stmts.getQuestion.get(runId, id) as QuestionRow | undefined;
        if (!row) throw new NotFoundError(`question ${id} of run ${runId}`);
        // A human's answer is stored (and returned to the script) redacted, like every other value.
        const stored = safeText(answer);
        if (this.stmts.answerQuestion.run(stored, now, runId, id).changes !== 1) {
          throw new DroverError('ALREADY_ANSWERED', `question ${id} of run ${runId} was already answered`, { exitCode: 2 });
        }
        const callRow = this.stmts.getCall.get(runId, row.call_key) as CallRow | undefined;
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
        this.stmts.upsertCall.run(callParams({ ...base, status: 'finished', result: stored, error: null, finishedAt: now }));
        return questionFromRow(this.stmts.getQuestion.get(runId, id) as QuestionRow);
      })
      .immediate();
  }

  async listPendingQuestions(limit = 500): Promise<QuestionRecord[]> {
    return (this.stmts.pendingQuestions.all(limit) as QuestionRow[]).map(questionFromRow);
  }

  async changeMark(): Promise<string> {
    // data_version moves when another connection commits; total_changes() counts this one's writes.
    const version = this.db.pragma('data_version', { simple: true }) as number;
    return `${version}:${this.stmts.totalChanges.get() as number}`;
  }

  async appendEvents(events: RunEvent[], fence?: Fence): Promise<void> {
    if (events.length === 0) return;
    this.db.transaction(() => {
      this.checkFence(fence);
      for (const e of events) this.stmts.insertEvent.run(e.runId, e.ts, e.type, safeJson(e.data) ?? 'null');
    })();
  }

  async listEvents(runId: string): Promise<RunEvent[]> {
    const rows = this.stmts.listEvents.all(runId) as { run_id: string; ts: number; type: RunEvent['type']; data_json: string }[];
    return rows.map((r) => ({ runId: r.run_id, ts: r.ts, type: r.type, data: JSON.parse(r.data_json) }));
  }

  async deleteRuns(ids: readonly string[], now: number, traceIdOf?: (runId: string) => string, actor = 'unknown'): Promise<DeletedRuns> {
    return this.db
      .transaction((): DeletedRuns => {
        const out: DeletedRuns = { runs: [], skipped: [], calls: 0, usage: 0, questions: 0, events: 0, spans: 0 };
        for (const id of ids) {
          const run = this.getRunSync(id);
          if (!run) continue;
          if (run.lease && run.lease.expiresAt > now) {
            out.skipped.push(id);
            continue;
          }
          // The same removal as drover runs delete (retention-store.ts): ledger figures kept, logged.
          const removed = this.retention.removeRunRows(id, traceIdOf);
          this.retention.record(id, 'prune', now, actor, removed);
          out.spans += removed.spans;
          out.calls += removed.calls;
          out.usage += removed.ledgerAnonymised;
          out.questions += removed.questions;
          out.events += removed.events;
          out.runs.push(id);
        }
        return out;
      })
      .immediate();
  }

  async checkHealth(): Promise<StoreHealth> {
    return inspectSqlite(this.db, this.location);
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    this.ledger.flush();
    this.db.close();
  }
}

/** Integrity, schema version and plain-word problems of an SQLite store. */
export function inspectSqlite(db: Database.Database, location: string): StoreHealth {
  const problems: string[] = [];
  const schemaVersion = db.pragma('user_version', { simple: true }) as number;
  if (schemaVersion < SQLITE_SCHEMA_VERSION) {
    problems.push(`schema version ${schemaVersion} is older than ${SQLITE_SCHEMA_VERSION}; any drover command that writes will upgrade it`);
  } else if (schemaVersion > SQLITE_SCHEMA_VERSION) {
    problems.push(`schema version ${schemaVersion} is newer than this drover (${SQLITE_SCHEMA_VERSION}); upgrade drover`);
  }
  const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  let damage: string | undefined;
  if (!(integrity.length === 1 && integrity[0] === 'ok')) {
    damage = `integrity check failed: ${integrity.slice(0, 5).join('; ')}`;
    problems.push(damage);
  }
  const fk = db.pragma('foreign_key_check') as unknown[];
  if (fk.length > 0) problems.push(`${fk.length} rows point at missing parents (foreign key check)`);
  const facts: Record<string, string | number | boolean> = {
    location,
    journalMode: String(db.pragma('journal_mode', { simple: true })),
    sqliteVersion: String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v),
  };
  if (schemaVersion >= 1) {
    try {
      facts.runs = (db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
      facts.calls = (db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
    } catch (err) {
      if (!isCorruptionError(err)) throw err;
      damage ??= (err as Error).message;
      problems.push(`counting runs and calls failed: ${(err as Error).message}`);
    }
  }
  return {
    ok: problems.length === 0,
    schemaVersion,
    expectedSchemaVersion: SQLITE_SCHEMA_VERSION,
    problems,
    facts,
    ...(damage ? { damage } : {}),
  };
}
