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
];

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;
