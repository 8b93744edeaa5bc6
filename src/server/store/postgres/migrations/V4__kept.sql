-- Requests on the secret path that are no event the engine can use, kept with their reason
-- (R-WIRE), as received (bytes, content type).
CREATE TABLE kept (
    id           BIGSERIAL PRIMARY KEY,
    received_ms  BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    content_type TEXT,
    raw          BYTEA NOT NULL
);
CREATE INDEX kept_by_time ON kept(received_ms);
