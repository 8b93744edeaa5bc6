//! No answer without its parts: for every write route, a body with every field the mock takes
//! is sent, the entity read back, and each field sent must be there with its value, each
//! embedded entity linked. A 200 that drops a field (as `is_main` and the tags once were)
//! fails here.

use reqwest::Method;
use serde_json::{Value, json};

use crate::mock_api::helpers::*;

/// `got` holds every key of `sent` with the same value (objects compared key by key, so that
/// extra keys amoCRM adds are allowed).
fn holds(got: &Value, sent: &Value, at: &str) -> Result<(), String> {
    match (got, sent) {
        (Value::Object(g), Value::Object(s)) => s.iter().try_for_each(|(k, v)| {
            let inner = g
                .get(k)
                .ok_or_else(|| format!("{at}.{k} is missing in {got}"))?;
            holds(inner, v, &format!("{at}.{k}"))
        }),
        (Value::Array(g), Value::Array(s)) if g.len() == s.len() => g
            .iter()
            .zip(s)
            .enumerate()
            .try_for_each(|(i, (g, s))| holds(g, s, &format!("{at}[{i}]"))),
        _ if got == sent => Ok(()),
        _ => Err(format!("{at}: sent {sent}, read back {got}")),
    }
}

fn assert_holds(got: &Value, sent: &Value, what: &str) {
    if let Err(e) = holds(got, sent, what) {
        panic!("{what}: {e}");
    }
}

async fn created(t: &TestMock, path: &str, key: &str, body: Value) -> u64 {
    let r = t.post(path, json!([body])).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.json()["_embedded"][key][0]["id"].as_u64().unwrap()
}

#[tokio::test]
async fn a_contact_reads_back_every_field_it_was_written_with() {
    let t = spawn_mock().await;
    let company = created(
        &t,
        "/api/v4/companies",
        "companies",
        json!({ "name": "Ромашка" }),
    )
    .await;
    let sent = json!({
        "name": "Иван Петров", "first_name": "Иван", "last_name": "Петров",
        "responsible_user_id": 1002, "created_at": START - 100,
        "custom_fields_values": [
            { "field_code": "PHONE", "values": [{ "value": "+79035550101", "enum_code": "WORK" },
                                                { "value": "+79035550102", "enum_code": "MOB" }] },
            { "field_code": "EMAIL", "values": [{ "value": "ivan@example.com", "enum_code": "WORK" }] }],
        "_embedded": { "companies": [{ "id": company }], "tags": [{ "name": "VIP" }] },
    });
    let id = created(&t, "/api/v4/contacts", "contacts", sent.clone()).await;
    let got = t.get(&format!("/api/v4/contacts/{id}")).await.json();
    let mut want = sent;
    want["_embedded"]["tags"] = json!([{ "name": "VIP" }]);
    let fields = want
        .as_object_mut()
        .unwrap()
        .remove("custom_fields_values")
        .unwrap();
    assert_holds(&got, &want, "contact");
    for (i, f) in fields.as_array().unwrap().iter().enumerate() {
        assert_holds(
            &got["custom_fields_values"][i]["values"],
            &f["values"],
            "contact field",
        );
        assert_eq!(
            got["custom_fields_values"][i]["field_code"],
            f["field_code"]
        );
    }
}

#[tokio::test]
async fn a_lead_reads_back_every_field_contact_company_and_tag_it_was_written_with() {
    let t = spawn_mock().await;
    let company = created(
        &t,
        "/api/v4/companies",
        "companies",
        json!({ "name": "Лютик" }),
    )
    .await;
    let other = t.create_contact("+79035550103", 1001).await;
    let sent = json!({
        "name": "Поставка", "price": 12_500, "pipeline_id": 3001, "status_id": 42,
        "responsible_user_id": 1002, "created_at": START - 50,
        "_embedded": { "contacts": [{ "id": 5001 }, { "id": other, "is_main": true }],
                       "companies": [{ "id": company }], "tags": [{ "name": "опт" }] },
        "tags_to_add": [{ "name": "срочно" }],
    });
    let id = created(&t, "/api/v4/leads", "leads", sent).await;
    let got = t
        .get(&format!("/api/v4/leads/{id}?with=contacts"))
        .await
        .json();
    let want = json!({
        "name": "Поставка", "price": 12_500, "pipeline_id": 3001, "status_id": 42,
        "responsible_user_id": 1002, "created_at": START - 50,
        "_embedded": { "contacts": [{ "id": other, "is_main": true }, { "id": 5001, "is_main": false }],
                       "companies": [{ "id": company }],
                       "tags": [{ "name": "опт" }, { "name": "срочно" }] },
    });
    assert_holds(&got, &want, "lead");
    // An update reads back too.
    let change = json!({ "name": "Поставка-2", "price": 13_000, "status_id": 41, "responsible_user_id": 1001 });
    let r = t
        .patch(&format!("/api/v4/leads/{id}"), change.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_holds(
        &t.get(&format!("/api/v4/leads/{id}")).await.json(),
        &change,
        "updated lead",
    );
}

#[tokio::test]
async fn a_company_a_task_a_note_and_an_unsorted_item_read_back_whole() {
    let t = spawn_mock().await;
    let company = json!({ "name": "Василёк", "responsible_user_id": 1002,
        "custom_fields_values": [{ "field_code": "PHONE", "values": [{ "value": "+74951110000", "enum_code": "WORK" }] }],
        "_embedded": { "tags": [{ "name": "партнёр" }] } });
    let id = created(&t, "/api/v4/companies", "companies", company.clone()).await;
    let got = t.get(&format!("/api/v4/companies/{id}")).await.json();
    assert_holds(
        &got,
        &json!({ "name": "Василёк", "responsible_user_id": 1002,
        "_embedded": { "tags": [{ "name": "партнёр" }] } }),
        "company",
    );
    assert_holds(
        &got["custom_fields_values"][0]["values"],
        &company["custom_fields_values"][0]["values"],
        "company phone",
    );

    let task = json!({ "text": "Перезвонить", "complete_till": START + 3600, "task_type_id": 2,
        "entity_type": "leads", "entity_id": 7001, "responsible_user_id": 1002, "duration": 1800 });
    let id = created(&t, "/api/v4/tasks", "tasks", task.clone()).await;
    assert_holds(
        &t.get(&format!("/api/v4/tasks/{id}")).await.json(),
        &task,
        "task",
    );

    let params = json!({ "uniq": "c-1", "duration": 95, "source": "Sipuni", "link": "https://x.test/r.mp3",
        "phone": "+79161234567", "call_status": 4, "call_responsible": 1002 });
    let note = json!({ "note_type": "call_in", "responsible_user_id": 1002, "params": params });
    let r = t
        .post("/api/v4/leads/7001/notes", json!([note.clone()]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let nid = r.json()["_embedded"]["notes"][0]["id"].as_u64().unwrap();
    assert_holds(
        &t.get(&format!("/api/v4/leads/7001/notes/{nid}"))
            .await
            .json(),
        &note,
        "note",
    );

    let item = unsorted_item("+79035550104", "rb-1", 1002);
    let r = t
        .send(
            Method::POST,
            "/api/v4/leads/unsorted/sip",
            Some(json!([item.clone()])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let uid = r.json()["_embedded"]["unsorted"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let got = t.get(&format!("/api/v4/leads/unsorted/{uid}")).await.json();
    assert_holds(
        &got,
        &json!({ "source_uid": "rb-1", "source_name": "Sipuni", "pipeline_id": 3001,
        "created_at": START, "metadata": item["metadata"] }),
        "unsorted item",
    );
    assert_eq!(
        got["_embedded"]["leads"][0]["name"],
        item["_embedded"]["leads"][0]["name"]
    );
    assert!(
        got["_embedded"]["contacts"][0]["id"].is_u64(),
        "its contact: {got}"
    );
}
