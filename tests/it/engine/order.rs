//! Calls are handled in the order their hangups arrived, live and after a restart alike,
//! whatever their ids say (`x.10` sorts before `x.2` as text).

use sipamo::engine::{Engine, EngineOptions, Handled, InMemory, Memory};
use sipamo::sipuni::event::CallEvent;

use crate::engine::app::*;

fn handled_ids(h: &[Handled]) -> Vec<String> {
    h.iter()
        .map(|h| match h {
            Handled::Done { call_id, .. }
            | Handled::Internal { call_id }
            | Handled::Hidden { call_id, .. }
            | Handled::Parked { call_id, .. } => call_id.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn calls_are_handled_in_hangup_order_before_and_after_a_restart() {
    let mut app = spawn_app("", "").await;
    // x.2 rings first and hangs up last; x.10 and x.3 hang up before it.
    let calls = [
        ("x.2", 0, "+79031110002", 300),
        ("x.10", 10, "+79031110010", 30),
        ("x.3", 20, "+79031110003", 60),
    ];
    let mut events = Vec::new();
    for (id, at, phone, talk) in calls {
        let mut spec = incoming(phone).ring(&["201"]).answer("201");
        spec.call_id = id.into();
        spec.talk = talk;
        events.extend(spec.events(START + at));
    }
    events.sort_by_key(|e| e.at);
    let parsed: Vec<CallEvent> = events
        .iter()
        .map(|e| CallEvent::parse(&e.line).unwrap())
        .collect();
    for ev in &parsed {
        app.engine.ingest(ev.clone()).await.unwrap();
    }
    let want = vec!["x.10".to_string(), "x.3".into(), "x.2".into()];

    // A restart before any call was handled: a new engine rebuilt from the same events.
    let settings = app.engine.settings().clone();
    let memory = std::mem::take(app.engine.memory_mut());
    let mut restarted = Engine::connect(settings, app.client.clone(), memory, Default::default())
        .await
        .unwrap();
    for ev in &parsed {
        let now = app.clock.now_ms();
        restarted.restore(ev.clone(), now).await.unwrap();
    }
    let after_restart = handled_ids(&restarted.settle(true).await.unwrap());
    assert_eq!(after_restart, want, "after a restart");

    let mut live = spawn_app("", "").await;
    for ev in &parsed {
        live.engine.ingest(ev.clone()).await.unwrap();
    }
    assert_eq!(
        handled_ids(&live.engine.settle(true).await.unwrap()),
        want,
        "live"
    );
}

/// A call whose hangup never arrives is closed as unfinished after the maximum call length:
/// it does not stay open (and reloaded at every start) forever, and nothing is invented for it.
#[tokio::test]
async fn a_call_without_a_hangup_is_closed_after_the_maximum_call_length() {
    let options = EngineOptions {
        max_call_ms: 3_600_000,
        ..EngineOptions::default()
    };
    let mut app = try_spawn_full("", "", InMemory::default(), options)
        .await
        .expect("the engine starts");
    let mut spec = incoming("+79031112233").ring(&["201"]);
    spec.call_id = "lost-hangup".into();
    for e in spec
        .events(START)
        .into_iter()
        .filter(|e| !e.line.starts_with("event=2&"))
    {
        app.clock.advance_to(e.at * 1000);
        app.engine
            .ingest(CallEvent::parse(&e.line).unwrap())
            .await
            .unwrap();
    }
    let before = app.mock.journal_len();
    app.clock.advance_to((START + 3_000) * 1000);
    app.engine.settle(false).await.unwrap();
    assert_eq!(
        app.engine.open_calls(),
        1,
        "still within the maximum call length"
    );
    app.clock.advance_to((START + 3_700) * 1000);
    app.engine.settle(false).await.unwrap();
    assert_eq!(app.engine.open_calls(), 0, "closed as unfinished");
    assert_eq!(app.mock.journal_len(), before, "nothing sent to amoCRM");
    assert!(
        app.engine
            .memory()
            .is_done(&cid("lost-hangup"))
            .await
            .unwrap()
    );
}
