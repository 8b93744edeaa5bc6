//! A planted bug for the harness's self-test, as a memory decorator: the engine's memory
//! forgets every callback task, so R-MISS-DEDUP breaks and storms must catch it. It lives in
//! the simulation; production code has no trace of it.

use crate::engine::memory::{
    InMemory, MemResult, Memory, ParkedCall, Progress, TaskMemo, UnsortedMemo, Write,
};

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
    fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        self.inner.first_delivery(fingerprint)
    }
    fn is_done(&self, call_id: &str) -> MemResult<bool> {
        self.inner.is_done(call_id)
    }
    fn mark_done(&mut self, call_id: &str) -> MemResult<()> {
        self.inner.mark_done(call_id)
    }
    fn progress(&self, call_id: &str) -> MemResult<Option<Progress>> {
        self.inner.progress(call_id)
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) -> MemResult<()> {
        self.inner.save_progress(call_id, p)
    }
    fn unsorted_of_call(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        self.inner.unsorted_of_call(call_id)
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.inner.set_unsorted_of_call(call_id, memo)
    }
    fn answered_item(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        self.inner.answered_item(call_id)
    }
    fn set_answered_item(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.inner.set_answered_item(call_id, memo)
    }
    fn early_intent(&self, call_id: &str) -> MemResult<Option<Write>> {
        self.inner.early_intent(call_id)
    }
    fn set_early_intent(&mut self, call_id: &str, w: Option<Write>) -> MemResult<()> {
        self.inner.set_early_intent(call_id, w)
    }
    fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        if self.forget_tasks {
            return Ok(None);
        }
        self.inner.callback_task(phone_key)
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: &TaskMemo) -> MemResult<()> {
        self.inner.set_callback_task(phone_key, memo)
    }
    fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        self.inner.pending_unsorted(phone_key)
    }
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> MemResult<()> {
        self.inner.set_pending_unsorted(phone_key, memo)
    }
    fn count_attempt(&mut self, call_id: &str) -> MemResult<u32> {
        self.inner.count_attempt(call_id)
    }
    fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.inner.park(call)
    }
    fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.inner.parked()
    }
    fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        self.inner.is_parked(call_id)
    }
    /// The inner memory's writes cannot fail, so a scope just runs (as [`InMemory`]'s does).
    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> MemResult<T>) -> MemResult<T> {
        f(self)
    }
}
