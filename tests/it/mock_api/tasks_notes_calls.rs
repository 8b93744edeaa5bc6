use serde_json::json;

use crate::mock_api::helpers::*;

fn call_params(uniq: &str) -> serde_json::Value {
    json!({ "uniq": uniq, "duration": 95, "source": "sipuni", "link": "https://sipuni.com/record/x",
            "phone": "+79161234567", "call_status": 4, "call_responsible": 1001 })
}

#[tokio::test]
async fn tasks_are_created_filtered_and_completed() {
    let t = spawn_mock().await;
    let a = t
        .post("/api/v4/tasks", json!([
            { "task_type_id": 1, "text": "Перезвонить клиенту", "complete_till": START + 3600, "entity_id": 5001, "entity_type": "contacts", "responsible_user_id": 1002 },
            { "task_type_id": 1, "text": "Перезвонить клиенту", "complete_till": START + 7200, "entity_id": 7001, "entity_type": "leads", "responsible_user_id": 1001 }
        ]))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let first = a.json()["_embedded"]["tasks"][0]["id"].as_u64().unwrap();
    let open = t.get("/api/v4/tasks?filter[is_completed]=0&filter[entity_type]=contacts&filter[entity_id][]=5001").await.json();
    assert_eq!(open["_embedded"]["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(open["_embedded"]["tasks"][0]["complete_till"], START + 3600);
    let by_user = t
        .get("/api/v4/tasks?filter[responsible_user_id]=1001")
        .await
        .json();
    assert_eq!(by_user["_embedded"]["tasks"][0]["entity_type"], "leads");
    let done = t
        .patch(
            &format!("/api/v4/tasks/{first}"),
            json!({ "is_completed": true, "result": { "text": "Перезвонили" } }),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(
        t.get(&format!("/api/v4/tasks/{first}")).await.json()["is_completed"],
        true
    );
    assert_eq!(
        t.get("/api/v4/tasks?filter[is_completed]=0&filter[entity_id][]=5001")
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_task_on_a_missing_entity_is_refused_with_its_path() {
    let t = spawn_mock().await;
    let a = t.post("/api/v4/tasks", json!([{ "text": "x", "complete_till": START, "entity_id": 999, "entity_type": "leads" }])).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["validation-errors"][0]["errors"][0]["path"],
        "entity_id"
    );
}

#[tokio::test]
async fn call_notes_land_on_the_entity_and_are_listed() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/leads/notes",
            json!([{ "entity_id": 7001, "note_type": "call_in", "params": call_params("c1") }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let b = t
        .post(
            "/api/v4/contacts/5001/notes",
            json!([{ "note_type": "call_out", "params": call_params("c2") }]),
        )
        .await;
    assert_eq!(b.status, 200, "{}", b.text);
    let c = t
        .post(
            "/api/v4/contacts/5001/notes",
            json!([{ "note_type": "common", "params": { "text": "Привет" } }]),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let on_lead = t.get("/api/v4/leads/7001/notes").await.json();
    assert_eq!(on_lead["_embedded"]["notes"][0]["params"]["uniq"], "c1");
    let on_contact = t
        .get("/api/v4/contacts/notes?filter[entity_id][]=5001&filter[note_type][]=call_out")
        .await
        .json();
    assert_eq!(
        on_contact["_embedded"]["notes"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_call_note_without_its_required_params_is_refused() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/leads/7001/notes",
            json!([{ "note_type": "call_in", "params": { "uniq": "c1", "source": "sipuni" } }]),
        )
        .await;
    assert_eq!(a.status, 400);
    let paths: Vec<String> = a.json()["validation-errors"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, vec!["params.phone", "params.duration"]);
}

#[tokio::test]
async fn calls_go_to_the_single_active_lead_else_to_the_contact() {
    let t = spawn_mock().await;
    let call = |uniq: &str| json!([{ "direction": "inbound", "uniq": uniq, "duration": 30, "source": "sipuni", "phone": "89161234567", "call_status": 4 }]);
    // Only a won lead: the call goes to the contact.
    let a = t.post("/api/v4/calls", call("a")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["_embedded"]["calls"][0]["entity_type"], "contacts");
    // One active lead: the call goes to it.
    let l = t
        .post(
            "/api/v4/leads",
            json!([{ "name": "x", "_embedded": { "contacts": [{ "id": 5001 }] } }]),
        )
        .await
        .json();
    let lead = l["_embedded"]["leads"][0]["id"].clone();
    let b = t.post("/api/v4/calls", call("b")).await.json();
    assert_eq!(
        (
            b["_embedded"]["calls"][0]["entity_type"].clone(),
            b["_embedded"]["calls"][0]["entity_id"].clone()
        ),
        (json!("leads"), lead)
    );
    // Two active leads: back to the contact.
    t.post(
        "/api/v4/leads",
        json!([{ "name": "y", "_embedded": { "contacts": [{ "id": 5001 }] } }]),
    )
    .await;
    let c = t.post("/api/v4/calls", call("c")).await.json();
    assert_eq!(c["_embedded"]["calls"][0]["entity_type"], "contacts");
}

/// amoCRM API docs «Звонки»: only direction, duration, source and phone are required; the
/// official PHP library sends `"uniq": null` when none is set (Models/CallModel.php) and reads
/// the entity from `_embedded.entity` (EntitiesServices/Calls.php). Errors name the fields
/// where they are: at the top level of the call.
#[tokio::test]
async fn a_call_without_uniq_is_logged_and_answers_its_entity() {
    let t = spawn_mock().await;
    let call = json!([{ "direction": "outbound", "uniq": null, "duration": 12, "source": "sipuni", "phone": "89161234567" }]);
    let a = t.post("/api/v4/calls", call).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let created = &a.json()["_embedded"]["calls"][0];
    assert_eq!(created["_embedded"]["entity"]["id"], 5001, "{created}");
    let bad = t
        .post(
            "/api/v4/calls",
            json!([{ "direction": "inbound", "source": "sipuni", "phone": "89161234567" }]),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["validation-errors"][0]["errors"][0]["path"],
        "duration"
    );
}

#[tokio::test]
async fn a_call_from_an_unknown_phone_gets_the_documented_400() {
    let t = spawn_mock().await;
    let a = t.post("/api/v4/calls", json!([{ "direction": "inbound", "uniq": "u", "duration": 1, "source": "sipuni", "phone": "+79990001122" }])).await;
    assert_eq!(a.status, 400);
    let body = a.json();
    assert_eq!(body["_total_items"], 0);
    assert_eq!(body["errors"][0]["status"], 263);
    assert_eq!(body["errors"][0]["title"], "Entity not found");
}
