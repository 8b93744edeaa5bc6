-- Version 4: requests on the secret path that are no event the engine can use, kept with
-- their reason (R-WIRE), as received (bytes, content type).
CREATE TABLE kept (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms  INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    content_type TEXT,
    raw          BLOB NOT NULL
);
CREATE INDEX kept_by_time ON kept(received_ms);
