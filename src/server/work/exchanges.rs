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
