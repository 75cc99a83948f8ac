import type Database from 'better-sqlite3';
import { priceUsage } from '../../budget/prices.js';

/**
 * Versioned schema. Each entry moves the schema from version i to i+1 and is
 * never edited once released; PRAGMA user_version holds the current version.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    script_path TEXT NOT NULL,
    script_source TEXT NOT NULL,
    script_hash TEXT NOT NULL,
    script_form TEXT NOT NULL,
    args_json TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    status TEXT NOT NULL,
    result_json TEXT,
    error_json TEXT,
    from_run_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    lease_token TEXT,
    lease_pid INTEGER,
    lease_host TEXT,
    lease_expires_at INTEGER
  );
  CREATE INDEX runs_created ON runs(created_at);
  CREATE TABLE calls (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    phase TEXT,
    status TEXT NOT NULL,
    inputs_json TEXT,
    result_json TEXT,
    error_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    reused_from TEXT,
    PRIMARY KEY (run_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    call_key TEXT NOT NULL,
    request_id TEXT,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    stop_reason TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX usage_run ON usage(run_id, call_key);
  CREATE TABLE questions (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    call_key TEXT NOT NULL,
    question TEXT NOT NULL,
    choices_json TEXT,
    status TEXT NOT NULL,
    answer TEXT,
    created_at INTEGER NOT NULL,
    answered_at INTEGER,
    PRIMARY KEY (run_id, id)
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    data_json TEXT NOT NULL
  );
  CREATE INDEX events_run ON events(run_id, id);
  `,
  `
  CREATE TABLE task_lists (
    id TEXT PRIMARY KEY,
    high_water INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE tasks (
    list_id TEXT NOT NULL REFERENCES task_lists(id),
    id TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    active_form TEXT,
    status TEXT NOT NULL,
    owner TEXT,
    priority INTEGER NOT NULL,
    labels_json TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    lease_expires_at INTEGER,
    -- blockers not yet completed or cancelled: kept in step by every change, so "ready" is one index range
    open_blockers INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (list_id, id)
  ) WITHOUT ROWID;
  -- Partial indexes: a claim moves a row from one to the other and a completion leaves the ready
  -- index alone, so each commit writes fewer pages.
  CREATE INDEX tasks_ready ON tasks(list_id, open_blockers, priority, created_at) WHERE status = 'pending';
  CREATE INDEX tasks_lease ON tasks(list_id, lease_expires_at) WHERE status = 'in_progress';
  CREATE TABLE task_deps (
    list_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    blocker_id TEXT NOT NULL,
    PRIMARY KEY (list_id, task_id, blocker_id)
  ) WITHOUT ROWID;
  CREATE INDEX task_deps_blocker ON task_deps(list_id, blocker_id, task_id);
  CREATE TABLE task_events (
    seq INTEGER PRIMARY KEY,
    list_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    session TEXT,
    kind TEXT NOT NULL,
    data_json TEXT NOT NULL
  );
  CREATE INDEX task_events_task ON task_events(list_id, task_id, seq);
  `,
  // v3: what an agent did besides answering (turns, tool calls, session, worktree).
  `ALTER TABLE calls ADD COLUMN detail_json TEXT;`,
  // v4: the span store — drover's own spans and any received over OTLP.
  `
  CREATE TABLE spans (
    id INTEGER PRIMARY KEY,
    -- the first 52 bits of the trace id as an integer: a small index key (a text key costs ~40% of ingest)
    trace_key INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    service TEXT,
    scope TEXT,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    status_message TEXT,
    run_id TEXT,
    attributes_json TEXT NOT NULL,
    resource_json TEXT NOT NULL,
    events_json TEXT
  );
  -- Rows append in arrival order (ingest is 2.4x faster than clustering by trace); a trace is one index range.
  -- No unique key: a span sent twice (an OTLP retry) is stored twice and read once.
  CREATE INDEX spans_trace ON spans(trace_key);
  CREATE INDEX spans_run ON spans(run_id) WHERE run_id IS NOT NULL;
  CREATE INDEX spans_name ON spans(name);
  CREATE INDEX spans_start ON spans(start_us);
  `,
  // v5: structural call identity — where a call sits (branch, occurrence) and what it is (kind + inputs).
  `ALTER TABLE calls ADD COLUMN position_key TEXT;
  ALTER TABLE calls ADD COLUMN content_key TEXT;`,
  // v6: every OTLP field a span can carry (exact times, links, trace state, flags, dropped counts,
  // exact attribute values) and its resource/scope fields besides attributes and name; NULL when none came.
  `
  ALTER TABLE spans ADD COLUMN extra_json TEXT;
  ALTER TABLE spans ADD COLUMN origin_json TEXT;
  -- nanoseconds past start_us / end_us (1..999; NULL for none): exact times without JSON per span
  ALTER TABLE spans ADD COLUMN start_ns_rem INTEGER;
  ALTER TABLE spans ADD COLUMN end_ns_rem INTEGER;
  `,
  // v7: the ledger — one row per model request that reached drover's gateway (src/budget/ledger-types.ts).
  // run_id is not a foreign key: a standalone gateway meters requests of no run (unattributed).
  `
  CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    run_id TEXT,
    call_key TEXT,
    agent_label TEXT,
    phase TEXT,
    workflow TEXT,
    session TEXT,
    provider TEXT NOT NULL,
    wire TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    request_id TEXT,
    status INTEGER NOT NULL,
    stop_reason TEXT,
    input_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_5m_tokens INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    server_tool_uses_json TEXT,
    cost_usd REAL,
    price_flag TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    ttfb_ms INTEGER
  );
  CREATE INDEX ledger_run ON ledger(run_id, call_key) WHERE run_id IS NOT NULL;
  CREATE INDEX ledger_time ON ledger(ended_at);
  CREATE INDEX ledger_workflow ON ledger(workflow, ended_at) WHERE workflow IS NOT NULL;
  CREATE INDEX ledger_model ON ledger(model, ended_at);
  -- The ledger replaces the usage table: its rows move over as 'reported' (no gateway saw them),
  -- 'unpriced' until LEDGER_REPRICE (below) prices them in the same transaction.
  INSERT INTO ledger (run_id, call_key, agent_label, phase, workflow, session, provider, wire, mode, model, request_id, status,
    stop_reason, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens,
    server_tool_uses_json, cost_usd, price_flag, started_at, ended_at, ttfb_ms)
  SELECT u.run_id, u.call_key, c.label, c.phase, r.name, NULL,
    CASE WHEN u.model LIKE 'claude%' THEN 'anthropic' ELSE 'openai' END,
    CASE WHEN u.model LIKE 'claude%' THEN 'anthropic' ELSE 'responses' END,
    'reported', u.model, u.request_id, 200, u.stop_reason, u.input_tokens, u.cache_read_tokens, u.cache_write_5m_tokens,
    u.cache_write_1h_tokens, u.output_tokens, 0, NULL, NULL, 'unpriced', u.created_at, u.created_at, NULL
  FROM usage u LEFT JOIN calls c ON c.run_id = u.run_id AND c.key = u.call_key LEFT JOIN runs r ON r.id = u.run_id
  ORDER BY u.id;
  DROP TABLE usage;
  `,
  // v8: cap reservations — a request's worst case held against each cap that applies, one row per
  // (reservation, cap), until the request settles (src/budget/reservations.ts). expires_at frees the
  // holds of a process that died: live holders renew it while their request is in flight.
  `
  CREATE TABLE reservations (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    cap_key TEXT NOT NULL,
    usd REAL,
    tokens INTEGER NOT NULL,
    run_id TEXT,
    call_key TEXT,
    model TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (id, scope, cap_key)
  ) WITHOUT ROWID;
  CREATE INDEX reservations_cap ON reservations(scope, cap_key, expires_at);
  CREATE INDEX reservations_expiry ON reservations(expires_at);
  `,
  // v9: listing runs reads this index alone (see SqliteStore.listRuns): in the row, these columns sit
  // after result_json, so reading them there walks every page of a big result. Replaces runs_created.
  `DROP INDEX runs_created;
  CREATE INDEX runs_listing ON runs(created_at, id, status, name, updated_at, finished_at, lease_token, lease_pid, lease_host, lease_expires_at);`,
  // v10: run control and agent transcripts. stop_requested_at: a stop asked from another process
  // (drover stop, the dashboard), honoured by the run's driver (src/workflow/stop-watch.ts).
  // transcripts: an agent call's prompt, turns, tool calls and answer, redacted, one row per attempt.
  `ALTER TABLE runs ADD COLUMN stop_requested_at INTEGER;
  CREATE TABLE transcripts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    call_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    label TEXT,
    created_at INTEGER NOT NULL,
    transcript_json TEXT NOT NULL,
    PRIMARY KEY (run_id, call_key, attempt)
  ) WITHOUT ROWID;`,
  // deletions (v11): what retention and
  // `drover runs delete` removed — run id, kind, when, who (OS user), counts; never content — and when
  // a run's content was dropped (src/store/sqlite/retention-store.ts).
  `CREATE TABLE deletions (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    counts_json TEXT NOT NULL
  );
  CREATE INDEX deletions_run ON deletions(run_id);
  ALTER TABLE runs ADD COLUMN content_dropped_at INTEGER;`,
  // workflows (v12): the workflow inventory (src/inventory, src/store/sqlite/workflow-store.ts) — the tier
  // a granted promotion recorded, the attached assert spec / golden trace paths — and its audit log
  // (attach, promote, refused; who and when). runs_name serves the per-workflow listing.
  `CREATE TABLE workflows (
    name TEXT PRIMARY KEY,
    tier TEXT,
    owner TEXT,
    spec_path TEXT,
    golden_path TEXT,
    promoted_at INTEGER,
    promoted_by TEXT
  ) WITHOUT ROWID;
  CREATE TABLE workflow_events (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    details_json TEXT NOT NULL
  );
  CREATE INDEX workflow_events_name ON workflow_events(name, id);
  CREATE INDEX runs_name ON runs(name, created_at);`,
  // v13: the run queue — a run with a pool is driven by `drover worker` processes (src/worker).
  `ALTER TABLE runs ADD COLUMN pool TEXT;
  CREATE INDEX runs_pool ON runs(pool, created_at) WHERE pool IS NOT NULL;`,
  // v14: agent calls dispatched to workers (src/store/job-types.ts).
  `CREATE TABLE agent_jobs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    call_key TEXT NOT NULL,
    pool TEXT NOT NULL,
    labels_json TEXT NOT NULL,
    backend TEXT NOT NULL,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL,
    claims INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_worker TEXT,
    lease_host TEXT,
    lease_pid INTEGER,
    lease_expires_at INTEGER,
    outcome_json TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    UNIQUE (run_id, call_key)
  );
  CREATE INDEX agent_jobs_claim ON agent_jobs(pool, run_id, id) WHERE status IN ('queued', 'running');
  CREATE INDEX agent_jobs_lease ON agent_jobs(lease_token) WHERE lease_token IS NOT NULL;`,
  // v15: requests drover's gateway refused before sending them (a cap: budget, 402; the policy: 403).
  // Older rows: a 402 with no answer, no tokens and no first byte is a cap refusal (a provider's own
  // 402, e.g. out of credits, was answered: it has a ttfb); an old 403 may be the provider's own, so it stays unmarked.
  `ALTER TABLE ledger ADD COLUMN refused_by TEXT;
  UPDATE ledger SET refused_by = 'budget'
    WHERE status = 402 AND request_id IS NULL AND ttfb_ms IS NULL
      AND input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens = 0;`,
];

/**
 * JavaScript steps that run right after a migration, in its transaction: what SQL cannot do.
 * Keyed by the version the migration reaches — renumber it with the ledger migration (7: price the usage rows moved into the ledger with
 * the built-in sheet — a store has no config overrides; `drover cost` shows what the rows say).
 */
export const SQLITE_POST_MIGRATIONS: Readonly<Record<number, (db: Database.Database) => void>> = {
  7: (db) => {
    const rows = db
      .prepare(
        `SELECT id, model, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens
         FROM ledger WHERE mode = 'reported' AND price_flag = 'unpriced'`,
      )
      .all() as {
      id: number;
      model: string;
      input_tokens: number;
      cache_read_tokens: number;
      cache_write_5m_tokens: number;
      cache_write_1h_tokens: number;
      output_tokens: number;
    }[];
    const update = db.prepare("UPDATE ledger SET cost_usd = ?, price_flag = 'priced' WHERE id = ?");
    for (const r of rows) {
      const { costUsd } = priceUsage(r.model, {
        inputTokens: r.input_tokens,
        cacheReadTokens: r.cache_read_tokens,
        cacheWrite5mTokens: r.cache_write_5m_tokens,
        cacheWrite1hTokens: r.cache_write_1h_tokens,
        outputTokens: r.output_tokens,
        reasoningTokens: 0,
        serverToolUses: {},
      });
      if (costUsd !== null) update.run(costUsd, r.id);
    }
  },
};

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;
