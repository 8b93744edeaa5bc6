//! Where a call's note goes and what it says (R-NOTE-CALL): the lead made for the call, else
//! the contact's single active lead, else the contact; talked or missed.

use super::super::plan::{CALL_MISSED, CALL_TALKED, NoteKind, NotePlan, Target};
use super::facts::ContactFacts;

/// R-NOTE-CALL target: the lead made for this call; else the single active lead; else the contact.
pub(super) fn note_target(lead_created: bool, contact: &ContactFacts) -> Target {
    if lead_created {
        Target::NewLead
    } else if let [one] = contact.active_leads.as_slice() {
        Target::Lead(*one)
    } else {
        Target::Contact(contact.id)
    }
}

impl NotePlan {
    /// R-NOTE-CALL: the call's note on `target`, talked or missed.
    pub(crate) fn call(target: Target, kind: NoteKind, answered: bool, responsible: u64) -> Self {
        NotePlan {
            target,
            kind,
            call_status: if answered { CALL_TALKED } else { CALL_MISSED },
            not_reached: false,
            responsible,
        }
    }
}
