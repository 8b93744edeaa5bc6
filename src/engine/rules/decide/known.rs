//! An incoming call from a number with a visible contact (R-IN-K1, R-MISS-KNOWN).

use super::facts::{ContactFacts, Facts};
use super::notes::note_target;
use super::people::{default_manager, user};
use super::pipelines::lead_pipeline;
use super::tasks::callback_deadline;
use crate::engine::rules::call::Call;
use crate::engine::rules::plan::*;
use crate::engine::rules::rule::Rule;
use crate::engine::rules::settings::Settings;

pub(super) fn incoming(s: &Settings, call: &Call, c: &ContactFacts, facts: &Facts) -> Plan {
    let mut because = vec![Rule::InKnown.because(format!("known number, contact {}", c.id))];
    let owner = c.responsible.unwrap_or_else(|| default_manager(s, call));
    let answerer = user(s, call.answerer.as_ref()).unwrap_or_else(|| default_manager(s, call));
    let lead = if !s.incoming.known.create_lead_if_no_active {
        because.push(Rule::InKnown.because("create_lead_if_no_active is off"));
        None
    } else if !c.active_leads.is_empty() {
        because.push(
            Rule::InKnown.because(format!("contact has active lead(s) {:?}", c.active_leads)),
        );
        None
    } else {
        let responsible = if call.answered { answerer } else { owner };
        if !call.answered {
            because.push(Rule::MissKnown.because("lead on the contact's responsible"));
        }
        Some(LeadPlan {
            pipeline: lead_pipeline(s, call),
            responsible,
        })
    };
    let target = note_target(lead.is_some(), c);
    let note_by = if call.answered { answerer } else { owner };
    let note = Some(NotePlan::call(
        target,
        NoteKind::CallIn,
        call.answered,
        note_by,
    ));
    let task = if call.answered {
        None
    } else {
        callback_deadline(s, call, facts, &mut because).map(|complete_till| {
            because.push(Rule::MissKnown.because("task on the contact's responsible"));
            let target = if s.incoming.missed.bind_task_to_lead && lead.is_some() {
                Target::NewLead
            } else {
                Target::Contact(c.id)
            };
            TaskPlan {
                target,
                responsible: owner,
                complete_till,
            }
        })
    };
    Plan {
        contact: ContactPlan::Existing(c.id),
        lead,
        unsorted: UnsortedPlan::None,
        task,
        note,
        because,
    }
}
