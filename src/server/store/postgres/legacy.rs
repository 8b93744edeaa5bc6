//! The schema-per-account layout of earlier versions (each account's tables in a schema
//! `account_NAME`) folded into the account-keyed tables: at a process's first connection, each
//! such schema's rows are copied under its account's key and the schema dropped, one account
//! per transaction (so that thousands of them never need more locks than PostgreSQL has). A
//! crash in between leaves each account either folded or not yet; the next start goes on.
//! Replicas of an earlier version must be stopped first: their accounts' schemas disappear.

use tokio_postgres::Client;

use super::MigrateError;

/// The tables of an account's schema and the columns copied (ids are given afresh, in the old
/// order; the lease keeps its fencing token, which must only ever grow).
const TABLES: [(&str, &str, &str); 10] = [
    (
        "events",
        "call_id, fingerprint, raw, received_ms, taken",
        "id",
    ),
    ("deliveries", "fingerprint, at_ms", "at_ms"),
    ("calls_done", "call_id, done_ms", "done_ms"),
    ("memory", "space, key, value, touched_ms", "touched_ms"),
    ("parked", "call_id, reason, attempts, at_ms", "at_ms"),
    ("requeued", "call_id", "call_id"),
    ("exchanges", "call_id, at_ms, exchange", "id"),
    (
        "kept",
        "received_ms, reason, detail, content_type, raw",
        "id",
    ),
    ("service_settings", "yaml, saved_ms", "saved_ms"),
    ("leases", "name, holder, token, expires_ms", "name"),
];

/// Folds every account schema left by an earlier version, under the migrations' lock; nothing
/// to do (one catalog read) in the usual case.
pub(super) async fn fold_all(c: &mut Client) -> Result<(), MigrateError> {
    if legacy_schemas(c).await?.is_empty() {
        return Ok(());
    }
    super::pool::lock(c).await?;
    let folded = fold_locked(c).await;
    let unlocked = super::pool::unlock(c).await;
    folded?;
    unlocked
}

/// Folds every account schema; the caller holds the migrations' lock.
async fn fold_locked(c: &mut Client) -> Result<(), MigrateError> {
    // Read again under the lock: another replica may have folded them meanwhile.
    let schemas = legacy_schemas(c).await?;
    tracing::info!(
        accounts = schemas.len(),
        "moving the accounts' schemas of an earlier version into the shared tables"
    );
    for schema in schemas {
        fold(c, &schema).await.map_err(|e| MigrateError::Fold {
            schema: schema.clone(),
            source: Box::new(e),
        })?;
    }
    Ok(())
}

/// Schemas `account_NAME` holding the tables of an earlier version.
async fn legacy_schemas(c: &Client) -> Result<Vec<String>, MigrateError> {
    let rows = c
        .query(
            "SELECT n.nspname FROM pg_namespace n
              WHERE n.nspname LIKE 'account\\_%'
                AND EXISTS (SELECT 1 FROM pg_class t
                             WHERE t.relnamespace = n.oid AND t.relname = 'events')
              ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Copies one account's schema into the shared tables and drops it, in one transaction.
async fn fold(c: &mut Client, schema: &str) -> Result<(), MigrateError> {
    let account = schema.strip_prefix("account_").unwrap_or(schema);
    super::account_name(account)?;
    let t = c.transaction().await?;
    for sql in statements(schema) {
        t.execute(&sql, &[&account]).await?;
    }
    t.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await?;
    t.commit().await?;
    Ok(())
}

/// The copying statements of `schema` (a checked name: `account_` and a-z 0-9 `_`).
fn statements(schema: &str) -> Vec<String> {
    TABLES
        .iter()
        .map(|(table, columns, order)| {
            format!(
                "INSERT INTO {table} (account, {columns})
                 SELECT $1, {columns} FROM \"{schema}\".{table} ORDER BY {order}
                 ON CONFLICT DO NOTHING"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::statements;
    use crate::server::store::DbUrl;
    use crate::server::store::postgres::{PgConn, PgUrl, migrations};
    use crate::server::store::{Backend, Db};

    /// A database laid out as the version before account keys left it: the deployment's
    /// tables (with one single-account event) and account `shop`'s schema with calls in every
    /// state. `None` (said loudly) without PostgreSQL; under `CI=true` that fails instead.
    fn legacy_database() -> Option<(crate::sim::testkit::pg_cluster::Cluster, String)> {
        let cluster = match crate::sim::testkit::pg_cluster::Cluster::start() {
            Ok(c) => c,
            Err(why) => {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
                eprintln!("*** the legacy-schema test did NOT run: {why}");
                return None;
            }
        };
        let url = cluster.database("legacy").unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let v5 = || migrations::runner().set_target(refinery::Target::Version(5));
        v5().run(&mut c).unwrap();
        c.batch_execute(
            "INSERT INTO events (call_id, fingerprint, raw, received_ms) VALUES ('own', 'f0', 'e0', 1);
             CREATE SCHEMA account_shop; SET search_path TO account_shop;",
        )
        .unwrap();
        v5().run(&mut c).unwrap();
        c.batch_execute(
            "INSERT INTO events (call_id, fingerprint, raw, received_ms, taken) VALUES
                ('c1', 'f1', 'e1', 10, true), ('c2', 'f2', 'e2', 20, false), ('c1', 'f3', 'e3', 30, true);
             INSERT INTO calls_done VALUES ('c0', 5);
             INSERT INTO memory VALUES ('progress', 'c1', '{}', 11);
             INSERT INTO parked VALUES ('c1', 'amoCRM answered 400', 3, 12);
             INSERT INTO leases VALUES ('amocrm:x', 'r1', 7, 0);
             INSERT INTO service_settings VALUES (1, 'settings: shop', 13);
             SET search_path TO DEFAULT;",
        )
        .unwrap();
        Some((cluster, url))
    }

    /// An upgrade in place: the first process of this version folds each account's schema into
    /// the keyed tables (nothing lost, the order and the lease's fencing token kept, the
    /// single-account rows the deployment's own) and drops it; the account reads as before.
    #[test]
    fn an_earlier_versions_account_schemas_are_folded_in_with_nothing_lost() {
        let Some((_cluster, url)) = legacy_database() else {
            return;
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let base = PgUrl::new(url.clone());
        rt.block_on(PgConn::connect(&base)).unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let schemas: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'account_shop'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(schemas, 0, "the account's schema is dropped");
        let rows = c
            .query("SELECT account, raw, taken FROM events ORDER BY id", &[])
            .unwrap();
        let rows: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let row = |a: &str, raw: &str, t| (a.to_string(), raw.to_string(), t);
        assert_eq!(
            rows,
            [
                row("", "e0", false),
                row("shop", "e1", true),
                row("shop", "e2", false),
                row("shop", "e3", true)
            ]
        );
        let token: i64 = c
            .query_one("SELECT token FROM leases WHERE account = 'shop'", &[])
            .unwrap()
            .get(0);
        assert_eq!(token, 7, "the fencing token only ever grows");
        let settings: Option<String> = c
            .query_opt(
                "SELECT yaml FROM service_settings WHERE account = 'shop'",
                &[],
            )
            .unwrap()
            .map(|r| r.get(0));
        assert_eq!(settings.as_deref(), Some("settings: shop"));
        rt.block_on(async {
            let shop = Db::open(&DbUrl::Postgres(base.account("shop")))
                .await
                .unwrap();
            let parked = shop.parked_calls().await.unwrap();
            assert_eq!(parked.len(), 1);
            assert_eq!(parked[0].reason, "amoCRM answered 400");
            assert!(shop.call_state("c0").await.unwrap().0, "c0 was handled");
            let own = Db::open(&DbUrl::Postgres(base.clone())).await.unwrap();
            assert!(
                own.parked_calls().await.unwrap().is_empty(),
                "the deployment's own rows are apart"
            );
            // A second process finds nothing left to fold and the tables as they are.
            PgConn::connect(&PgUrl::new(url)).await.unwrap();
            assert_eq!(shop.events_of("c1").await.unwrap().len(), 2);
        });
    }

    /// A start that stops between two accounts (here the second account's tables are locked
    /// past the lock timeout, which fails its transaction as a kill would) leaves the first
    /// folded and the second untouched in its schema; the next start folds the second.
    #[test]
    fn a_fold_stopped_between_accounts_is_finished_by_the_next_start() {
        let Some((_cluster, url)) = legacy_database() else {
            return;
        };
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("CREATE SCHEMA account_zoo; SET search_path TO account_zoo;")
            .unwrap();
        migrations::runner()
            .set_target(refinery::Target::Version(5))
            .run(&mut c)
            .unwrap();
        c.batch_execute(
            "INSERT INTO events (call_id, fingerprint, raw, received_ms) VALUES ('z1', 'fz', 'ez', 40);
             SET search_path TO DEFAULT;",
        )
        .unwrap();
        let mut locker = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut lock = locker.transaction().unwrap();
        lock.batch_execute("LOCK TABLE account_zoo.events IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let first = rt.block_on(PgConn::connect(&PgUrl::new(url.clone())));
        let Err(e) = first else {
            panic!("the start must fail while account zoo's tables are locked")
        };
        assert!(e.to_string().contains("account_zoo"), "{e}");
        let mut count = |sql: &str| c.query_one(sql, &[]).unwrap().get::<_, i64>(0);
        let schemas = "SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'account\\_%'";
        assert_eq!(count(schemas), 1, "shop folded, zoo left as it was");
        assert_eq!(
            count("SELECT COUNT(*) FROM events WHERE account = 'shop'"),
            3
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM events WHERE account = 'zoo'"),
            0
        );
        lock.rollback().unwrap();
        rt.block_on(PgConn::connect(&PgUrl::new(url))).unwrap();
        assert_eq!(count(schemas), 0, "zoo folded by the next start");
        assert_eq!(
            count("SELECT COUNT(*) FROM events WHERE account = 'zoo'"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM events WHERE account = 'shop'"),
            3
        );
    }

    #[test]
    fn every_table_is_copied_under_the_accounts_key_in_its_old_order() {
        let sql = statements("account_shop");
        assert_eq!(sql.len(), 10);
        assert!(sql[0].contains("INSERT INTO events (account, call_id"));
        assert!(sql[0].contains("FROM \"account_shop\".events ORDER BY id"));
        assert!(
            sql[9].contains("name, holder, token, expires_ms"),
            "{}",
            sql[9]
        );
    }
}
