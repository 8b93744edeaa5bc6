//! R-IN-K1 and R-NOTE-CALL for known clients.

use sipamo::sim::mock::state::EntityKind;

use crate::engine::app::*;

#[tokio::test]
async fn r_in_k1_known_contact_without_active_lead_gets_one() {
    let mut app = spawn_app(
        "",
        &format!("{KNOWN}leads: [{{ id: 7001, contact: 5001, status: 142 }}]"),
    )
    .await;
    app.call(0, incoming("89161234567").answer("202")).await;
    let s = app.state();
    assert_eq!(s.contacts.len(), 1, "no new contact");
    let new: Vec<_> = s.leads.values().filter(|l| l.id != 7001).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(
        (new[0].responsible_user_id, s.contacts_of_lead(new[0].id)),
        (1002, &[5001][..])
    );
    let note = s.notes.values().next().unwrap();
    assert_eq!(
        (note.entity_type, note.entity_id),
        (EntityKind::Leads, new[0].id)
    );
}

#[tokio::test]
async fn r_in_k1_an_active_lead_means_no_new_lead_and_the_note_goes_on_it() {
    let mut app = spawn_app(
        "",
        &format!("{KNOWN}leads: [{{ id: 7001, contact: 5001, status: 41 }}]"),
    )
    .await;
    app.call(0, incoming("+79161234567").answer("201")).await;
    let s = app.state();
    assert_eq!(s.leads.len(), 1);
    let note = s.notes.values().next().unwrap();
    assert_eq!(
        (note.entity_type, note.entity_id),
        (EntityKind::Leads, 7001)
    );
}

#[tokio::test]
async fn r_note_call_with_two_active_leads_goes_on_the_contact() {
    let mut app = spawn_app("", &format!("{KNOWN}leads: [{{ id: 7001, contact: 5001, status: 41 }}, {{ id: 7002, contact: 5001, status: 41 }}]")).await;
    app.call(0, incoming("+79161234567").answer("201")).await;
    let note = app.state().notes.values().next().cloned().unwrap();
    assert_eq!(
        (note.entity_type, note.entity_id),
        (EntityKind::Contacts, 5001)
    );
}

#[tokio::test]
async fn r_in_k1_option_off_never_creates_a_lead() {
    let mut app = spawn_app(
        "incoming: { known: { create_lead_if_no_active: false } }",
        KNOWN,
    )
    .await;
    app.call(0, incoming("+79161234567").answer("201")).await;
    let s = app.state();
    assert!(s.leads.is_empty());
    assert_eq!(
        s.notes.values().next().unwrap().entity_type,
        EntityKind::Contacts
    );
}

#[tokio::test]
async fn r_in_k1_several_contacts_share_the_phone_the_lowest_id_is_used() {
    let extra = "contacts: [{ id: 5009, phone: \"+79161234567\", responsible: 1002 }, { id: 5003, phone: \"8 916 123 45 67\", responsible: 1003 }]";
    let mut app = spawn_app("", extra).await;
    app.call(0, incoming("+79161234567").answer("201")).await;
    let s = app.state();
    let lead = s.leads.values().next().unwrap();
    assert_eq!(s.contacts_of_lead(lead.id), &[5003]);
}
