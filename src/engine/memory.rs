//! What the engine remembers between calls: handled deliveries, finished calls, each call's
//! plan and progress, engine-made callback tasks and pending Unsorted items per phone.
//!
//! Behind a trait: in memory for simulations, durable for `sipamo serve`. Where amoCRM itself
//! is the truth (an item accepted or declined, a task completed) the engine checks amoCRM
//! rather than trusting what is remembered here.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::call::Call;
use super::plan::Plan;

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
    pub(crate) call_id: String,
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
pub(crate) fn remembered_item<M: Memory>(
    memory: &M,
    call_id: &str,
    phone_key: &str,
    uid: &str,
) -> MemResult<Option<UnsortedMemo>> {
    Ok(match memory.unsorted_of_call(call_id)? {
        Some(m) if m.uid == uid => Some(m),
        _ => memory.pending_unsorted(phone_key)?.filter(|m| m.uid == uid),
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

/// The engine's memory. Every operation can fail; a failure is an error, never "not there".
pub trait Memory: Send {
    /// Records a delivery; false when this exact event was seen before (R-IDEM).
    fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool>;
    fn is_done(&self, call_id: &str) -> MemResult<bool>;
    /// Marks the call handled and forgets its progress, attempts and early items.
    fn mark_done(&mut self, call_id: &str) -> MemResult<()>;
    fn progress(&self, call_id: &str) -> MemResult<Option<Progress>>;
    fn save_progress(&mut self, call_id: &str, p: &Progress) -> MemResult<()>;
    /// The Unsorted item created at this call's first ring (R-IN-U3).
    fn unsorted_of_call(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>>;
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()>;
    /// The item this call accepted when it was answered (R-IN-U3).
    fn answered_item(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>>;
    fn set_answered_item(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()>;
    /// The write this call sent before its hangup and has no answer recorded for (intent).
    fn early_intent(&self, call_id: &str) -> MemResult<Option<Write>>;
    fn set_early_intent(&mut self, call_id: &str, w: Option<Write>) -> MemResult<()>;
    fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>>;
    fn set_callback_task(&mut self, phone_key: &str, memo: &TaskMemo) -> MemResult<()>;
    fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>>;
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> MemResult<()>;
    /// Counts a failed attempt at the call; answers the attempts so far.
    fn count_attempt(&mut self, call_id: &str) -> MemResult<u32>;
    /// Sets the call aside with its reason (R-ISOLATE); it is not restored until retried.
    fn park(&mut self, call: &ParkedCall) -> MemResult<()>;
    fn parked(&self) -> MemResult<Vec<ParkedCall>>;
    fn is_parked(&self, call_id: &str) -> MemResult<bool>;
    /// Runs `f` as one transaction: all of its writes land, or none do.
    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> MemResult<T>) -> MemResult<T>
    where
        Self: Sized;
}

/// Memory for simulations and tests (its writes cannot fail, so `atomically` just runs).
#[derive(Debug, Default, Clone)]
pub struct InMemory {
    deliveries: HashSet<String>,
    done: HashSet<String>,
    progress: HashMap<String, Progress>,
    ring_items: HashMap<String, UnsortedMemo>,
    answered: HashMap<String, UnsortedMemo>,
    intents: HashMap<String, Write>,
    tasks: HashMap<String, TaskMemo>,
    pending: HashMap<String, UnsortedMemo>,
    attempts: HashMap<String, u32>,
    parked: BTreeMap<String, ParkedCall>,
}

impl Memory for InMemory {
    fn first_delivery(&mut self, fingerprint: &str) -> MemResult<bool> {
        Ok(self.deliveries.insert(fingerprint.to_string()))
    }
    fn is_done(&self, call_id: &str) -> MemResult<bool> {
        Ok(self.done.contains(call_id))
    }
    fn mark_done(&mut self, call_id: &str) -> MemResult<()> {
        self.done.insert(call_id.to_string());
        self.progress.remove(call_id);
        self.attempts.remove(call_id);
        self.intents.remove(call_id);
        self.parked.remove(call_id);
        Ok(())
    }
    fn progress(&self, call_id: &str) -> MemResult<Option<Progress>> {
        Ok(self.progress.get(call_id).cloned())
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) -> MemResult<()> {
        self.progress.insert(call_id.to_string(), p.clone());
        Ok(())
    }
    fn unsorted_of_call(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.ring_items.get(call_id).cloned())
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.ring_items.insert(call_id.to_string(), memo.clone());
        Ok(())
    }
    fn answered_item(&self, call_id: &str) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.answered.get(call_id).cloned())
    }
    fn set_answered_item(&mut self, call_id: &str, memo: &UnsortedMemo) -> MemResult<()> {
        self.answered.insert(call_id.to_string(), memo.clone());
        Ok(())
    }
    fn early_intent(&self, call_id: &str) -> MemResult<Option<Write>> {
        Ok(self.intents.get(call_id).copied())
    }
    fn set_early_intent(&mut self, call_id: &str, w: Option<Write>) -> MemResult<()> {
        match w {
            Some(w) => self.intents.insert(call_id.to_string(), w),
            None => self.intents.remove(call_id),
        };
        Ok(())
    }
    fn callback_task(&self, phone_key: &str) -> MemResult<Option<TaskMemo>> {
        Ok(self.tasks.get(phone_key).cloned())
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: &TaskMemo) -> MemResult<()> {
        self.tasks.insert(phone_key.to_string(), memo.clone());
        Ok(())
    }
    fn pending_unsorted(&self, phone_key: &str) -> MemResult<Option<UnsortedMemo>> {
        Ok(self.pending.get(phone_key).cloned())
    }
    fn set_pending_unsorted(
        &mut self,
        phone_key: &str,
        memo: Option<&UnsortedMemo>,
    ) -> MemResult<()> {
        match memo {
            Some(m) => self.pending.insert(phone_key.to_string(), m.clone()),
            None => self.pending.remove(phone_key),
        };
        Ok(())
    }
    fn count_attempt(&mut self, call_id: &str) -> MemResult<u32> {
        let n = self.attempts.entry(call_id.to_string()).or_default();
        *n = n.saturating_add(1);
        Ok(*n)
    }
    fn park(&mut self, call: &ParkedCall) -> MemResult<()> {
        self.parked.insert(call.call_id.clone(), call.clone());
        Ok(())
    }
    fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        Ok(self.parked.values().cloned().collect())
    }
    fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        Ok(self.parked.contains_key(call_id))
    }
    fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> MemResult<T>) -> MemResult<T> {
        f(self)
    }
}
