//! What the engine remembers between calls: handled deliveries, finished calls, each call's
//! plan and progress, engine-made callback tasks and pending Unsorted items per phone.
//!
//! Behind a trait: in memory for simulations, durable for `sipamo serve`. Where amoCRM itself
//! is the truth (an item accepted or declined, a task completed) the engine checks amoCRM
//! rather than trusting what is remembered here.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::call::Call;
use super::plan::Plan;

/// An engine-made callback task (R-MISS-DEDUP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMemo {
    pub task_id: u64,
    /// `complete_till`, Unix seconds.
    pub deadline: i64,
}

/// An Unsorted item the engine created, with the ids of its contact and lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsortedMemo {
    pub uid: String,
    /// The `source_uid` it was created with (the call id, or `<call id>/2`… for a replacement).
    #[serde(default)]
    pub source_uid: String,
    pub contact_id: Option<u64>,
    pub lead_id: Option<u64>,
}

/// A call's decision and how far its execution got; saved after every step so that a retry
/// (or a restart) continues instead of deciding again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub call: Call,
    pub plan: Plan,
    /// Lead ids the contact had before this call (to recognise a lead this call created).
    pub known_leads: Vec<u64>,
    pub unsorted: Option<UnsortedMemo>,
    pub accepted: bool,
    pub contact_id: Option<u64>,
    pub lead_id: Option<u64>,
    pub task_id: Option<u64>,
    pub note_id: Option<u64>,
}

/// The engine's memory.
pub trait Memory: Send {
    /// Records a delivery; false when this exact event was seen before (R-IDEM).
    fn first_delivery(&mut self, fingerprint: &str) -> bool;
    fn is_done(&self, call_id: &str) -> bool;
    fn mark_done(&mut self, call_id: &str);
    fn progress(&self, call_id: &str) -> Option<Progress>;
    fn save_progress(&mut self, call_id: &str, p: &Progress);
    /// The Unsorted item created at this call's first ring (R-IN-U3).
    fn unsorted_of_call(&self, call_id: &str) -> Option<UnsortedMemo>;
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: UnsortedMemo);
    /// The item this call accepted when it was answered (R-IN-U3).
    fn answered_item(&self, call_id: &str) -> Option<UnsortedMemo>;
    fn set_answered_item(&mut self, call_id: &str, memo: UnsortedMemo);
    fn callback_task(&self, phone_key: &str) -> Option<TaskMemo>;
    fn set_callback_task(&mut self, phone_key: &str, memo: TaskMemo);
    fn pending_unsorted(&self, phone_key: &str) -> Option<UnsortedMemo>;
    fn set_pending_unsorted(&mut self, phone_key: &str, memo: Option<UnsortedMemo>);
}

/// Memory for simulations and tests.
#[derive(Debug, Default)]
pub struct InMemory {
    deliveries: HashSet<String>,
    done: HashSet<String>,
    progress: HashMap<String, Progress>,
    ring_items: HashMap<String, UnsortedMemo>,
    answered: HashMap<String, UnsortedMemo>,
    tasks: HashMap<String, TaskMemo>,
    pending: HashMap<String, UnsortedMemo>,
}

impl Memory for InMemory {
    fn first_delivery(&mut self, fingerprint: &str) -> bool {
        self.deliveries.insert(fingerprint.to_string())
    }
    fn is_done(&self, call_id: &str) -> bool {
        self.done.contains(call_id)
    }
    fn mark_done(&mut self, call_id: &str) {
        self.done.insert(call_id.to_string());
        self.progress.remove(call_id);
    }
    fn progress(&self, call_id: &str) -> Option<Progress> {
        self.progress.get(call_id).cloned()
    }
    fn save_progress(&mut self, call_id: &str, p: &Progress) {
        self.progress.insert(call_id.to_string(), p.clone());
    }
    fn unsorted_of_call(&self, call_id: &str) -> Option<UnsortedMemo> {
        self.ring_items.get(call_id).cloned()
    }
    fn set_unsorted_of_call(&mut self, call_id: &str, memo: UnsortedMemo) {
        self.ring_items.insert(call_id.to_string(), memo);
    }
    fn answered_item(&self, call_id: &str) -> Option<UnsortedMemo> {
        self.answered.get(call_id).cloned()
    }
    fn set_answered_item(&mut self, call_id: &str, memo: UnsortedMemo) {
        self.answered.insert(call_id.to_string(), memo);
    }
    fn callback_task(&self, phone_key: &str) -> Option<TaskMemo> {
        self.tasks.get(phone_key).cloned()
    }
    fn set_callback_task(&mut self, phone_key: &str, memo: TaskMemo) {
        self.tasks.insert(phone_key.to_string(), memo);
    }
    fn pending_unsorted(&self, phone_key: &str) -> Option<UnsortedMemo> {
        self.pending.get(phone_key).cloned()
    }
    fn set_pending_unsorted(&mut self, phone_key: &str, memo: Option<UnsortedMemo>) {
        match memo {
            Some(m) => self.pending.insert(phone_key.to_string(), m),
            None => self.pending.remove(phone_key),
        };
    }
}
