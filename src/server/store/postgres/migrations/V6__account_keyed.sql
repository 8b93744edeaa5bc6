-- Every account of a many-account deployment in one set of tables, each row keyed by its
-- account ('' : the deployment's own, a single-account service), instead of a schema per
-- account: thousands of schemas cost every connection a catalog cache of their tables (gigabytes
-- per backend at 10,000 accounts) and a migration each. The key has no default, so that a
-- statement which forgets it fails rather than writes into another account's rows.
ALTER TABLE events ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE events ALTER COLUMN account DROP DEFAULT;
ALTER TABLE events DROP CONSTRAINT events_fingerprint_key;
ALTER TABLE events ADD CONSTRAINT events_account_fingerprint_key UNIQUE (account, fingerprint);
DROP INDEX events_by_call;
CREATE INDEX events_by_call ON events (account, call_id);
DROP INDEX events_untaken;
CREATE INDEX events_untaken ON events (account, id) WHERE NOT taken;

ALTER TABLE deliveries ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ALTER COLUMN account DROP DEFAULT;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries ADD PRIMARY KEY (account, fingerprint);

ALTER TABLE calls_done ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE calls_done ALTER COLUMN account DROP DEFAULT;
ALTER TABLE calls_done DROP CONSTRAINT calls_done_pkey;
ALTER TABLE calls_done ADD PRIMARY KEY (account, call_id);

ALTER TABLE memory ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE memory ALTER COLUMN account DROP DEFAULT;
ALTER TABLE memory DROP CONSTRAINT memory_pkey;
ALTER TABLE memory ADD PRIMARY KEY (account, space, key);

ALTER TABLE parked ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE parked ALTER COLUMN account DROP DEFAULT;
ALTER TABLE parked DROP CONSTRAINT parked_pkey;
ALTER TABLE parked ADD PRIMARY KEY (account, call_id);

ALTER TABLE requeued ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE requeued ALTER COLUMN account DROP DEFAULT;
ALTER TABLE requeued DROP CONSTRAINT requeued_pkey;
ALTER TABLE requeued ADD PRIMARY KEY (account, call_id);

ALTER TABLE exchanges ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE exchanges ALTER COLUMN account DROP DEFAULT;
DROP INDEX exchanges_by_call;
CREATE INDEX exchanges_by_call ON exchanges (account, call_id);

ALTER TABLE kept ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE kept ALTER COLUMN account DROP DEFAULT;
CREATE INDEX kept_by_account ON kept (account, id);

-- One settings row per account.
ALTER TABLE service_settings ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE service_settings ALTER COLUMN account DROP DEFAULT;
ALTER TABLE service_settings DROP CONSTRAINT service_settings_pkey;
ALTER TABLE service_settings DROP CONSTRAINT service_settings_id_check;
ALTER TABLE service_settings ALTER COLUMN id SET DEFAULT 1;
ALTER TABLE service_settings ADD PRIMARY KEY (account);

-- One work lease per account (two accounts may share an amoCRM address, so its name alone is
-- no key); the renewal of a replica's leases finds them by holder.
ALTER TABLE leases ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ALTER COLUMN account DROP DEFAULT;
ALTER TABLE leases DROP CONSTRAINT leases_pkey;
ALTER TABLE leases ADD PRIMARY KEY (account, name);
CREATE INDEX leases_by_holder ON leases (holder);
