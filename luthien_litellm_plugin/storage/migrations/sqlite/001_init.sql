-- luthien_litellm_plugin recording schema (SQLite). Same tables and columns as Postgres;
-- JSON as text, booleans as 0/1, times as seconds since the epoch.
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id        TEXT PRIMARY KEY,
    call_id               TEXT,
    model                 TEXT,
    policy                TEXT,
    status                TEXT NOT NULL DEFAULT 'started'
                          CHECK (status IN ('started', 'success', 'blocked', 'error', 'cancelled', 'timeout')),
    is_streaming          INTEGER,
    started_at            REAL,
    finished_at           REAL,
    original_request      TEXT,
    final_request         TEXT,
    original_response     TEXT,
    final_response        TEXT,
    usage                 TEXT,
    error                 TEXT,
    time_to_first_byte_ms REAL,
    duration_ms           REAL
);

CREATE TABLE IF NOT EXISTS events (
    event_id       TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    event_type     TEXT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     REAL NOT NULL
);

CREATE INDEX IF NOT EXISTS events_by_transaction ON events (transaction_id, sequence);
CREATE INDEX IF NOT EXISTS transactions_by_start ON transactions (started_at);
