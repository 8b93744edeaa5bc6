-- Version 3: the amoCRM exchanges of each call (kept for `sipamo record` within the
-- retention; `call_id` NULL for account-level requests such as the start-up check) and the
-- settings the service runs with.
CREATE TABLE exchanges (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id  TEXT,
    at_ms    INTEGER NOT NULL,
    exchange TEXT NOT NULL
);
CREATE INDEX exchanges_by_call ON exchanges(call_id);
CREATE INDEX exchanges_by_time ON exchanges(at_ms);
CREATE TABLE service_settings (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    yaml     TEXT NOT NULL,
    saved_ms INTEGER NOT NULL
);
