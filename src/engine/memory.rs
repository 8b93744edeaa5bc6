//! What the engine remembers between calls: handled deliveries, finished calls, each call's
//! plan and progress, engine-made callback tasks and pending Unsorted items per phone.
//!
//! Behind a trait: in memory for simulations, durable for `sipamo serve`. Where amoCRM itself
//! is the truth (an item accepted or declined, a task completed) the engine checks amoCRM
//! rather than trusting what is remembered here.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::rules::call::Call;
use super::rules::plan::Plan;
use crate::sipuni::event::CallId;

/// An engine-made callback task (R-MISS-DEDUP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMemo {
    pub(crate) task_id: u64,
    /// `complete_till`, Unix seconds.
    pub(crate) deadline: i64,
}

/// An Unsorted item the engine created, with the ids of its contact and lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsortedMemo {
    pub(crate) uid: String,
    /// The `source_uid` it was created with (the call id, or `<call id>/2`… for a replacement).
    #[serde(default)]
    pub(crate) source_uid: String,
    pub(crate) contact_id: Option<u64>,
    pub(crate) lead_id: Option<u64>,
}

/// A create or accept of a plan, named for its write intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Write {
    UnsortedItem,
    Accept,
    Complex,
    Contact,
    Lead,
    Task,
    Note,
}

/// A call set aside because amoCRM keeps refusing it (R-ISOLATE), with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedCall {
    pub(crate) call_id: CallId,
    pub(crate) reason: String,
    /// Attempts made before it was parked.
    pub(crate) attempts: u32,
    /// When it was parked, Unix ms.
    pub(crate) at_ms: i64,
}

/// The engine's storage failed. Never read as "nothing there": the call in hand stops and is
/// retried (R-ISOLATE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the engine's storage failed while {doing}: {message}")]
pub struct MemoryError {
    pub doing: &'static str,
    pub message: String,
}

/// What memory operations answer.
pub type MemResult<T> = Result<T, MemoryError>;

impl UnsortedMemo {
    /// An item known by its uid alone (its entities are read from amoCRM when needed).
    pub(crate) fn uid_only(uid: String) -> Self {
        UnsortedMemo {
            uid,
            source_uid: String::new(),
            contact_id: None,
            lead_id: None,
        }
    }
}

/// The remembered item `uid`: this call's own, or the phone's pending one.
pub(crate) async fn remembered_item<M: Memory>(
    memory: &M,
    call_id: &CallId,
    phone_key: &str,
    uid: &str,
) -> MemResult<Option<UnsortedMemo>> {
    Ok(match memory.unsorted_of_call(call_id).await? {
        Some(m) if m.uid == uid => Some(m),
        _ => memory
            .pending_unsorted(phone_key)
            .await?
            .filter(|m| m.uid == uid),
    })
}

/// A call's decision and how far its execution got; saved after every step so that a retry
/// (or a restart) continues instead of deciding again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub(crate) call: Call,
    pub(crate) plan: Plan,
    /// Lead ids the contact had before this call (to recognise a lead this call created).
    pub(crate) known_leads: Vec<u64>,
    pub(crate) unsorted: Option<UnsortedMemo>,
    pub(crate) accepted: bool,
    pub(crate) contact_id: Option<u64>,
    pub(crate) lead_id: Option<u64>,
    pub(crate) task_id: Option<u64>,
    pub(crate) note_id: Option<u64>,
    /// The write that was about to be sent when this was saved (its intent): a resumed call
    /// looks amoCRM up before sending it again, as the first try may have been applied.
    #[serde(default)]
    pub(crate) in_flight: Option<Write>,
    /// Decided after a restart: an early write (an Unsorted item carrying this call, which
    /// amoCRM puts on its lead) may have been applied without memory recording it, so the call
    /// note is looked for before it is written.
    #[serde(default)]
    pub(crate) recovered: bool,
}

/// One write of a [`Transaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Progress(CallId, Box<Progress>),
    UnsortedOfCall(CallId, UnsortedMemo),
    AnsweredItem(CallId, UnsortedMemo),
    EarlyIntent(CallId, Option<Write>),
    CallbackTask(String, TaskMemo),
    PendingUnsorted(String, Option<UnsortedMemo>),
    /// The call is handled: its progress, attempts, intent and parking are forgotten.
    Done(CallId),
}

/// A step's writes, held by the step and committed together by [`Memory::commit`]: all of
/// them land, or none do. Nothing reaches the memory until the commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "a transaction writes nothing until it is committed"]
pub struct Transaction {
    changes: Vec<Change>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn save_progress(mut self, call_id: &CallId, p: &Progress) -> Self {
        let change = Change::Progress(call_id.clone(), Box::new(p.clone()));
        self.changes.push(change);
        self
    }
    pub fn set_unsorted_of_call(mut self, call_id: &CallId, memo: &UnsortedMemo) -> Self {
        let change = Change::UnsortedOfCall(call_id.clone(), memo.clone());
        self.changes.push(change);
        self
    }
    pub fn set_answered_item(mut self, call_id: &CallId, memo: &UnsortedMemo) -> Self {
        let change = Change::AnsweredItem(call_id.clone(), memo.clone());
        self.changes.push(change);
        self
    }
    pub fn set_early_intent(mut self, call_id: &CallId, w: Option<Write>) -> Self {
        self.changes.push(Change::EarlyIntent(call_id.clone(), w));
        self
    }
    pub fn set_callback_task(mut self, phone_key: &str, memo: &TaskMemo) -> Self {
        let change = Change::CallbackTask(phone_key.into(), memo.clone());
        self.changes.push(change);
        self
    }
    pub fn set_pending_unsorted(mut self, phone_key: &str, memo: Option<&UnsortedMemo>) -> Self {
        let change = Change::PendingUnsorted(phone_key.into(), memo.cloned());
        self.changes.push(change);
        self
    }
    pub fn mark_done(mut self, call_id: &CallId) -> Self {
        self.changes.push(Change::Done(call_id.clone()));
        self
    }
    /// The writes, in order.
    pub(crate) fn changes(&self) -> &[Change] {
        &self.changes
    }
}

/// The engine's memory. Every operation can fail; a failure is an error, never "not there".
/// Reads and the single-row writes below are one round trip each; a step whose writes belong
/// together commits them as one [`Transaction`].
pub trait Memory: Send + Sync {
    /// Records a delivery; false when this exact event was seen before (R-IDEM).
    fn first_delivery(&mut self, fingerprint: &str)
    -> impl Future<Output = MemResult<bool>> + Send;
    fn is_done(&self, call_id: &CallId) -> impl Future<Output = MemResult<bool>> + Send;
    fn progress(
        &self,
        call_id: &CallId,
    ) -> impl Future<Output = MemResult<Option<Progress>>> + Send;
    /// The Unsorted item created at this call's first ring (R-IN-U3).
    fn unsorted_of_call(
        &self,
        call_id: &CallId,
    ) -> impl Future<Output = MemResult<Option<UnsortedMemo>>> + Send;
    /// The item this call accepted when it was answered (R-IN-U3).
    fn answered_item(
        &self,
        call_id: &CallId,
    ) -> impl Future<Output = MemResult<Option<UnsortedMemo>>> + Send;
    /// The write this call sent before its hangup and has no answer recorded for (intent).
    fn early_intent(
        &self,
        call_id: &CallId,
    ) -> impl Future<Output = MemResult<Option<Write>>> + Send;
    fn callback_task(
        &self,
        phone_key: &str,
    ) -> impl Future<Output = MemResult<Option<TaskMemo>>> + Send;
    fn pending_unsorted(
        &self,
        phone_key: &str,
    ) -> impl Future<Output = MemResult<Option<UnsortedMemo>>> + Send;
    /// Counts a failed attempt at the call; answers the attempts so far.
    fn count_attempt(&mut self, call_id: &CallId) -> impl Future<Output = MemResult<u32>> + Send;
    /// Sets the call aside with its reason (R-ISOLATE); it is not restored until retried.
    fn park(&mut self, call: &ParkedCall) -> impl Future<Output = MemResult<()>> + Send;
    fn parked(&self) -> impl Future<Output = MemResult<Vec<ParkedCall>>> + Send;
    fn is_parked(&self, call_id: &CallId) -> impl Future<Output = MemResult<bool>> + Send;
    /// Applies `tx`'s writes as one transaction: all of them land, or none do.
    fn commit(&mut self, tx: Transaction) -> impl Future<Output = MemResult<()>> + Send;

    /// Marks the call handled and forgets its progress, attempts and early items.
    fn mark_done(&mut self, call_id: &CallId) -> impl Future<Output = MemResult<()>> + Send {
        self.commit(Transaction::new().mark_done(call_id))
    }
    fn save_progress(
        &mut self,
        call_id: &CallId,
        p: &Progress,
    ) -> impl Future<Output = MemResult<()>> + Send {
        self.commit(Transaction::new().save_progress(call_id, p))
    }
    fn set_early_intent(
        &mut self,
        call_id: &CallId,
        w: Option<Write>,
    ) -> impl Future<Output = MemResult<()>> + Send {
        self.commit(Transaction::new().set_early_intent(call_id, w))
    }
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> impl Future<Output = MemResult<()>> + Send {
        self.commit(Transaction::new().set_pending_unsorted(phone_key, memo))
    }
}

/// Memory for simulations and tests (its writes cannot fail).
#[derive(Debug, Default, Clone)]
pub struct InMemory {
    deliveries: HashSet<String>,
    done: HashSet<CallId>,
    progress: HashMap<CallId, Progress>,
    ring_items: HashMap<CallId, UnsortedMemo>,
    answered: HashMap<CallId, UnsortedMemo>,
    intents: HashMap<CallId, Write>,
    tasks: HashMap<String, TaskMemo>,
    pending: HashMap<String, UnsortedMemo>,
    attempts: HashMap<CallId, u32>,
    parked: BTreeMap<CallId, ParkedCall>,
}

impl InMemory {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::Progress(id, p) => {
                self.progress.insert(id.clone(), (**p).clone());
            }
            Change::UnsortedOfCall(id, m) => {
                self.ring_items.insert(id.clone(), m.clone());
            }
            Change::AnsweredItem(id, m) => {
                self.answered.insert(id.clone(), m.clone());
            }
            Change::EarlyIntent(id, Some(w)) => {
                self.intents.insert(id.clone(), *w);
            }
            Change::EarlyIntent(id, None) => {
                self.intents.remove(id);
            }
            Change::CallbackTask(key, t) => {
                self.tasks.insert(key.clone(), t.clone());
            }
            Change::PendingUnsorted(key, Some(m)) => {
                self.pending.insert(key.clone(), m.clone());
            }
            Change::PendingUnsorted(key, None) => {
                self.pending.remove(key);
            }
            Change::Done(id) => {
                self.done.insert(id.clone());
                self.progress.remove(id);
                self.attempts.remove(id);
                self.intents.remove(id);
                self.parked.remove(id);
            }
        }
    }
}

impl Memory for InMemory {
    async fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        Ok(self.deliveries.insert(fingerprint.to_string()))
    }
    async fn is_done(&self, call_id: &CallId) -> MemResult<bool> {
        Ok(self.done.contains(call_id))
    }
    async fn progress(&self, call_id: &CallId) -> MemResult<Option<Progress>> {
        Ok(self.progress.get(call_id).cloned())
    }
    async fn unsorted_of_call(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.ring_items.get(call_id).cloned())
    }
    async fn answered_item(&self, call_id: &CallId) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.answered.get(call_id).cloned())
    }
    async fn early_intent(&self, call_id: &CallId) -> MemResult<Option<Write>> {
        Ok(self.intents.get(call_id).copied())
    }
    async fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        Ok(self.tasks.get(phone_key).cloned())
    }
    async fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.pending.get(phone_key).cloned())
    }
    async fn count_attempt(&mut self, call_id: &CallId) -> MemResult<u32> {
        let n = self.attempts.entry(call_id.clone()).or_default();
        *n = n.saturating_add(1);
        Ok(*n)
    }
    async fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.parked.insert(call.call_id.clone(), call.clone());
        Ok(())
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        Ok(self.parked.values().cloned().collect())
    }
    async fn is_parked(&self, call_id: &CallId) -> MemResult<bool> {
        Ok(self.parked.contains_key(call_id))
    }
    /// Its writes cannot fail, so they are applied one after the other.
    async fn commit(&mut self, tx: Transaction) -> MemResult<()> {
        for change in tx.changes() {
            self.apply(change);
        }
        Ok(())
    }
}
