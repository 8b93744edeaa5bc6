//! The accounts of a many-account deployment: a table only the PostgreSQL store has, read by
//! every replica every few seconds and changed by `sipamo accounts`; and the lookups a replica
//! makes over all accounts at once (the accounts with work, the leases without a live holder,
//! the live replicas).

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PgConn;
use crate::server::store::StoreError;

/// The accounts table of a many-account deployment (the deployment's own rows).
pub(crate) struct Accounts(PgConn);

impl Accounts {
    /// The accounts table of the database of `url` (connected and migrated).
    pub(crate) async fn open(url: &super::PgUrl) -> Result<Self, StoreError> {
        PgConn::connect(url)
            .await
            .map(Accounts)
            .map_err(|e| StoreError {
                doing: "opening the database",
                message: e.to_string(),
            })
    }

    /// Runs `sql` with `args` on the deployment's tables; the rows it changed.
    async fn execute(
        &self,
        doing: &'static str,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let c = self.client(doing).await?;
        c.execute(sql, args)
            .await
            .map_err(|e| self.failed(doing, &e))
    }

    /// Runs the query `sql` with `args` on the deployment's tables; its rows.
    async fn query(
        &self,
        doing: &'static str,
        sql: &str,
        args: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let c = self.client(doing).await?;
        c.query(sql, args).await.map_err(|e| self.failed(doing, &e))
    }

    pub(crate) async fn add(
        &self,
        name: String,
        secret_hash: String,
        amocrm: String,
        settings: String,
        token: Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let doing = "adding the account";
        let added = self
            .execute(
                doing,
                "INSERT INTO accounts (name, secret_hash, amocrm, settings, token, created_ms, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
                &[&name, &secret_hash, &amocrm, &settings, &token, &now_ms],
            )
            .await?;
        if added == 1 {
            Ok(())
        } else {
            Err(StoreError {
                doing,
                message: "an account with this name or this secret path exists already".into(),
            })
        }
    }

    pub(crate) async fn list(
        &self,
    ) -> Result<Vec<crate::server::fleet::accounts::AccountRow>, StoreError> {
        let rows = self
            .query(
                "reading the accounts",
                "SELECT name, amocrm, enabled, updated_ms FROM accounts ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::server::fleet::accounts::AccountRow {
                name: r.get(0),
                amocrm: r.get(1),
                enabled: r.get(2),
                updated_ms: r.get(3),
            })
            .collect())
    }

    /// An account's amoCRM URL and sealed token.
    pub(crate) async fn token(
        &self,
        name: String,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let rows = self
            .query(
                "reading an account",
                "SELECT amocrm, token FROM accounts WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    pub(crate) async fn set_settings(
        &self,
        name: String,
        yaml: String,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "changing an account's settings",
            "UPDATE accounts SET settings = $2, updated_ms = $3 WHERE name = $1",
            &[&name, &yaml, &now_ms],
        )
        .await
        .map(drop)
    }

    /// The enabled accounts' names, secret paths (hashed) and settings' times: what a replica
    /// reads every few seconds (the rest only of the accounts that changed).
    pub(crate) async fn enabled_versions(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self
            .query(
                "reading the accounts",
                "SELECT name, secret_hash, updated_ms FROM accounts WHERE enabled ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// The accounts with work waiting: events not yet taken or calls put back. One statement
    /// (over the partial index of untaken events) finds the work of thousands of accounts, so
    /// that an idle account's worker need not look at its inbox itself.
    pub(crate) async fn accounts_with_work(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query(
                "finding the accounts with work",
                "SELECT DISTINCT account FROM events WHERE NOT taken
                 UNION SELECT account FROM requeued",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The enabled accounts whose work lease has no live holder (expired, let go, or never
    /// taken): those a replica with room for more leases tries to take.
    pub(crate) async fn accounts_without_a_lease(&self) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT a.name FROM accounts a WHERE a.enabled AND NOT EXISTS (
               SELECT 1 FROM leases l WHERE l.account = a.name
                  AND l.expires_ms >= {})",
            crate::server::work::lease::DB_NOW_MS
        );
        let rows = self.query("finding the free leases", &sql, &[]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The enabled accounts of `names`, whole.
    pub(crate) async fn enabled_named(
        &self,
        names: Vec<String>,
    ) -> Result<Vec<crate::server::fleet::accounts::ServedAccount>, StoreError> {
        let rows = self
            .query(
                "reading the accounts",
                "SELECT name, secret_hash, amocrm, settings, token, updated_ms FROM accounts
                 WHERE enabled AND name = ANY($1) ORDER BY name",
                &[&names],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::server::fleet::accounts::ServedAccount {
                name: r.get(0),
                secret_hash: r.get(1),
                amocrm: r.get(2),
                settings: r.get(3),
                token: r.get(4),
                updated_ms: r.get(5),
            })
            .collect())
    }

    /// Replicas whose heartbeat in `replicas` is younger than `within_ms`.
    pub(crate) async fn live_replicas(&self, within_ms: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT count(*) FROM replicas WHERE seen_ms > {} - $1",
            crate::server::work::lease::DB_NOW_MS
        );
        let rows = self
            .query("counting the live replicas", &sql, &[&within_ms])
            .await?;
        Ok(rows
            .first()
            .map_or(0, |r| usize::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// Keeps an account's refreshed token (sealed); its settings' time is left as it was, so
    /// the account is not restarted for it.
    pub(crate) async fn save_token(&self, name: String, token: Vec<u8>) -> Result<(), StoreError> {
        let doing = "saving an account's token";
        let n = self
            .execute(
                doing,
                "UPDATE accounts SET token = $2 WHERE name = $1",
                &[&name, &token],
            )
            .await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError {
                doing,
                message: "the account is gone".into(),
            })
        }
    }

    /// Enables an account again; false when there is no such account.
    pub(crate) async fn enable(&self, name: String, now_ms: i64) -> Result<bool, StoreError> {
        self.execute(
            "enabling an account",
            "UPDATE accounts SET enabled = true, updated_ms = $2 WHERE name = $1",
            &[&name, &now_ms],
        )
        .await
        .map(|n| n == 1)
    }

    pub(crate) async fn disable(&self, name: String) -> Result<bool, StoreError> {
        self.execute(
            "disabling an account",
            "UPDATE accounts SET enabled = false WHERE name = $1",
            &[&name],
        )
        .await
        .map(|n| n == 1)
    }

    async fn client(&self, doing: &'static str) -> Result<super::Client, StoreError> {
        self.0.client_for(doing).await
    }

    fn failed(&self, doing: &'static str, e: &tokio_postgres::Error) -> StoreError {
        self.0.failed_doing(doing, e)
    }
}
