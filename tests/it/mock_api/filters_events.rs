//! Documented list filters and orders, `closest_task_at`, tasks beyond leads and contacts,
//! `account?with=…`, note types and notes by id, and the event log.

use serde_json::{Value, json};

use crate::mock_api::helpers::*;

fn ids(a: &Answer, key: &str) -> Vec<u64> {
    if a.status == 204 {
        return Vec::new();
    }
    a.json()["_embedded"][key]
        .as_array()
        .unwrap_or_else(|| panic!("{}", a.text))
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}

async fn leads_where(t: &TestMock, query: String) -> Vec<u64> {
    ids(&t.get(&format!("/api/v4/leads?{query}")).await, "leads")
}

async fn closest(t: &TestMock) -> Value {
    t.get("/api/v4/leads/7001").await.json()["closest_task_at"].clone()
}

async fn new_company(t: &TestMock, name: &str) -> u64 {
    let a = t.post("/api/v4/companies", json!([{ "name": name }])).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()["_embedded"]["companies"][0]["id"]
        .as_u64()
        .unwrap()
}

async fn new_lead(t: &TestMock, name: &str, price: u64) -> u64 {
    let a = t
        .post(
            "/api/v4/leads",
            json!([{ "name": name, "price": price, "pipeline_id": 3001 }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()["_embedded"]["leads"][0]["id"].as_u64().unwrap()
}

/// Source: amoCRM API v4 «Фильтрация списков» (filters-api) and the official PHP library's
/// `Filters/LeadsFilter.php`: created_at/updated_at/closed_at as one timestamp or a from/to
/// range, price range, name, statuses (also without a pipeline, amocrm/amocrm-api-php issue
/// 606), `order[updated_at]`. An incremental sync sees only what changed.
#[tokio::test]
async fn lead_filters_and_orders_select_what_they_say() {
    let t = spawn_mock().await;
    t.clock.advance_to((START + 100) * 1000);
    let a = new_lead(&t, "Первая", 1000).await;
    t.clock.advance_to((START + 200) * 1000);
    let b = new_lead(&t, "Вторая", 5000).await;
    t.clock.advance_to((START + 300) * 1000);
    t.patch(&format!("/api/v4/leads/{a}"), json!({ "status_id": 142 }))
        .await;
    let (s100, s200, s300) = (START + 100, START + 200, START + 300);
    assert_eq!(
        leads_where(
            &t,
            format!("filter[created_at][from]={s100}&filter[created_at][to]={s200}")
        )
        .await,
        [a, b]
    );
    assert_eq!(
        leads_where(&t, format!("filter[created_at]={s200}")).await,
        [b]
    );
    assert_eq!(
        leads_where(&t, format!("filter[updated_at][from]={s300}")).await,
        [a],
        "incremental sync"
    );
    assert_eq!(
        leads_where(&t, format!("filter[closed_at][from]={s300}")).await,
        [a]
    );
    assert_eq!(
        leads_where(&t, "filter[price][from]=2000".into()).await,
        [b]
    );
    assert_eq!(leads_where(&t, "filter[name]=Вторая".into()).await, [b]);
    assert_eq!(
        leads_where(&t, "filter[statuses][0][status_id]=142".into()).await,
        [7001, a]
    );
    assert_eq!(
        leads_where(
            &t,
            "filter[created_by]=0&order[updated_at]=desc&limit=2".into()
        )
        .await,
        [a, b]
    );
    let bad = t.get("/api/v4/leads?order[id]=sideways").await;
    assert_eq!(bad.status, 400);
    let contacts = ids(
        &t.get("/api/v4/contacts?order[id]=desc&limit=1").await,
        "contacts",
    );
    assert_eq!(contacts, [5001]);
    let other = t.create_contact("+79035557777", 1001).await;
    let contacts = ids(
        &t.get("/api/v4/contacts?order[id]=desc&limit=1").await,
        "contacts",
    );
    assert_eq!(contacts, [other]);
}

/// Source: amoCRM API v4 «Сделки» (leads-api): `closest_task_at` is the nearest deadline of
/// the lead's open tasks; the filter of the same name selects by it (filters-api).
#[tokio::test]
async fn closest_task_at_follows_the_open_tasks() {
    let t = spawn_mock().await;
    assert_eq!(closest(&t).await, Value::Null);
    let a = t
        .post(
            "/api/v4/tasks",
            json!([{ "text": "Перезвонить", "complete_till": START + 600, "entity_type": "leads", "entity_id": 7001 },
                   { "text": "Позже", "complete_till": START + 900, "entity_type": "leads", "entity_id": 7001 }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(closest(&t).await, START + 600);
    let first = a.json()["_embedded"]["tasks"][0]["id"].as_u64().unwrap();
    t.patch(
        &format!("/api/v4/tasks/{first}"),
        json!({ "is_completed": true, "result": { "text": "ok" } }),
    )
    .await;
    assert_eq!(closest(&t).await, START + 900);
    let found = t
        .get(&format!(
            "/api/v4/leads?filter[closest_task_at][from]={}",
            START + 800
        ))
        .await;
    assert_eq!(ids(&found, "leads"), [7001]);
}

/// Source: amoCRM API v4 «Задачи» (tasks-api): a task may be on a company or on nothing
/// (`entity_id`/`entity_type` null); customers only when the account has them on;
/// custom task types come from `account?with=task_types` (account-info).
#[tokio::test]
async fn tasks_go_on_companies_or_nothing_with_the_accounts_types() {
    let seed = format!("{SEED}\ntask_types: [{{ id: 7, name: Перезвонить }}]");
    let t = spawn_mock_seeded(&seed).await;
    let account = t
        .get("/api/v4/account?with=task_types,users_groups,version,datetime_settings,entity_names,amojo_id")
        .await;
    assert_eq!(account.status, 200, "{}", account.text);
    let acc = account.json();
    let types: Vec<u64> = acc["_embedded"]["task_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(types, [1, 2, 7]);
    assert!(acc["amojo_id"].is_string() && acc["version"].is_number());
    // Under `_embedded`, where the PHP library reads it (`Models/AccountModel.php:427-437`).
    assert!(acc["_embedded"]["datetime_settings"]["timezone"].is_string());
    assert!(
        acc["_embedded"]["users_groups"].is_array() && acc["_embedded"]["entity_names"].is_object()
    );
    let co = new_company(&t, "Ромашка").await;
    let a = t
        .post(
            "/api/v4/tasks",
            json!([{ "text": "Счёт", "complete_till": START + 60, "entity_type": "companies", "entity_id": co, "task_type_id": 7 },
                   { "text": "Планёрка", "complete_till": START + 60 }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let orphan = a.json()["_embedded"]["tasks"][1]["id"].as_u64().unwrap();
    let got = t.get(&format!("/api/v4/tasks/{orphan}")).await.json();
    assert_eq!(
        (got["entity_id"].clone(), got["entity_type"].clone()),
        (Value::Null, Value::Null)
    );
    let c = t.get(&format!("/api/v4/companies/{co}")).await.json();
    assert_eq!(c["closest_task_at"], START + 60);
    for (body, path) in [
        (
            json!({ "text": "x", "complete_till": START, "entity_type": "customers", "entity_id": 1 }),
            "entity_type",
        ),
        (
            json!({ "text": "x", "complete_till": START, "task_type_id": 8 }),
            "task_type_id",
        ),
    ] {
        let bad = t.post("/api/v4/tasks", json!([body])).await;
        assert_eq!(bad.status, 400, "{}", bad.text);
        assert_eq!(
            bad.json()["validation-errors"][0]["errors"][0]["path"],
            path
        );
    }
}

/// Source: amoCRM API v4 «События и примечания», «Типы примечаний»: each note type requires
/// its params (sms: text and phone; service_message: service and text); notes go on companies
/// too, and a note is read by id as `/{entity}/notes/{id}` and `/{entity}/{entity_id}/notes/{id}`.
#[tokio::test]
async fn every_note_type_checks_its_params_and_reads_back_by_id() {
    let t = spawn_mock().await;
    let bad = t
        .post(
            "/api/v4/contacts/5001/notes",
            json!([{ "note_type": "sms_in", "params": { "text": "Перезвоните" } },
                   { "note_type": "service_message", "params": { "text": "x" } }]),
        )
        .await;
    assert_eq!(bad.status, 400);
    let paths: Vec<String> = bad.json()["validation-errors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["errors"].as_array().unwrap().iter())
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, ["params.phone", "params.service"]);
    let ok = t
        .post(
            "/api/v4/contacts/5001/notes",
            json!([{ "note_type": "sms_out", "params": { "text": "Ждём вас", "phone": "+79161234567" } },
                   { "note_type": "extended_service_message", "params": { "service": "sipamo", "text": "ok" } }]),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let note = ok.json()["_embedded"]["notes"][0]["id"].as_u64().unwrap();
    for path in [
        format!("/api/v4/contacts/notes/{note}"),
        format!("/api/v4/contacts/5001/notes/{note}"),
    ] {
        let a = t.get(&path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.json()["note_type"], "sms_out");
    }
    assert_eq!(
        t.get(&format!("/api/v4/leads/notes/{note}")).await.status,
        204,
        "not a lead note"
    );
    let co = new_company(&t, "Ромашка").await;
    let n = t
        .post(
            &format!("/api/v4/companies/{co}/notes"),
            json!([{ "note_type": "common", "params": { "text": "Звонили" } }]),
        )
        .await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(
        ids(
            &t.get(&format!("/api/v4/companies/{co}/notes")).await,
            "notes"
        )
        .len(),
        1
    );
}

/// Source: amoCRM API v4 «События и примечания» (events-and-notes): `GET /api/v4/events`
/// lists `lead_added`, `contact_added`, `lead_status_changed` (with `value_after` and
/// `value_before`) and `incoming_call`, newest first, filtered by type and entity.
#[tokio::test]
async fn the_event_log_records_what_happened() {
    let t = spawn_mock().await;
    t.clock.advance_to((START + 10) * 1000);
    let lead = new_lead(&t, "Звонок", 0).await;
    t.clock.advance_to((START + 20) * 1000);
    t.patch(&format!("/api/v4/leads/{lead}"), json!({ "status_id": 42 }))
        .await;
    t.post(
        &format!("/api/v4/leads/{lead}/notes"),
        json!([{ "note_type": "call_in", "params": { "uniq": "c1", "duration": 5, "source": "sipuni", "phone": "+79161234567", "link": null } }]),
    )
    .await;
    let all = t
        .get(&format!(
            "/api/v4/events?filter[created_at][from]={}",
            START + 1
        ))
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let kinds: Vec<String> = all.json()["_embedded"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["incoming_call", "lead_status_changed", "lead_added"]
    );
    let changed = t
        .get(&format!("/api/v4/events?filter[type]=lead_status_changed&filter[entity]=lead&filter[entity_id]={lead}"))
        .await
        .json();
    let e = &changed["_embedded"]["events"][0];
    assert_eq!(e["value_after"][0]["lead_status"]["id"], 42);
    assert_eq!(e["value_before"][0]["lead_status"]["id"], 41);
    let one = t
        .get(&format!("/api/v4/events/{}", e["id"].as_str().unwrap()))
        .await;
    assert_eq!(one.json()["type"], "lead_status_changed");
    assert_eq!(
        t.get("/api/v4/events?filter[type]=sale_field_changed")
            .await
            .status,
        400
    );
}

/// Source: amoCRM API v4 «Сделки» and «Контакты»: the `If-Modified-Since` header makes a list
/// answer only what changed after that moment (how incremental syncs poll).
#[tokio::test]
async fn if_modified_since_lists_only_what_changed_after_it() {
    let t = spawn_mock().await;
    t.clock.advance_to((START + 3600) * 1000);
    let fresh = new_lead(&t, "Свежая", 0).await;
    let since = chrono::DateTime::from_timestamp(START + 60, 0)
        .unwrap()
        .to_rfc2822()
        .replace("+0000", "GMT");
    let get = |path: &'static str, since: String| {
        t.http
            .get(format!("{}{path}", t.mock.uri()))
            .bearer_auth(t.mock.token())
            .header("If-Modified-Since", since)
            .send()
    };
    let a = get("/api/v4/leads", since.clone()).await.unwrap();
    let body: Value = a.json().await.unwrap();
    let ids: Vec<u64> = body["_embedded"]["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [fresh], "the seeded lead is older");
    let none = get("/api/v4/contacts", since).await.unwrap();
    assert_eq!(none.status(), 204);
    let bad = get("/api/v4/leads", "yesterday".into()).await.unwrap();
    assert_eq!(bad.status(), 400);
}
