//! A planted bug for the harness's self-test, as a memory decorator: the engine's memory
//! forgets every callback task, so R-MISS-DEDUP breaks and storms must catch it. It lives in
//! the simulation; production code has no trace of it.

use crate::engine::memory::{
    InMemory, MemResult, Memory, ParkedCall, Progress, TaskMemo, Transaction, UnsortedMemo, Write,
};
use crate::sipuni::event::CallId;

/// The runner's memory: [`InMemory`], forgetting callback tasks when `forget_tasks` is set.
#[derive(Debug, Default)]
pub(crate) struct RunMemory {
    inner: InMemory,
    forget_tasks: bool,
}

impl RunMemory {
    pub(crate) fn new(forget_tasks: bool) -> Self {
        RunMemory {
            inner: InMemory::default(),
            forget_tasks,
        }
    }
}

impl Memory for RunMemory {
    async fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        self.inner.first_delivery(fingerprint).await
    }
    async fn is_done(&self, call_id: &CallId) -> MemResult<bool> {
        self.inner.is_done(call_id).await
    }
    async fn progress(&self, call_id: &CallId) -> MemResult<Option<Progress>> {
        self.inner.progress(call_id).await
    }
    async fn unsorted_of_call(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        self.inner.unsorted_of_call(call_id).await
    }
    async fn answered_item(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        self.inner.answered_item(call_id).await
    }
    async fn early_intent(&self, call_id: &CallId) -> MemResult<Option<Write>> {
        self.inner.early_intent(call_id).await
    }
    async fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        if self.forget_tasks {
            return Ok(None);
        }
        self.inner.callback_task(phone_key).await
    }
    async fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        self.inner.pending_unsorted(phone_key).await
    }
    async fn count_attempt(&mut self, call_id: &CallId) -> MemResult<u32> {
        self.inner.count_attempt(call_id).await
    }
    async fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.inner.park(call).await
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.inner.parked().await
    }
    async fn is_parked(&self, call_id: &CallId) -> MemResult<bool> {
        self.inner.is_parked(call_id).await
    }
    async fn commit(&mut self, tx: Transaction) -> MemResult<()> {
        self.inner.commit(tx).await
    }
}
