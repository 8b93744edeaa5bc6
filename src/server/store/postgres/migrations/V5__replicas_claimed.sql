-- Which process runs as each replica id, and its heartbeat (the database's clock, ms): a
-- second process with an id a live one holds refuses to start.
CREATE TABLE IF NOT EXISTS replicas (
    replica_id TEXT PRIMARY KEY,
    instance   TEXT NOT NULL,
    seen_ms    BIGINT NOT NULL
);
