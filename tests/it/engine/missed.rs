//! R-MISS-TASK, R-MISS-BIND, R-MISS-DEDUP (the seed's example), R-MISS-RESP, R-MISS-KNOWN.

use sipamo::sim::mock::state::EntityKind;

use crate::engine::app::*;

#[tokio::test]
async fn r_miss_task_a_missed_call_gets_a_callback_task_due_after_the_deadline() {
    let mut app = spawn_app("incoming: { missed: { task_deadline: 900 } }", "").await;
    app.call(0, incoming("+79031112233").ring(&["201"])).await;
    let s = app.state();
    let task = s.tasks.values().next().expect("a task");
    assert_eq!(task.task_type_id, 1);
    assert!(task.text.starts_with("Перезвонить клиенту"));
    assert_eq!(task.complete_till, START + 10 + 900, "hangup + deadline");
    let lead = s.leads.values().next().unwrap();
    assert_eq!(
        (task.entity_type, task.entity_id),
        (EntityKind::Leads, lead.id),
        "R-MISS-BIND: on the new lead"
    );
    let note = s.notes.values().next().unwrap();
    assert_eq!(note.params["call_status"], 6);
}

#[tokio::test]
async fn r_miss_bind_off_puts_the_task_on_the_contact() {
    let mut app = spawn_app("incoming: { missed: { bind_task_to_lead: false } }", "").await;
    app.call(0, incoming("+79031112233")).await;
    let s = app.state();
    let task = s.tasks.values().next().unwrap();
    assert_eq!(task.entity_type, EntityKind::Contacts);
    assert_eq!(
        task.complete_till,
        START + 10 + 3600,
        "empty deadline is an hour"
    );
}

#[tokio::test]
async fn r_miss_dedup_the_seeds_example_gives_two_tasks() {
    // Deadline 300 s; missed at 0:00, 1:00, 3:00 and 6:00 → tasks due 5:00 and 11:00.
    let mut app = spawn_app("incoming: { missed: { task_deadline: 300 } }", "").await;
    for minute in [0, 1, 3, 6] {
        let mut spec = incoming("+79031112233");
        spec.ring_time = 0;
        app.call(minute * 60, spec).await;
    }
    let s = app.state();
    let mut due: Vec<i64> = s.tasks.values().map(|t| t.complete_till - START).collect();
    due.sort();
    assert_eq!(due, vec![300, 660]);
}

#[tokio::test]
async fn r_miss_dedup_a_completed_task_does_not_block_a_new_one() {
    let mut app = spawn_app("incoming: { missed: { task_deadline: 300 } }", "").await;
    app.call(0, incoming("+79031112233")).await;
    app.mock.complete_tasks("+79031112233").unwrap();
    app.call(60, incoming("+79031112233")).await;
    assert_eq!(app.state().tasks.len(), 2);
}

#[tokio::test]
async fn r_miss_resp_first_user_on_the_line_or_default_manager() {
    let mut app = spawn_app("incoming: { missed: { first_user_responsible: true } }", "").await;
    app.call(0, incoming("+79031112233").ring(&["203", "202"]))
        .await;
    let s = app.state();
    assert!(s.tasks.values().all(|t| t.responsible_user_id == 1003));
    assert!(s.leads.values().all(|l| l.responsible_user_id == 1003));
    assert!(s.contacts.values().all(|c| c.responsible_user_id == 1003));

    let mut app = spawn_app("", "").await;
    app.call(0, incoming("+79031112233").ring(&["203", "202"]))
        .await;
    assert!(
        app.state()
            .tasks
            .values()
            .all(|t| t.responsible_user_id == 1001),
        "default manager"
    );
}

#[tokio::test]
async fn r_miss_known_lead_and_task_go_to_the_contacts_responsible() {
    let mut app = spawn_app(
        "incoming: { missed: { first_user_responsible: true } }",
        KNOWN,
    )
    .await;
    app.call(0, incoming("+79161234567").ring(&["201"])).await;
    let s = app.state();
    let lead = s.leads.values().next().unwrap();
    assert_eq!(lead.responsible_user_id, 1003);
    let task = s.tasks.values().next().unwrap();
    assert_eq!((task.responsible_user_id, task.entity_id), (1003, lead.id));
}
