//! A plan: what the rules decided for one call, before any request is made.

use serde::{Deserialize, Serialize};

use super::settings::PipelineRef;

/// Where a task or note goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
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
pub(crate) enum ContactPlan {
    None,
    Existing(u64),
    Create { responsible: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeadPlan {
    pub(crate) pipeline: Option<PipelineRef>,
    pub(crate) responsible: u64,
}

/// The Unsorted item («Неразобранное») of this call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnsortedPlan {
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
pub(crate) struct TaskPlan {
    pub(crate) target: Target,
    pub(crate) responsible: u64,
    /// Unix seconds.
    pub(crate) complete_till: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NoteKind {
    CallIn,
    CallOut,
}

impl NoteKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NoteKind::CallIn => "call_in",
            NoteKind::CallOut => "call_out",
        }
    }
}

/// amoCRM `call_status`: 4 «разговор состоялся», 6 «не дозвонились / пропущен».
pub(crate) const CALL_TALKED: u8 = 4;
pub(crate) const CALL_MISSED: u8 = 6;
/// `call_result` of R-NOTE-NOTREACHED.
pub(crate) const NOT_REACHED: &str = "Не дозвонились";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotePlan {
    pub(crate) target: Target,
    pub(crate) kind: NoteKind,
    pub(crate) call_status: u8,
    pub(crate) not_reached: bool,
    pub(crate) responsible: u64,
}

/// Everything to do for one call, and the rules that decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub(crate) contact: ContactPlan,
    pub(crate) lead: Option<LeadPlan>,
    pub(crate) unsorted: UnsortedPlan,
    pub(crate) task: Option<TaskPlan>,
    pub(crate) note: Option<NotePlan>,
    /// Rule ids and why, for logs.
    pub(crate) because: Vec<String>,
}

impl Plan {
    pub(crate) fn nothing(why: impl Into<String>) -> Self {
        Plan {
            contact: ContactPlan::None,
            lead: None,
            unsorted: UnsortedPlan::None,
            task: None,
            note: None,
            because: vec![why.into()],
        }
    }

    /// The plan's actions in words, in the order they are carried out.
    pub fn actions(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.contact {
            ContactPlan::None => {}
            ContactPlan::Existing(id) => out.push(format!("uses contact {id}")),
            ContactPlan::Create { responsible } => {
                out.push(format!("creates a contact (responsible {responsible})"))
            }
        }
        if let Some(l) = &self.lead {
            out.push(format!("creates a lead {l:?}"));
        }
        match &self.unsorted {
            UnsortedPlan::None => {}
            other => out.push(format!("Unsorted: {other:?}")),
        }
        if let Some(t) = &self.task {
            out.push(format!("R-MISS-TASK: creates a callback task {t:?}"));
        }
        if let Some(n) = &self.note {
            let rule = if n.not_reached {
                super::rule::Rule::NoteNotReached
            } else {
                super::rule::Rule::NoteCall
            };
            out.push(format!("{}: adds the call note {n:?}", rule.id()));
        }
        if out.is_empty() {
            out.push("nothing in amoCRM".into());
        }
        out
    }

    /// Nothing to do, for the reasons gathered so far.
    pub(crate) fn nothing_because(because: Vec<String>) -> Self {
        Plan {
            because,
            ..Plan::nothing("")
        }
    }
}

/// The `source_uid` of the next item a call creates: the call id for its first item, then
/// `<call id>/2`, `/3`… (amoCRM refuses a repeated `source_uid`, declined items included).
pub(crate) fn next_source_uid(call_id: &str, previous: Option<&str>) -> String {
    let Some(prev) = previous else {
        return call_id.to_string();
    };
    let n = prev
        .strip_prefix(call_id)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    format!("{call_id}/{}", n.saturating_add(1))
}
#[cfg(test)]
mod tests {
    use super::next_source_uid;

    #[test]
    fn each_item_of_a_call_has_its_own_source_uid() {
        let a = next_source_uid("1700000000.1", None);
        let b = next_source_uid("1700000000.1", Some(&a));
        let c = next_source_uid("1700000000.1", Some(&b));
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("1700000000.1", "1700000000.1/2", "1700000000.1/3")
        );
    }
}
