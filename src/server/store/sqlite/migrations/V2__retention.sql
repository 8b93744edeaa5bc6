-- Version 2: when each finished call, memory entry and delivery was last written, so that
-- retention can remove what is older (rows from before count from the upgrade); and event ids
-- that are never reused once retention has emptied the inbox (the worker's cursor is an id).
CREATE TABLE events_v2 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
INSERT INTO events_v2 (id, call_id, fingerprint, raw, received_ms)
    SELECT id, call_id, fingerprint, raw, received_ms FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_call ON events(call_id);
ALTER TABLE calls_done ADD COLUMN done_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memory ADD COLUMN touched_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE calls_done SET done_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
UPDATE memory SET touched_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
UPDATE deliveries SET at_ms = CAST(unixepoch('subsec') * 1000 AS INTEGER);
CREATE INDEX calls_done_by_time ON calls_done(done_ms);
CREATE INDEX memory_by_time ON memory(touched_ms);
CREATE INDEX deliveries_by_time ON deliveries(at_ms);
