//! A plan: what the rules decided for one call, before any request is made.

use serde::{Deserialize, Serialize};

use super::settings::PipelineRef;

/// Where a task or note goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The lead created for this call.
    NewLead,
    /// The contact created for this call.
    NewContact,
    Lead(u64),
    Contact(u64),
    /// The lead inside the Unsorted item of this call (created or pending); its contact when
    /// the item holds no lead.
    UnsortedLead,
    /// The contact inside that item.
    UnsortedContact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactPlan {
    None,
    Existing(u64),
    Create { responsible: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadPlan {
    pub pipeline: Option<PipelineRef>,
    pub responsible: u64,
}

/// The Unsorted item («Неразобранное») of this call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsortedPlan {
    None,
    /// Create one with `source_uid`; with `accept`, accept it at once on behalf of that user.
    Create {
        source_uid: String,
        pipeline_id: u64,
        responsible: u64,
        with_contact: bool,
        accept: Option<u64>,
    },
    /// Accept the phone's pending item.
    Accept {
        uid: String,
        user: u64,
    },
    /// The phone's pending item stays; tasks may target its entities.
    Keep {
        uid: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub target: Target,
    pub responsible: u64,
    /// Unix seconds.
    pub complete_till: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    CallIn,
    CallOut,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::CallIn => "call_in",
            NoteKind::CallOut => "call_out",
        }
    }
}

/// amoCRM `call_status`: 4 «разговор состоялся», 6 «не дозвонились / пропущен».
pub const CALL_TALKED: u8 = 4;
pub const CALL_MISSED: u8 = 6;
/// `call_result` of R-NOTE-NOTREACHED.
pub const NOT_REACHED: &str = "Не дозвонились";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotePlan {
    pub target: Target,
    pub kind: NoteKind,
    pub call_status: u8,
    pub not_reached: bool,
    pub responsible: u64,
}

/// Everything to do for one call, and the rules that decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub contact: ContactPlan,
    pub lead: Option<LeadPlan>,
    pub unsorted: UnsortedPlan,
    pub task: Option<TaskPlan>,
    pub note: Option<NotePlan>,
    /// Rule ids and why, for logs.
    pub because: Vec<String>,
}

impl Plan {
    pub fn nothing(why: impl Into<String>) -> Self {
        Plan {
            contact: ContactPlan::None,
            lead: None,
            unsorted: UnsortedPlan::None,
            task: None,
            note: None,
            because: vec![why.into()],
        }
    }
}
