-- The accounts of a many-account deployment: a Sipuni secret path (kept as its SHA-256) leads
-- to an amoCRM account, its settings, and its token encrypted at rest (ChaCha20-Poly1305).
-- Kept in the deployment's schema only: an account's own schema (account_NAME) has none.
DO $$
BEGIN
    IF current_schema() NOT LIKE 'account\_%' THEN
        CREATE TABLE accounts (
            name        TEXT PRIMARY KEY,
            secret_hash TEXT NOT NULL UNIQUE,
            amocrm      TEXT NOT NULL,
            settings    TEXT NOT NULL,
            token       BYTEA NOT NULL,
            enabled     BOOLEAN NOT NULL DEFAULT true,
            created_ms  BIGINT NOT NULL,
            updated_ms  BIGINT NOT NULL
        );
    END IF;
END
$$;
