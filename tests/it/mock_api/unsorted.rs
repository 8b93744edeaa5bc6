use serde_json::json;

use crate::mock_api::helpers::*;

/// amoCRM hides a pending item's contact until the item is accepted, while its lead stands in
/// the Unsorted stage and is listed by the leads API there (API docs «Неразобранное»: the lead
/// is created in the pipeline's Unsorted status; «Сделки»: `filter[statuses]` of that stage).
#[tokio::test]
async fn a_pending_items_contact_is_hidden_from_search_and_lists() {
    let t = spawn_mock().await;
    let (uid, contact, lead) = t.create_unsorted("+79035553333", "call-1", 1001).await;
    assert_eq!(
        t.get("/api/v4/contacts?query=79035553333").await.status,
        204
    );
    assert_eq!(
        t.get(&format!("/api/v4/contacts/{contact}")).await.status,
        204
    );
    let leads = t
        .get("/api/v4/leads?filter[statuses][0][pipeline_id]=3001&filter[statuses][0][status_id]=40&with=contacts")
        .await;
    assert_eq!(leads.status, 200, "{}", leads.text);
    let found = &leads.json()["_embedded"]["leads"][0];
    assert_eq!(found["id"], lead);
    assert_eq!(
        found["_embedded"]["contacts"],
        json!([]),
        "its contact stays hidden"
    );
    let list = t
        .get("/api/v4/leads/unsorted?filter[category][]=sip")
        .await
        .json();
    assert_eq!(list["_embedded"]["unsorted"][0]["uid"], uid.as_str());
    let one = t.get(&format!("/api/v4/leads/unsorted/{uid}")).await.json();
    assert_eq!(one["metadata"]["call_responsible"], 1001);
    assert_eq!(
        one["_embedded"]["leads"][0]["status_id"], 40,
        "the lead sits in the Unsorted stage"
    );
}

#[tokio::test]
async fn an_accepted_items_lead_becomes_visible_with_the_accepting_user_responsible() {
    let t = spawn_mock().await;
    let (uid, contact, lead) = t.create_unsorted("+79035554444", "call-2", 1001).await;
    let a = t
        .post(
            &format!("/api/v4/leads/unsorted/{uid}/accept"),
            json!({ "user_id": 1002 }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["_embedded"]["leads"][0]["id"], lead);
    let l = t.get(&format!("/api/v4/leads/{lead}")).await.json();
    assert_eq!(l["responsible_user_id"], 1002);
    assert_eq!(
        l["status_id"], 41,
        "the lead leaves Unsorted for the first normal stage"
    );
    let found = t.get("/api/v4/contacts?query=79035554444").await.json();
    assert_eq!(found["_embedded"]["contacts"][0]["id"], contact);
    assert_eq!(
        t.get(&format!("/api/v4/leads/unsorted/{uid}")).await.status,
        204
    );
    let again = t
        .post(&format!("/api/v4/leads/unsorted/{uid}/accept"), json!({}))
        .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn a_declined_items_contact_and_lead_are_gone_for_good() {
    let t = spawn_mock().await;
    let (uid, contact, lead) = t.create_unsorted("+79035555555", "call-3", 1001).await;
    let d = t
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v4/leads/unsorted/{uid}/decline"),
            Some(json!({ "user_id": 1001 })),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(
        t.get("/api/v4/contacts?query=79035555555").await.status,
        204
    );
    assert_eq!(
        t.get(&format!("/api/v4/contacts/{contact}")).await.status,
        204
    );
    assert_eq!(t.get(&format!("/api/v4/leads/{lead}")).await.status, 204);
    t.mock.with_state(|s| {
        assert!(!s.contacts.contains_key(&contact), "deleted, not hidden");
        assert!(!s.leads.contains_key(&lead));
    });
    // The phone is unknown again: a new item for it can be created.
    t.create_unsorted("+79035555555", "call-4", 1001).await;
}

/// amoCRM: "2 identical entities cannot be in Unsorted" (API docs, «Неразобранное»), with no
/// documented code: a plain 400 problem without `validation-errors`, so no client can come to
/// depend on an invented code.
#[tokio::test]
async fn the_same_source_uid_twice_is_refused() {
    let t = spawn_mock().await;
    t.create_unsorted("+79035556666", "call-5", 1001).await;
    let a = t
        .post(
            "/api/v4/leads/unsorted/sip",
            json!([unsorted_item("+79035556666", "call-5", 1001)]),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.json().get("validation-errors").is_none(), "{}", a.text);
    assert!(a.json()["detail"].as_str().unwrap().contains("call-5"));
    assert_eq!(t.mock.with_state(|s| s.unsorted.len()), 1);
}

/// amoCRM requires only `source_uid` and `source_name` (Kommo docs, incoming leads; amoCRM
/// docs, Unsorted, list no required metadata); the official
/// PHP library (`SipMetadata::toApi`) sends `from`, `link` and `call_responsible` as null when
/// unset; `call_responsible` may be a user id, a phone or a name (the amoCRM sip metadata
/// table: «ID пользователя amoCRM, номер телефона или имя»).
#[tokio::test]
async fn a_sip_item_needs_only_what_amocrm_requires() {
    let t = spawn_mock().await;
    let mut item = unsorted_item("+79035557777", "call-6", 1001);
    let meta = item["metadata"].as_object_mut().unwrap();
    for f in ["uniq", "from", "duration"] {
        meta.remove(f);
    }
    meta.insert("call_responsible".into(), json!("+79030000000"));
    meta.insert("link".into(), json!(null));
    let a = t.post("/api/v4/leads/unsorted/sip", json!([item])).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let bare = json!([{ "source_uid": "call-7", "source_name": "Sipuni",
        "_embedded": { "contacts": [{ "name": "c" }] } }]);
    let b = t.post("/api/v4/leads/unsorted/sip", bare).await;
    assert_eq!(b.status, 200, "no metadata at all: {}", b.text);
    let no_uid = json!([{ "source_name": "Sipuni" }]);
    assert_eq!(
        t.post("/api/v4/leads/unsorted/sip", no_uid).await.status,
        400
    );
}

/// `GET /leads/unsorted/summary` answers what the official PHP library reads
/// (`Models/Unsorted/UnsortedSummaryModel.php`: total, accepted, declined, average_sort_time,
/// categories), counted from the items and the times they were decided.
#[tokio::test]
async fn the_summary_counts_items_and_the_time_to_decide() {
    let t = spawn_mock().await;
    let (a, _, _) = t.create_unsorted("+79035550001", "call-s1", 1001).await;
    let (d, _, _) = t.create_unsorted("+79035550002", "call-s2", 1001).await;
    t.create_unsorted("+79035550003", "call-s3", 1001).await;
    t.clock.advance_to((START + 60) * 1000);
    let accept = format!("/api/v4/leads/unsorted/{a}/accept");
    assert_eq!(
        t.post(&accept, json!({ "user_id": 1001 })).await.status,
        200
    );
    t.clock.advance_to((START + 120) * 1000);
    let decline = format!("/api/v4/leads/unsorted/{d}/decline");
    let declined = t.send(reqwest::Method::DELETE, &decline, None).await;
    assert_eq!(declined.status, 200, "{}", declined.text);
    let s = t.get("/api/v4/leads/unsorted/summary").await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(
        s.json(),
        json!({ "total": 3, "accepted": 1, "declined": 1, "average_sort_time": 90,
                "categories": { "sip": 3, "forms": 0 } })
    );
}
