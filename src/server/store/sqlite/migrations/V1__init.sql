-- Version 1: the inbox, the engine's memory, parked and requeued calls. Written with
-- `IF NOT EXISTS` so that databases made before versioning are taken over as they are.
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_call ON events(call_id);
CREATE TABLE IF NOT EXISTS deliveries (fingerprint TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS calls_done (call_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS memory (
    space TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE TABLE IF NOT EXISTS parked (
    call_id  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    at_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requeued (call_id TEXT PRIMARY KEY);
