//! The store contract: what the engine's memory must do, whichever database holds it. Run
//! against SQLite and PostgreSQL alike (`cargo test --test store`).

use crate::engine::memory::{
    MemResult, Memory, MemoryError, ParkedCall, Progress, UnsortedMemo, Write,
};
use crate::server::store::StoreMemory;

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

fn mem<T>(r: MemResult<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

fn progress(call_id: &str) -> Progress {
    let call: crate::engine::call::Call = serde_json::from_value(serde_json::json!({
        "id": call_id, "direction": "incoming", "client": "+79161234567", "scheme": null,
        "legs": [], "answerer": null, "employee": null, "answered": false, "status": "NOANSWER",
        "started_at": 1772434800, "ended_at": 1772434810, "talk_secs": 0, "record_link": null
    }))
    .expect("a valid call");
    Progress {
        call,
        plan: crate::engine::plan::Plan::nothing("contract"),
        known_leads: vec![],
        unsorted: None,
        accepted: false,
        contact_id: None,
        lead_id: None,
        task_id: None,
        note_id: Some(7),
        in_flight: Some(Write::Note),
        recovered: false,
    }
}

/// Deliveries are recorded once (R-IDEM); progress, memos and intents read back as written;
/// marking a call done forgets its progress, attempts and intent and unparks it.
pub fn lifecycle(m: &mut StoreMemory) -> Result<(), String> {
    check(mem(m.first_delivery("fp-1"))?, "a first delivery counts")?;
    check(
        !mem(m.first_delivery("fp-1"))?,
        "a repeated delivery does not",
    )?;
    mem(m.save_progress("c1", &progress("c1")))?;
    let back = mem(m.progress("c1"))?.ok_or("progress is kept")?;
    check(
        back.note_id == Some(7) && back.in_flight == Some(Write::Note),
        "progress reads back as written",
    )?;
    let memo = UnsortedMemo::uid_only("u-1".into());
    mem(m.set_pending_unsorted("9161234567", Some(&memo)))?;
    check(
        mem(m.pending_unsorted("9161234567"))?.is_some_and(|u| u.uid == "u-1"),
        "a pending item reads back",
    )?;
    mem(m.set_pending_unsorted("9161234567", None))?;
    check(
        mem(m.pending_unsorted("9161234567"))?.is_none(),
        "a cleared pending item is gone",
    )?;
    mem(m.set_early_intent("c1", Some(Write::UnsortedItem)))?;
    check(
        mem(m.count_attempt("c1"))? == 1 && mem(m.count_attempt("c1"))? == 2,
        "attempts count up",
    )?;
    mem(m.park(&ParkedCall {
        call_id: "c1".into(),
        reason: "refused".into(),
        attempts: 2,
        at_ms: 5,
    }))?;
    check(mem(m.is_parked("c1"))?, "a parked call is parked")?;
    mem(m.park(&ParkedCall {
        call_id: "c1".into(),
        reason: "again".into(),
        attempts: 3,
        at_ms: 6,
    }))?;
    let parked = mem(m.parked())?;
    check(
        parked.len() == 1 && parked[0].reason == "again",
        "parking again replaces",
    )?;
    mem(m.mark_done("c1"))?;
    check(mem(m.is_done("c1"))?, "a finished call is done")?;
    check(
        mem(m.progress("c1"))?.is_none(),
        "its progress is forgotten",
    )?;
    check(
        mem(m.early_intent("c1"))?.is_none(),
        "its intent is forgotten",
    )?;
    check(!mem(m.is_parked("c1"))?, "it is no longer parked")?;
    check(mem(m.count_attempt("c1"))? == 1, "its attempts start again")
}

/// A failing step leaves nothing of itself; nested scopes commit once, with the outermost.
pub fn atomicity(m: &mut StoreMemory) -> Result<(), String> {
    let failed: MemResult<()> = m.atomically(|m| {
        m.save_progress("c2", &progress("c2"))?;
        m.set_pending_unsorted("9031112233", Some(&UnsortedMemo::uid_only("u-2".into())))?;
        Err(MemoryError {
            doing: "testing",
            message: "the step fails".into(),
        })
    });
    check(failed.is_err(), "the failure is reported")?;
    check(
        mem(m.progress("c2"))?.is_none(),
        "nothing of a failed step is written",
    )?;
    check(
        mem(m.pending_unsorted("9031112233"))?.is_none(),
        "nothing of a failed step is written",
    )?;
    mem(m.atomically(|m| {
        m.save_progress("c3", &progress("c3"))?;
        m.atomically(|m| m.mark_done("c3"))?;
        m.save_progress("c4", &progress("c4"))
    }))?;
    check(
        mem(m.is_done("c3"))? && mem(m.progress("c4"))?.is_some(),
        "a nested step commits with the outer one",
    )
}

/// What was committed is there after the store is opened again (a restart).
pub fn durability(open: &dyn Fn() -> Result<StoreMemory, String>) -> Result<(), String> {
    {
        let mut m = open()?;
        mem(m.save_progress("c5", &progress("c5")))?;
        mem(m.first_delivery("fp-5"))?;
    }
    let m = open()?;
    check(
        mem(m.progress("c5"))?.is_some(),
        "progress survives a reopen",
    )?;
    let mut m = m;
    check(
        !mem(m.first_delivery("fp-5"))?,
        "deliveries survive a reopen",
    )
}
