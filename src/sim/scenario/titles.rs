//! One line for each kind of moment the scenario's timeline records: a Sipuni event, a
//! manager's action, a fault armed on the mock.

use super::model::CrmAction;

/// One line for a Sipuni event: its kind, call and parties.
pub(super) fn event_title(line: &str) -> String {
    let fields: Vec<(String, String)> = form_urlencoded::parse(line.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let kind = match get("event") {
        "1" => "ring",
        "2" => "hangup",
        "3" => "answer",
        "4" => "leg ended",
        _ => "event",
    };
    let status = match get("status") {
        "" => String::new(),
        s => format!(" ({s})"),
    };
    format!(
        "Sipuni {kind}{status}: call {} from {} to {}",
        get("call_id"),
        get("src_num"),
        get("dst_num")
    )
}

/// One line for a manager's action in amoCRM.
pub(super) fn manager_title(a: &CrmAction) -> String {
    match a {
        CrmAction::AcceptUnsorted(x) => format!(
            "manager accepts the Unsorted item of {} (user {})",
            x.client.0, x.user
        ),
        CrmAction::DeclineUnsorted(x) => {
            format!("manager declines the Unsorted item of {}", x.client.0)
        }
        CrmAction::CompleteTask(x) => format!("manager completes the tasks of {}", x.client.0),
        CrmAction::CloseLead(x) => format!(
            "manager closes the leads of {} (status {})",
            x.client.0, x.status
        ),
        CrmAction::MoveTask(x) => format!(
            "manager moves the tasks of {} to {}",
            x.client.0,
            crate::sim::mock::journal::offset(x.due.ms())
        ),
        CrmAction::DeleteTask(x) => format!("manager deletes the tasks of {}", x.client.0),
    }
}

/// One line for a fault armed on the mock.
pub(super) fn fault_title(f: &crate::sim::mock::FaultSpec) -> String {
    let what = match (f.status, f.hang) {
        (Some(s), _) => format!("answers {s}"),
        (None, _) => "applies the write and loses the answer".to_string(),
    };
    let how_long = match f.lasts {
        Some(d) => format!("for {}", crate::sim::mock::journal::offset(d.ms())),
        None => format!("{} time(s)", f.times),
    };
    format!(
        "fault: amoCRM {what} to {}{} {how_long}",
        f.method
            .as_deref()
            .map_or(String::new(), |m| format!("{m} ")),
        f.path
    )
}
