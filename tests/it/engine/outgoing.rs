//! R-OUT-U1, R-OUT-K1, R-NOTE-NOTREACHED.

use sipamo::sim::mock::state::EntityKind;

use crate::engine::app::*;

#[tokio::test]
async fn r_out_u1_answered_call_to_an_unknown_number_makes_contact_and_lead_on_the_caller() {
    let mut app = spawn_app("", "").await;
    app.call(0, outgoing("+79035550011", "202", true)).await;
    let s = app.state();
    assert_eq!(app.contacts_of("+79035550011").len(), 1);
    let lead = s.leads.values().next().unwrap();
    assert_eq!(lead.responsible_user_id, 1002);
    let note = s.notes.values().next().unwrap();
    assert_eq!(
        (note.note_type.as_str(), note.params["call_status"].as_u64()),
        ("call_out", Some(4))
    );
}

#[tokio::test]
async fn r_out_u1_unanswered_call_to_an_unknown_number_creates_nothing() {
    let mut app = spawn_app("", "").await;
    app.call(0, outgoing("+79035550011", "202", false)).await;
    let s = app.state();
    assert!(s.contacts.is_empty() && s.leads.is_empty() && s.notes.is_empty());
}

#[tokio::test]
async fn r_out_k1_answered_call_to_a_known_number_makes_a_lead_when_none_is_active() {
    let mut app = spawn_app("", KNOWN).await;
    app.call(0, outgoing("+79161234567", "201", true)).await;
    let s = app.state();
    let lead = s.leads.values().next().unwrap();
    assert_eq!(
        (lead.responsible_user_id, s.contacts_of_lead(lead.id)),
        (1001, &[5001][..])
    );
}

#[tokio::test]
async fn r_note_notreached_unanswered_known_call_leaves_the_note() {
    let mut app = spawn_app("", KNOWN).await;
    app.call(0, outgoing("+79161234567", "201", false)).await;
    let s = app.state();
    assert!(s.leads.is_empty(), "no lead for an unanswered call");
    let note = s.notes.values().next().unwrap();
    assert_eq!(
        (note.entity_type, note.entity_id),
        (EntityKind::Contacts, 5001)
    );
    assert_eq!(note.params["call_status"], 6);
    assert_eq!(note.params["call_result"], "Не дозвонились");

    let mut app = spawn_app(
        "outgoing: { unanswered: { note_not_reached: false } }",
        KNOWN,
    )
    .await;
    app.call(0, outgoing("+79161234567", "201", false)).await;
    assert!(app.state().notes.is_empty());
}
