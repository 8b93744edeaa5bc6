//! The callback task of a missed call (R-MISS-TASK), not made again while an earlier one is
//! still open past this call (R-MISS-DEDUP).

use super::super::call::Call;
use super::super::rule::Rule;
use super::super::settings::Settings;
use super::facts::Facts;

/// R-MISS-TASK with R-MISS-DEDUP: the callback task's deadline, or why there is none.
pub(super) fn callback_deadline(
    s: &Settings,
    call: &Call,
    facts: &Facts,
    because: &mut Vec<String>,
) -> Option<i64> {
    if !s.incoming.missed.create_task {
        because.push(Rule::MissTask.because("create_task is off"));
        return None;
    }
    if let Some(deadline) = facts.open_task_deadline
        && deadline > call.ended_at
    {
        because.push(Rule::MissDedup.because(format!(
            "an open callback task is due at {deadline}, after this call"
        )));
        return None;
    }
    let deadline = i64::try_from(s.incoming.missed.task_deadline.0)
        .ok()
        .and_then(|d| call.ended_at.checked_add(d));
    if deadline.is_none() {
        because.push(Rule::MissTask.because("the deadline is past the range of Unix time"));
    }
    deadline
}
