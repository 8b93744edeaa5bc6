-- The same things as the SQLite store (src/server/schema.rs, versions 1 to 3): the inbox, the
-- engine's memory, parked and requeued calls, the amoCRM exchanges kept for `record`, and the
-- settings the service runs with.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX events_by_call ON events (call_id);
CREATE TABLE deliveries (
    fingerprint TEXT PRIMARY KEY,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX deliveries_by_time ON deliveries (at_ms);
CREATE TABLE calls_done (
    call_id TEXT PRIMARY KEY,
    done_ms BIGINT NOT NULL
);
CREATE INDEX calls_done_by_time ON calls_done (done_ms);
CREATE TABLE memory (
    space      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    touched_ms BIGINT NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE INDEX memory_by_time ON memory (touched_ms);
CREATE TABLE parked (
    call_id  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at_ms    BIGINT NOT NULL
);
CREATE TABLE requeued (call_id TEXT PRIMARY KEY);
CREATE TABLE exchanges (
    id       BIGSERIAL PRIMARY KEY,
    call_id  TEXT,
    at_ms    BIGINT NOT NULL,
    exchange TEXT NOT NULL
);
CREATE INDEX exchanges_by_call ON exchanges (call_id);
CREATE INDEX exchanges_by_time ON exchanges (at_ms);
CREATE TABLE service_settings (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    yaml     TEXT NOT NULL,
    saved_ms BIGINT NOT NULL
);
