-- luthien_litellm_plugin recording schema (Postgres). Public interface: see README "Recording schema".
CREATE SCHEMA IF NOT EXISTS luthien;

CREATE TABLE IF NOT EXISTS luthien.transactions (
    transaction_id        text PRIMARY KEY,
    call_id               text,
    model                 text,
    policy                text,
    status                text NOT NULL DEFAULT 'started'
                          CHECK (status IN ('started', 'success', 'blocked', 'error', 'cancelled', 'timeout')),
    is_streaming          boolean,
    started_at            timestamptz,
    finished_at           timestamptz,
    original_request      jsonb,
    final_request         jsonb,
    original_response     jsonb,
    final_response        jsonb,
    usage                 jsonb,
    error                 text,
    time_to_first_byte_ms double precision,
    duration_ms           double precision
);

CREATE TABLE IF NOT EXISTS luthien.events (
    event_id       text PRIMARY KEY,
    transaction_id text NOT NULL,
    sequence       integer NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS events_by_transaction ON luthien.events (transaction_id, sequence);
CREATE INDEX IF NOT EXISTS transactions_by_start ON luthien.transactions (started_at);
