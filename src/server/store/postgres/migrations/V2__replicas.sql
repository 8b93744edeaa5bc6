-- Several replicas on one database. `leases`: who does the work (one replica at a time) with a
-- fencing token that grows at every takeover; expiry in the database's clock. `taken`: events
-- fed to the worker (ids from several writers commit out of order, so no id cursor).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
ALTER TABLE events ADD COLUMN taken BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX events_untaken ON events (id) WHERE NOT taken;
