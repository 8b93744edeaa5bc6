//! The service's operations on PostgreSQL ([`Backend`]), each on a pooled connection and over
//! one account's rows. Several replicas write one inbox, whose ids commit out of order: the
//! worker reads the events not yet taken and marks them taken under its lease's fence.

use super::{Client, Fence, PgConn, exchanges, inbox, retention};
use crate::engine::memory::ParkedCall;
use crate::server::http::inbox::Stored;
use crate::server::store::{Arrival, Backend, InsertFailure, KeptRequest, StoreError, StoredEvent};
use crate::server::work::retention::Pruned;

/// A handle on the database's pool, for one account's rows (or the deployment's own).
pub(crate) struct PgStore(pub(crate) PgConn);

impl PgStore {
    pub(crate) async fn client(&self, doing: &'static str) -> Result<Client, StoreError> {
        self.0.client_for(doing).await
    }

    pub(crate) fn failed(
        &self,
        doing: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |e| self.0.failed_doing(doing, &e)
    }

    pub(crate) fn account(&self) -> &str {
        self.0.account()
    }
}

impl Backend for PgStore {
    /// A connection is waited for at most [`super::CHECK_WAIT`]: the requests waiting on the
    /// answer must get one (503) well within their own timeout.
    async fn insert_events(
        &self,
        arrivals: Vec<Arrival>,
        notify: bool,
    ) -> Result<Vec<Stored>, InsertFailure> {
        let doing = "storing events";
        let mut c = self.0.client_within(super::CHECK_WAIT).await.map_err(|e| {
            InsertFailure::Unreachable(StoreError {
                doing,
                message: e.to_string(),
            })
        })?;
        inbox::insert_events(&mut c, self.account(), &arrivals, notify)
            .await
            .map_err(|e| InsertFailure::Rejected(self.failed(doing)(e)))
    }

    /// The events not yet taken (several writers), whatever the cursor.
    async fn next_batch(&self, _after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading the inbox";
        let c = self.client(doing).await?;
        let untaken = inbox::untaken(&c, self.account(), limit).await;
        untaken.map_err(self.failed(doing))
    }

    async fn ack(&self, ids: Vec<i64>, fence: Option<Fence>) -> Result<bool, StoreError> {
        let doing = "recording the events taken";
        let mut c = self.client(doing).await?;
        let taken = inbox::mark_taken(&mut c, self.account(), &ids, fence.as_ref()).await;
        taken.map_err(self.failed(doing))
    }

    async fn unfinished_events(&self) -> Result<(i64, Vec<StoredEvent>), StoreError> {
        let doing = "reading the calls in progress";
        let c = self.client(doing).await?;
        let events = inbox::unfinished_events(&c, self.account()).await;
        events.map_err(self.failed(doing))
    }

    async fn events_of(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let doing = "reading a call's events";
        let c = self.client(doing).await?;
        let events = inbox::events_of(&c, self.account(), call_id).await;
        events.map_err(self.failed(doing))
    }

    async fn take_requeued(&self) -> Result<Vec<String>, StoreError> {
        let doing = "taking the calls put back";
        let mut c = self.client(doing).await?;
        let ids = inbox::take_requeued(&mut c, self.account()).await;
        ids.map_err(self.failed(doing))
    }

    async fn pending_count(&self, _cursor: i64) -> Result<i64, StoreError> {
        let doing = "counting the queue";
        let c = self.client(doing).await?;
        let n = inbox::pending_count(&c, self.account()).await;
        n.map_err(self.failed(doing))
    }

    async fn keep_exchange(
        &self,
        call_id: Option<String>,
        at_ms: i64,
        json: String,
    ) -> Result<(), StoreError> {
        let doing = "keeping an amoCRM exchange";
        let mut c = self.client(doing).await?;
        let kept = exchanges::keep(&mut c, self.account(), call_id.as_deref(), at_ms, &json);
        kept.await.map_err(self.failed(doing))
    }

    async fn save_settings(&self, yaml: String, now_ms: i64) -> Result<(), StoreError> {
        let doing = "saving the settings";
        let c = self.client(doing).await?;
        let saved = exchanges::save_settings(&c, self.account(), &yaml, now_ms).await;
        saved.map_err(self.failed(doing))
    }

    /// A connection is waited for at most [`super::CHECK_WAIT`] (`/health` has a deadline).
    async fn ping(&self) -> Result<(), StoreError> {
        let doing = "checking the database";
        let c = self
            .0
            .client_within(super::CHECK_WAIT)
            .await
            .map_err(|e| StoreError {
                doing,
                message: e.to_string(),
            })?;
        c.simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| StoreError {
                doing,
                message: super::explain(&e),
            })
    }

    async fn prune(&self, cutoff_ms: i64) -> Result<Pruned, StoreError> {
        let doing = "removing what is past the retention";
        let c = self.client(doing).await?;
        let pruned = retention::prune(&c, self.account(), cutoff_ms).await;
        pruned.map_err(self.failed(doing))
    }

    async fn kept_requests(&self, only: Option<i64>) -> Result<Vec<KeptRequest>, StoreError> {
        let doing = "reading the requests kept aside";
        let c = self.client(doing).await?;
        let kept = inbox::kept_requests(&c, self.account(), only).await;
        kept.map_err(self.failed(doing))
    }

    async fn parked_calls(&self) -> Result<Vec<ParkedCall>, StoreError> {
        let doing = "reading the parked calls";
        let c = self.client(doing).await?;
        let parked = inbox::parked(&c, self.account()).await;
        parked.map_err(self.failed(doing))
    }

    async fn call_state(&self, call_id: &str) -> Result<(bool, Option<String>), StoreError> {
        let doing = "reading a call's state";
        let c = self.client(doing).await?;
        let state = inbox::call_state(&c, self.account(), call_id).await;
        state.map_err(self.failed(doing))
    }

    async fn requeue(&self, call_id: &str) -> Result<bool, StoreError> {
        let doing = "putting a call back";
        let mut c = self.client(doing).await?;
        let put_back = inbox::requeue(&mut c, self.account(), call_id).await;
        put_back.map_err(self.failed(doing))
    }
}
