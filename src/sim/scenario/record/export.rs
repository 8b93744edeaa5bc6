//! What `sipamo record` reads from a service's database, whichever backend holds it: every
//! stored event, the settings saved at the last start, and the kept amoCRM exchanges. The
//! service itself never reads these back, so the queries live here, with their one reader.

use crate::server::store::postgres::{Client, PgStore};
use crate::server::store::sqlite::SqliteStore;
use crate::server::store::{Db, StoreError, StoredEvent};

/// Every stored event, in id order.
pub(crate) async fn all_events(db: &Db) -> Result<Vec<StoredEvent>, StoreError> {
    let doing = "reading the inbox";
    match db {
        Db::Sqlite(s) => sqlite(doing, s, |c| {
            crate::server::store::sqlite::inbox::events_after(c, 0, usize::MAX >> 1)
        }),
        Db::Postgres(p) => {
            let c = pg(doing, p).await?;
            let rows = c
                .query(
                    "SELECT id, call_id, raw, received_ms FROM events WHERE account = $1 ORDER BY id",
                    &[&p.account()],
                )
                .await
                .map_err(p.failed(doing))?;
            Ok(rows
                .iter()
                .map(|r| StoredEvent {
                    id: r.get(0),
                    call_id: r.get(1),
                    raw: r.get(2),
                    received_ms: r.get(3),
                })
                .collect())
        }
    }
}

/// The settings text saved at the last start, if any.
pub(crate) async fn settings(db: &Db) -> Result<Option<String>, StoreError> {
    let doing = "reading the saved settings";
    match db {
        Db::Sqlite(s) => sqlite(doing, s, |c| {
            use rusqlite::OptionalExtension as _;
            c.query_row("SELECT yaml FROM service_settings WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
        }),
        Db::Postgres(p) => {
            let c = pg(doing, p).await?;
            let row = c
                .query_opt(
                    "SELECT yaml FROM service_settings WHERE account = $1",
                    &[&p.account()],
                )
                .await
                .map_err(p.failed(doing))?;
            Ok(row.map(|r| r.get(0)))
        }
    }
}

/// The kept exchanges (JSON) of these calls, and the latest account-level one per path, in
/// the order sent.
pub(crate) async fn exchanges_of(db: &Db, calls: &[String]) -> Result<Vec<String>, StoreError> {
    let doing = "reading the kept amoCRM exchanges";
    match db {
        Db::Sqlite(s) => sqlite(doing, s, |c| {
            let mut st = c.prepare(
                "SELECT exchange FROM exchanges WHERE call_id IN (SELECT value FROM json_each(?1))
                    OR id IN (SELECT MAX(id) FROM exchanges WHERE call_id IS NULL
                              GROUP BY json_extract(exchange, '$.path'))
                 ORDER BY id",
            )?;
            let ids = serde_json::to_string(calls).unwrap_or_else(|_| "[]".into());
            let rows = st.query_map([ids], |r| r.get::<_, String>(0))?;
            rows.collect()
        }),
        Db::Postgres(p) => {
            let c = pg(doing, p).await?;
            let rows = c
                .query(
                    "SELECT exchange FROM exchanges WHERE account = $2 AND (call_id = ANY($1)
                        OR id IN (SELECT MAX(id) FROM exchanges
                                   WHERE account = $2 AND call_id IS NULL
                                  GROUP BY exchange::json->>'path'))
                     ORDER BY id",
                    &[&calls, &p.account()],
                )
                .await
                .map_err(p.failed(doing))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        }
    }
}

fn sqlite<T>(
    doing: &'static str,
    s: &SqliteStore,
    read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    read(&s.conn()).map_err(|e| StoreError {
        doing,
        message: e.to_string(),
    })
}

async fn pg(doing: &'static str, p: &PgStore) -> Result<Client, StoreError> {
    p.client(doing).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amocrm::exchange::Exchange;
    use crate::server::store::DbUrl;
    use crate::server::work::exchanges::Recorder;

    fn exchange(call: Option<&str>, path: &str, at_ms: i64) -> Exchange {
        Exchange {
            call_id: call.map(str::to_string),
            at_ms,
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            request: None,
            status: Some(200),
            response: None,
        }
    }

    #[tokio::test]
    async fn a_calls_exchanges_come_back_with_the_latest_account_answers() {
        use crate::server::store::Backend as _;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let rec = Recorder::open(&DbUrl::Sqlite(db.clone())).await.unwrap();
        rec.keep(&exchange(None, "/api/v4/users", 1)).await;
        rec.keep(&exchange(None, "/api/v4/users", 2)).await;
        rec.keep(&exchange(Some("a"), "/api/v4/contacts", 3)).await;
        rec.keep(&exchange(Some("b"), "/api/v4/tasks", 4)).await;
        let conn = Db::open(&DbUrl::Sqlite(db)).await.unwrap();
        let got = exchanges_of(&conn, &["a".to_string()]).await.unwrap();
        let at: Vec<i64> = got
            .iter()
            .map(|x| serde_json::from_str::<Exchange>(x).unwrap().at_ms)
            .collect();
        assert_eq!(at, vec![2, 3]);
        assert_eq!(settings(&conn).await.unwrap(), None);
        conn.save_settings("default_responsible: 1\n".into(), 5)
            .await
            .unwrap();
        conn.save_settings("default_responsible: 2\n".into(), 6)
            .await
            .unwrap();
        assert_eq!(
            settings(&conn).await.unwrap().as_deref(),
            Some("default_responsible: 2\n")
        );
    }
}
