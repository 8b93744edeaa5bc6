//! R-IN-U2, R-IN-U3, R-UNS-DEDUP, R-UNS-ACCEPT, R-UNS-DECLINE, R-IDEM.

use sipamo::sim::mock::UnsortedState;
use sipamo::sipuni::event::CallEvent;

use crate::engine::app::*;

#[tokio::test]
async fn r_in_u2_unknown_calls_land_in_unsorted_hidden_until_accepted() {
    let mut app = spawn_app("incoming: { unknown: { mode: unsorted } }", "").await;
    app.call(0, incoming("+79031112233").answer("202")).await;
    let s = app.state();
    let item = s.unsorted.values().next().expect("an item");
    assert_eq!(item.state, UnsortedState::Pending);
    assert_eq!(item.metadata["call_responsible"], 1002);
    assert_eq!(item.metadata["duration"], 60);
    assert!(
        app.contacts_of("+79031112233").is_empty(),
        "hidden until accepted"
    );
    assert!(
        s.notes.is_empty(),
        "the call data travels in the item's metadata"
    );
}

/// Where amoCRM puts an item's call on its lead itself (`is_call_event_needed`), an answered
/// call whose item is accepted at once leaves that one call on the card: the engine looks for
/// it before writing its note, and writes none.
#[tokio::test]
async fn r_note_call_an_items_own_call_event_is_not_written_twice() {
    let mut app = spawn_app(
        "incoming: { unknown: { mode: unsorted_accept_on_answer } }",
        "unsorted_call_events: true\n",
    )
    .await;
    app.call(0, incoming("+79031112233").answer("202")).await;
    let s = app.state();
    let item = s.unsorted.values().next().expect("an item");
    assert_eq!(item.state, UnsortedState::Accepted);
    let notes: Vec<_> = s.notes.values().collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].entity_id, item.lead_ids[0]);
    assert!(
        !app.mock
            .journal()
            .iter()
            .any(|e| e.method == "POST" && e.path.ends_with("/notes")),
        "no second note written by the engine"
    );
}

#[tokio::test]
async fn r_uns_dedup_and_accept_then_the_number_is_known() {
    let mut app = spawn_app("incoming: { unknown: { mode: unsorted } }", "").await;
    app.call(0, incoming("+79031112233").answer("202")).await;
    app.call(60, incoming("+79031112233")).await;
    assert_eq!(app.state().unsorted.len(), 1, "R-UNS-DEDUP");
    app.mock.accept_unsorted("+79031112233", 1003).unwrap();
    let s = app.state();
    let lead = s.leads.values().next().unwrap();
    assert_eq!(
        (lead.visible, lead.responsible_user_id, lead.status_id),
        (true, 1003, 41),
        "R-UNS-ACCEPT"
    );
    app.call(120, incoming("+79031112233").answer("201")).await;
    let s = app.state();
    assert_eq!(s.unsorted.len(), 1, "known now: no new item");
    assert_eq!(s.notes.len(), 1, "a known number's call note");
}

#[tokio::test]
async fn r_uns_decline_deletes_and_the_next_call_is_unknown_again() {
    let mut app = spawn_app("incoming: { unknown: { mode: unsorted } }", "").await;
    app.call(0, incoming("+79031112233").answer("202")).await;
    app.mock.decline_unsorted("+79031112233").unwrap();
    assert!(
        app.state().contacts.is_empty() && app.state().leads.is_empty(),
        "deleted for good"
    );
    app.call(60, incoming("+79031112233").answer("202")).await;
    let s = app.state();
    let states: Vec<UnsortedState> = s.unsorted.values().map(|u| u.state).collect();
    assert_eq!(
        states,
        vec![UnsortedState::Declined, UnsortedState::Pending]
    );
}

#[tokio::test]
async fn r_in_u3_missed_calls_stay_in_unsorted_answered_ones_are_accepted() {
    let mut app = spawn_app(
        "incoming: { unknown: { mode: unsorted_accept_on_answer } }",
        "",
    )
    .await;
    app.call(0, incoming("+79031112233").ring(&["201"])).await;
    let s = app.state();
    assert_eq!(
        s.unsorted.values().next().unwrap().state,
        UnsortedState::Pending
    );
    let task = s
        .tasks
        .values()
        .next()
        .expect("R-MISS-BIND: a task on the item's lead");
    assert_eq!(
        task.entity_id,
        s.unsorted.values().next().unwrap().lead_ids[0]
    );

    app.call(
        600,
        incoming("+79035550000").ring(&["201", "202"]).answer("202"),
    )
    .await;
    let s = app.state();
    let accepted: Vec<_> = s
        .unsorted
        .values()
        .filter(|u| u.state == UnsortedState::Accepted)
        .collect();
    assert_eq!(accepted.len(), 1);
    let lead = &s.leads[&accepted[0].lead_ids[0]];
    assert_eq!((lead.visible, lead.responsible_user_id), (true, 1002));
    assert_eq!(app.contacts_of("+79035550000").len(), 1);
    assert_eq!(
        s.notes.values().filter(|n| n.entity_id == lead.id).count(),
        1,
        "the answered call's note"
    );
}

#[tokio::test]
async fn r_in_u3_an_answered_call_accepts_the_earlier_pending_item() {
    let mut app = spawn_app(
        "incoming: { unknown: { mode: unsorted_accept_on_answer } }",
        "",
    )
    .await;
    app.call(0, incoming("+79031112233")).await;
    app.call(60, incoming("+79031112233").answer("203")).await;
    let s = app.state();
    assert_eq!(s.unsorted.len(), 1, "R-UNS-DEDUP: no second item");
    assert_eq!(
        s.unsorted.values().next().unwrap().state,
        UnsortedState::Accepted
    );
    assert_eq!(s.leads.values().next().unwrap().responsible_user_id, 1003);
}

#[tokio::test]
async fn r_idem_duplicated_and_reversed_delivery_changes_nothing() {
    let mut reference = spawn_app("", "").await;
    reference
        .call(
            0,
            incoming("+79031112233").ring(&["201", "202"]).answer("202"),
        )
        .await;
    reference.call(60, incoming("+79035550000")).await;
    for delivery in [Delivery::Twice, Delivery::Reversed] {
        let mut app = spawn_app("", "").await;
        app.call_with(
            0,
            incoming("+79031112233").ring(&["201", "202"]).answer("202"),
            delivery,
        )
        .await;
        app.call_with(60, incoming("+79035550000"), delivery).await;
        assert_eq!(app.picture(), reference.picture());
    }
}

#[tokio::test]
async fn r_idem_an_event_after_the_call_was_handled_is_ignored() {
    let mut app = spawn_app("", "").await;
    let spec = incoming("+79031112233").answer("201");
    app.call(0, spec).await;
    let before = app.mock.journal_len();
    let late = "event=3&call_id=1772434800.1&src_num=79031112233&src_type=1&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1772434900";
    let got = app
        .engine
        .ingest(sipamo::sipuni::event::CallEvent::parse(late).unwrap())
        .await
        .unwrap();
    assert_eq!(got, sipamo::engine::Ingested::AfterFinish);
    app.engine.settle(true).await.unwrap();
    assert_eq!(app.mock.journal_len(), before);
}

/// R-IN-U3 with R-FAIL: the accept at the answer is applied but its answer is lost. The retry is
/// refused (amoCRM documents no code for "already accepted"), so the engine reads the item,
/// finds its lead out of the Unsorted stage, and counts the accept as done: one accept applied,
/// one note, no error.
#[tokio::test]
async fn r_in_u3_a_lost_accept_answer_is_read_back_not_taken_for_a_failure() {
    let mut app = spawn_app(
        "incoming: { unknown: { mode: unsorted_accept_on_answer } }",
        "",
    )
    .await;
    let mut spec = incoming("+79031112233").ring(&["201"]).answer("201");
    spec.call_id = "lost.1".into();
    let events = spec.events(START);
    let (ring, rest) = events.split_at(1);
    app.clock.advance_to(ring[0].at * 1000);
    app.engine
        .ingest(CallEvent::parse(&ring[0].line).unwrap())
        .await
        .unwrap();
    let uid = app.state().unsorted.keys().next().unwrap().clone();
    app.arm(fail(any(&format!("/api/v4/leads/unsorted/{uid}/accept"))).hang());
    for e in rest {
        app.clock.advance_to(e.at * 1000);
        app.engine
            .ingest(CallEvent::parse(&e.line).unwrap())
            .await
            .expect("the answer is handled");
    }
    app.engine.settle(true).await.expect("the call is handled");
    let s = app.state();
    assert_eq!(s.unsorted[&uid].state, UnsortedState::Accepted);
    let accepts: Vec<u16> = app
        .mock
        .journal()
        .iter()
        .filter(|e| e.path.ends_with("/accept"))
        .map(|e| e.status)
        .collect();
    assert_eq!(
        accepts.len(),
        2,
        "the lost one and the refused retry: {accepts:?}"
    );
    assert_eq!(accepts[1], 400);
    assert_eq!(s.notes.len(), 1);
    assert_eq!(
        s.leads[&s.unsorted[&uid].lead_ids[0]].responsible_user_id,
        1001
    );
}
