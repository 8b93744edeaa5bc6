//! The amoCRM exchanges the service keeps per call (and the settings it runs with), so that
//! `sipamo record` can turn calls into a scenario. Kept within the retention; the latest
//! account-level answer per path (users, pipelines) stays for as long as the database does.
//! A failure to keep one is logged and never stops a call: this is a diagnostic record.

use crate::server::store::Backend;
use std::sync::Arc;

use crate::server::store::DbUrl;
use crate::server::store::{Db, StoreError};

use crate::amocrm::exchange::Exchange;

/// Appends exchanges through a connection of its own.
pub(crate) struct Recorder {
    db: Db,
}

impl Recorder {
    pub(crate) async fn open(url: &DbUrl) -> Result<Arc<Self>, StoreError> {
        Ok(Arc::new(Recorder {
            db: Db::open(url).await?,
        }))
    }

    pub(crate) async fn keep(&self, x: &Exchange) {
        let result = match serde_json::to_string(x) {
            Ok(json) => self
                .db
                .keep_exchange(x.call_id.clone(), x.at_ms, json)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(call_id = ?x.call_id, %error, "an amoCRM exchange was not kept for `sipamo record`");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let rec = Recorder::open(&DbUrl::Sqlite(db.clone())).await.unwrap();
        rec.keep(&exchange(None, "/api/v4/users", 1)).await;
        rec.keep(&exchange(None, "/api/v4/users", 2)).await;
        rec.keep(&exchange(Some("a"), "/api/v4/contacts", 3)).await;
        rec.keep(&exchange(Some("b"), "/api/v4/tasks", 4)).await;
        let conn = Db::open(&DbUrl::Sqlite(db)).await.unwrap();
        let got = conn.exchanges_of(&["a".to_string()]).await.unwrap();
        let at: Vec<i64> = got
            .iter()
            .map(|x| serde_json::from_str::<Exchange>(x).unwrap().at_ms)
            .collect();
        assert_eq!(at, vec![2, 3]);
        assert_eq!(conn.settings().await.unwrap(), None);
        conn.save_settings("default_responsible: 1\n".into(), 5)
            .await
            .unwrap();
        conn.save_settings("default_responsible: 2\n".into(), 6)
            .await
            .unwrap();
        assert_eq!(
            conn.settings().await.unwrap().as_deref(),
            Some("default_responsible: 2\n")
        );
    }
}
