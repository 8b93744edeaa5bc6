//! The store contract: what the engine's memory must do, whichever database holds it. Run
//! against SQLite and PostgreSQL alike (`cargo test --test store`).

use super::cid;
use crate::engine::memory::MemoryError;
use crate::engine::memory::{
    MemResult, Memory, ParkedCall, Progress, TaskMemo, Transaction, UnsortedMemo, Write,
};
use crate::server::store::StoreMemory;

/// How a store broke the contract.
#[derive(Debug, thiserror::Error)]
pub enum Broken {
    /// A promise of the contract did not hold.
    #[error("the store broke its contract: {0}")]
    Promise(&'static str),
    /// The store failed where it had to answer.
    #[error(transparent)]
    Failed(#[from] MemoryError),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Open(String),
}

fn check(ok: bool, what: &'static str) -> Result<(), Broken> {
    if ok {
        Ok(())
    } else {
        Err(Broken::Promise(what))
    }
}

fn mem<T>(r: MemResult<T>) -> Result<T, Broken> {
    Ok(r?)
}

fn progress(call_id: &str) -> Progress {
    let call: crate::engine::rules::call::Call = serde_json::from_value(serde_json::json!({
        "id": call_id, "direction": "incoming", "client": "+79161234567", "scheme": null,
        "legs": [], "answerer": null, "employee": null, "answered": false, "status": "NOANSWER",
        "started_at": 1772434800, "ended_at": 1772434810, "talk_secs": 0, "record_link": null
    }))
    .expect("a valid call");
    Progress {
        call,
        plan: crate::engine::rules::plan::Plan::nothing("contract"),
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
pub async fn lifecycle(m: &mut StoreMemory) -> Result<(), Broken> {
    check(
        mem(m.first_delivery("fp-1").await)?,
        "a first delivery counts",
    )?;
    check(
        !mem(m.first_delivery("fp-1").await)?,
        "a repeated delivery does not",
    )?;
    mem(m.save_progress(&cid("c1"), &progress("c1")).await)?;
    let back = mem(m.progress(&cid("c1")).await)?.ok_or(Broken::Promise("progress is kept"))?;
    check(
        back.note_id == Some(7) && back.in_flight == Some(Write::Note),
        "progress reads back as written",
    )?;
    let memo = UnsortedMemo::uid_only("u-1".into());
    mem(m.set_pending_unsorted("9161234567", Some(&memo)).await)?;
    check(
        mem(m.pending_unsorted("9161234567").await)?.is_some_and(|u| u.uid == "u-1"),
        "a pending item reads back",
    )?;
    mem(m.set_pending_unsorted("9161234567", None).await)?;
    check(
        mem(m.pending_unsorted("9161234567").await)?.is_none(),
        "a cleared pending item is gone",
    )?;
    mem(m
        .set_early_intent(&cid("c1"), Some(Write::UnsortedItem))
        .await)?;
    check(
        mem(m.count_attempt(&cid("c1")).await)? == 1
            && mem(m.count_attempt(&cid("c1")).await)? == 2,
        "attempts count up",
    )?;
    mem(m
        .park(&ParkedCall {
            call_id: cid("c1"),
            reason: "refused".into(),
            attempts: 2,
            at_ms: 5,
        })
        .await)?;
    check(
        mem(m.is_parked(&cid("c1")).await)?,
        "a parked call is parked",
    )?;
    mem(m
        .park(&ParkedCall {
            call_id: cid("c1"),
            reason: "again".into(),
            attempts: 3,
            at_ms: 6,
        })
        .await)?;
    let parked = mem(m.parked().await)?;
    check(
        parked.len() == 1 && parked[0].reason == "again",
        "parking again replaces",
    )?;
    mem(m.mark_done(&cid("c1")).await)?;
    check(mem(m.is_done(&cid("c1")).await)?, "a finished call is done")?;
    check(
        mem(m.progress(&cid("c1")).await)?.is_none(),
        "its progress is forgotten",
    )?;
    check(
        mem(m.early_intent(&cid("c1")).await)?.is_none(),
        "its intent is forgotten",
    )?;
    check(
        !mem(m.is_parked(&cid("c1")).await)?,
        "it is no longer parked",
    )?;
    check(
        mem(m.count_attempt(&cid("c1")).await)? == 1,
        "its attempts start again",
    )
}

/// The key of the `memory` table a database armed by [`REFUSE_SQLITE`] or [`REFUSE_POSTGRES`]
/// refuses to write.
pub const REFUSED_KEY: &str = "refused";

/// Arms a SQLite database to refuse writing [`REFUSED_KEY`] (a store failing mid-transaction).
pub const REFUSE_SQLITE: &str = "CREATE TRIGGER refuse BEFORE INSERT ON memory
    WHEN NEW.key = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END";

/// Arms a PostgreSQL database to refuse writing [`REFUSED_KEY`].
pub const REFUSE_POSTGRES: &str = "CREATE FUNCTION refuse() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER refuse BEFORE INSERT ON memory FOR EACH ROW
    WHEN (NEW.key = 'refused') EXECUTE FUNCTION refuse()";

/// A transaction whose last write the database refuses leaves nothing of its earlier writes;
/// one that commits lands whole. The database is armed to refuse [`REFUSED_KEY`].
pub async fn atomicity(m: &mut StoreMemory) -> Result<(), Broken> {
    let memo = UnsortedMemo::uid_only("u-2".into());
    let failing = Transaction::new()
        .save_progress(&cid("c2"), &progress("c2"))
        .set_pending_unsorted("9031112233", Some(&memo))
        .mark_done(&cid("c9"))
        .set_callback_task(
            REFUSED_KEY,
            &TaskMemo {
                task_id: 1,
                deadline: 5,
            },
        );
    check(m.commit(failing).await.is_err(), "the failure is reported")?;
    check(
        mem(m.progress(&cid("c2")).await)?.is_none()
            && mem(m.pending_unsorted("9031112233").await)?.is_none()
            && !mem(m.is_done(&cid("c9")).await)?,
        "nothing of a failed transaction is written",
    )?;
    let whole = Transaction::new()
        .save_progress(&cid("c3"), &progress("c3"))
        .mark_done(&cid("c3"))
        .save_progress(&cid("c4"), &progress("c4"));
    mem(m.commit(whole).await)?;
    check(
        mem(m.is_done(&cid("c3")).await)?
            && mem(m.progress(&cid("c3")).await)?.is_none()
            && mem(m.progress(&cid("c4")).await)?.is_some(),
        "a transaction lands whole, its writes in order",
    )
}

/// What was committed is there after the store is opened again (a restart).
pub async fn durability<F>(open: impl Fn() -> F) -> Result<(), Broken>
where
    F: Future<Output = Result<StoreMemory, Broken>>,
{
    {
        let mut m = open().await?;
        mem(m.save_progress(&cid("c5"), &progress("c5")).await)?;
        mem(m.first_delivery("fp-5").await)?;
    }
    let m = open().await?;
    check(
        mem(m.progress(&cid("c5")).await)?.is_some(),
        "progress survives a reopen",
    )?;
    let mut m = m;
    check(
        !mem(m.first_delivery("fp-5").await)?,
        "deliveries survive a reopen",
    )
}
