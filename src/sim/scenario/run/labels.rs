//! Names for what a step touched: the phone it is about, and the path through the rules a
//! handled call took (for the storm summary).

use crate::engine::Rule;
use crate::sim::scenario::model::{Action, CrmAction, Step};

/// The phone a step is about (its call's client or its manager action's).
pub(super) fn step_phone(step: &Step) -> Option<String> {
    let phone = match &step.action {
        Action::Call(c) => &c.client,
        Action::Crm(CrmAction::AcceptUnsorted(a)) => &a.client,
        Action::Crm(
            CrmAction::DeclineUnsorted(a) | CrmAction::CompleteTask(a) | CrmAction::DeleteTask(a),
        ) => &a.client,
        Action::Crm(CrmAction::MoveTask(a)) => &a.client,
        Action::Crm(CrmAction::CloseLead(a)) => &a.client,
        Action::Event(fields) => {
            return fields
                .iter()
                .find(|(k, _)| k == "src_num" || k == "dst_num")
                .and_then(|(_, v)| crate::phone::digits_key(v));
        }
        Action::Fault(_) | Action::Settings(..) => return None,
    };
    Some(phone.0.last10().to_string())
}

pub(super) fn path_label(h: &crate::engine::Handled) -> Option<String> {
    use crate::engine::rules::plan::{ContactPlan, UnsortedPlan};
    let plan = match h {
        crate::engine::Handled::Done { plan, .. } => plan,
        crate::engine::Handled::Internal { .. } => return Some("internal".into()),
        crate::engine::Handled::Hidden { .. } => return Some("hidden number".into()),
        crate::engine::Handled::Parked { .. } => return Some("parked".into()),
    };
    let known = matches!(plan.contact, ContactPlan::Existing(_));
    let unsorted = !matches!(plan.unsorted, UnsortedPlan::None);
    let dir = if plan
        .note
        .is_some_and(|n| n.kind == crate::engine::rules::plan::NoteKind::CallOut)
        || [
            Rule::OutKnown,
            Rule::OutUnknown,
            Rule::OutPendingUnsorted,
            Rule::NoteNotReached,
        ]
        .into_iter()
        .any(|r| cites(plan, r))
    {
        "outgoing"
    } else {
        "incoming"
    };
    Some(format!(
        "{dir} {}{}",
        if known { "known" } else { "unknown" },
        if unsorted { " (Unsorted)" } else { "" }
    ))
}

/// Does one of the plan's reasons come from `rule`?
fn cites(plan: &crate::engine::rules::plan::Plan, rule: Rule) -> bool {
    plan.because.iter().any(|b| {
        b.strip_prefix(rule.id())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    })
}
