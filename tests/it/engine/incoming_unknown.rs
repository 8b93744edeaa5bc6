//! R-IN-U1 and R-NOTE-CALL for new clients.

use sipamo::sim::mock::state::EntityKind;

use crate::engine::app::*;

#[tokio::test]
async fn r_in_u1_answered_call_from_an_unknown_number_makes_contact_lead_and_note() {
    let mut app = spawn_app("", "").await;
    app.call(
        0,
        incoming("+7 903 111-22-33")
            .ring(&["201", "202"])
            .answer("202"),
    )
    .await;
    let s = app.state();
    let [contact] = app.contacts_of("+79031112233")[..] else {
        panic!("one contact")
    };
    assert_eq!(
        s.contacts[&contact].responsible_user_id, 1002,
        "the answerer"
    );
    assert_eq!(s.contacts[&contact].phones, vec!["+79031112233"]);
    let leads = s.leads_of_contact(contact).to_vec();
    assert_eq!(leads.len(), 1);
    let lead = &s.leads[&leads[0]];
    assert_eq!(
        (lead.pipeline_id, lead.status_id, lead.responsible_user_id),
        (3001, 41, 1002)
    );
    let notes: Vec<_> = s.notes.values().collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].entity_type, notes[0].entity_id),
        (EntityKind::Leads, lead.id),
        "R-NOTE-CALL: on the new lead"
    );
    assert_eq!(notes[0].note_type, "call_in");
    assert_eq!(notes[0].params["call_status"], 4);
    assert_eq!(notes[0].params["duration"], 60);
    assert_eq!(notes[0].params["call_responsible"], 1002);
    assert!(
        notes[0].params["link"]
            .as_str()
            .unwrap()
            .starts_with("https://sipuni.com/")
    );
    assert!(s.tasks.is_empty());
    let writes: Vec<String> = app
        .mock
        .journal()
        .iter()
        .skip(2)
        .map(|e| e.request_line())
        .collect();
    assert_eq!(
        writes,
        vec![
            "GET /api/v4/contacts?query=9031112233&with=leads".to_string(),
            "POST /api/v4/leads/complex".into(),
            format!("POST /api/v4/leads/{}/notes", lead.id),
        ]
    );
}

#[tokio::test]
async fn r_in_u1_contact_only_when_deals_are_off() {
    let mut app = spawn_app("incoming: { unknown: { create_lead: false } }", "").await;
    app.call(0, incoming("+79031112233").answer("201")).await;
    let s = app.state();
    assert_eq!(app.contacts_of("+79031112233").len(), 1);
    assert!(s.leads.is_empty());
    assert_eq!(
        s.notes.values().next().unwrap().entity_type,
        EntityKind::Contacts
    );
}

#[tokio::test]
async fn r_in_u1_scheme_pipeline_is_used() {
    let mut app = spawn_app("schemes: { \"000123\": { pipeline: 3002 } }", "").await;
    app.call(0, incoming("+79031112233").answer("201").scheme("000123"))
        .await;
    assert_eq!(app.state().leads.values().next().unwrap().pipeline_id, 3002);
}
