//! R-ISOLATE, R-IDEM: the engine's storage fails, once, at every operation of a day of calls in
//! turn (reads and writes alike). Each failure stops the call in hand; the engine is then built
//! anew from the same memory and the delivered events (as the supervised worker restarts from
//! the durable inbox). The account must come out as without the failure: nothing duplicated,
//! nothing forgotten, and no failure ever taken for "nothing there".

use std::sync::atomic::{AtomicU32, Ordering};

use sipamo::engine::memory::{
    MemResult, Memory, MemoryError, ParkedCall, Progress, TaskMemo, Transaction, UnsortedMemo,
    Write,
};
use sipamo::engine::{Engine, InMemory, Settings};
use sipamo::sim::synth::CallSpec;
use sipamo::sipuni::event::{CallEvent, CallId};

use crate::engine::app::*;

/// In-memory storage whose `fail_at`-th operation fails (0: never); a failed transaction
/// leaves nothing behind.
struct Flaky {
    inner: InMemory,
    ops: AtomicU32,
    fail_at: u32,
}

impl Flaky {
    fn op(&self) -> MemResult<()> {
        let n = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.fail_at {
            return Err(MemoryError {
                doing: "a test",
                message: format!("operation {} fails", self.fail_at),
            });
        }
        Ok(())
    }
}

macro_rules! read {
    ($name:ident($($a:ident: $t:ty),*) -> $r:ty) => {
        async fn $name(&self, $($a: $t),*) -> MemResult<$r> {
            self.op()?;
            self.inner.$name($($a),*).await
        }
    };
}
macro_rules! write {
    ($name:ident($($a:ident: $t:ty),*) -> $r:ty) => {
        async fn $name(&mut self, $($a: $t),*) -> MemResult<$r> {
            self.op()?;
            self.inner.$name($($a),*).await
        }
    };
}

impl Memory for Flaky {
    write!(first_delivery(f: &str) -> bool);
    read!(is_done(c: &CallId) -> bool);
    read!(progress(c: &CallId) -> Option<Progress>);
    read!(unsorted_of_call(c: &CallId) -> Option<UnsortedMemo>);
    read!(answered_item(c: &CallId) -> Option<UnsortedMemo>);
    read!(early_intent(c: &CallId) -> Option<Write>);
    read!(callback_task(k: &str) -> Option<TaskMemo>);
    read!(pending_unsorted(k: &str) -> Option<UnsortedMemo>);
    write!(count_attempt(c: &CallId) -> u32);
    write!(park(c: &ParkedCall) -> ());
    read!(parked() -> Vec<ParkedCall>);
    read!(is_parked(c: &CallId) -> bool);
    // A transaction fails whole (its writes are applied only when it goes through).
    write!(commit(tx: Transaction) -> ());
}

/// The engine built anew from the memory, with every delivered event put back.
async fn restart(
    engine: Engine<Flaky>,
    settings: &Settings,
    app_client: &sipamo::amocrm::client::AmoClient,
    delivered: &[(CallEvent, i64)],
) -> Engine<Flaky> {
    let memory = engine.into_memory();
    let mut engine = Engine::connect(
        settings.clone(),
        app_client.clone(),
        memory,
        Default::default(),
    )
    .await
    .expect("the engine connects");
    for (ev, at) in delivered {
        // The failure happens once: a second try of the same event goes through.
        if engine.restore(ev.clone(), *at).await.is_err() {
            engine.restore(ev.clone(), *at).await.expect("restored");
        }
    }
    engine
}

/// Runs the calls with the `fail_at`-th storage operation failing; answers the account's
/// picture, the operations made and whether the failure happened.
async fn run(
    settings: &str,
    crm: &str,
    calls: &[(i64, CallSpec)],
    fail_at: u32,
) -> (String, u32, bool) {
    let flaky = Flaky {
        inner: InMemory::default(),
        ops: AtomicU32::new(0),
        fail_at,
    };
    let mut app = try_spawn_with(settings, crm, flaky).await.expect("starts");
    let parsed = Settings::from_yaml(&format!("{BASE}{settings}")).unwrap();
    let mut delivered = Vec::new();
    let mut failed = false;
    for (i, (at, spec)) in calls.iter().enumerate() {
        let mut spec = spec.clone();
        spec.call_id = format!("{}.{}", START + at, i + 1);
        for e in spec.events(START + at) {
            app.clock.advance_to(e.at * 1000);
            let ev = CallEvent::parse(&e.line).unwrap();
            delivered.push((ev.clone(), e.at * 1000));
            if app.engine.ingest(ev).await.is_err() {
                failed = true;
                app.engine = restart(app.engine, &parsed, &app.client, &delivered).await;
            }
        }
        for _ in 0..3 {
            match app.engine.settle(true).await {
                Ok(_) => break,
                Err(_) => {
                    failed = true;
                    app.engine = restart(app.engine, &parsed, &app.client, &delivered).await;
                }
            }
        }
        assert_eq!(
            app.engine.open_calls(),
            0,
            "fail_at {fail_at}: call {} left open",
            i + 1
        );
    }
    let ops = app.engine.memory().ops.load(Ordering::Relaxed);
    assert!(
        app.engine.memory().inner.parked().await.unwrap().is_empty(),
        "nothing parked"
    );
    (app.picture(), ops, failed)
}

async fn storage_fails_at_every_operation(settings: &str, crm: &str, calls: Vec<(i64, CallSpec)>) {
    let (want, ops, _) = run(settings, crm, &calls, 0).await;
    assert!(ops > 20, "a day worth failing in: {ops} operations");
    eprintln!("storage operations: {ops}; each failed in turn");
    for k in 1..=ops {
        let (got, _, failed) = run(settings, crm, &calls, k).await;
        assert!(failed, "operation {k} was reached and failed");
        assert_eq!(got, want, "storage failing at operation {k} of {ops}");
    }
}

#[tokio::test]
async fn a_failing_store_duplicates_and_forgets_nothing_immediate_mode() {
    let new = "+79031112233";
    storage_fails_at_every_operation(
        "incoming: { missed: { task_deadline: 600 } }",
        "",
        vec![
            (0, incoming(new).ring(&["201"])),
            (60, incoming(new).ring(&["202"])),
            (120, incoming(new).ring(&["201"]).answer("201")),
            (900, outgoing(new, "202", false)),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_failing_store_duplicates_and_forgets_nothing_accept_on_answer() {
    // In the world where amoCRM puts an item's call on its lead itself: a failure between the
    // item's creation and memory recording it must not make the call appear twice.
    storage_fails_at_every_operation(
        "incoming: { unknown: { mode: unsorted_accept_on_answer } }",
        "unsorted_call_events: true\n",
        vec![
            (0, incoming("+79031112233").ring(&["201"])),
            (
                60,
                incoming("+79031112233").ring(&["201", "202"]).answer("202"),
            ),
            (120, incoming("+79035550000").ring(&["203"]).answer("203")),
        ],
    )
    .await;
}
