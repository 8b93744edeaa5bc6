use serde_json::json;

use crate::mock_api::helpers::*;

#[tokio::test]
async fn a_search_that_finds_nothing_answers_204_with_an_empty_body() {
    let t = spawn_mock().await;
    let a = t.get("/api/v4/contacts?query=79990000000").await;
    assert_eq!(a.status, 204);
    assert_eq!(a.text, "");
}

/// amoCRM's `query` is full-text and does not turn `8…` into `+7…` (reference/amocrm-fidelity.md,
/// D6: community reports I7, I8): a query matches where its text, or its digits, stand inside a
/// stored value; clients search by the last 10 digits and re-check the PHONE field.
#[tokio::test]
async fn search_is_full_text_without_rewriting_7_and_8() {
    let t = spawn_mock().await;
    for q in ["79161234567", "9161234567", "%2B79161234567", "1234567"] {
        let a = t.get(&format!("/api/v4/contacts?query={q}")).await;
        assert_eq!(a.status, 200, "query {q}");
        assert_eq!(
            a.json()["_embedded"]["contacts"][0]["id"],
            5001,
            "query {q}"
        );
    }
    let a = t.get("/api/v4/contacts?query=89161234567").await;
    assert_eq!(a.status, 204, "8… is other text than +7…");

    let typed = t.create_contact("8 (916) 555-00-11", 1001).await;
    let named = t
        .create_contact_named("Звонил с 9165550011", "+7 999 000-00-00", 1001)
        .await;
    let found = t.get("/api/v4/contacts?query=9165550011").await.json();
    let ids: Vec<u64> = found["_embedded"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![typed, named],
        "the phone's digits and the name's text both match"
    );
    let a = t.get("/api/v4/contacts?query=79165550011").await;
    assert_eq!(a.status, 204, "+7… does not find a number typed with 8");
}

#[tokio::test]
async fn with_leads_embeds_the_contacts_lead_ids() {
    let t = spawn_mock().await;
    let a = t
        .get("/api/v4/contacts?query=79161234567&with=leads")
        .await
        .json();
    assert_eq!(
        a["_embedded"]["contacts"][0]["_embedded"]["leads"][0]["id"],
        7001
    );
    let one = t.get("/api/v4/contacts/5001?with=leads").await.json();
    assert_eq!(one["_embedded"]["leads"][0]["id"], 7001);
    assert_eq!(one["responsible_user_id"], 1002);
}

#[tokio::test]
async fn a_created_contact_is_found_and_carries_virtual_time() {
    let t = spawn_mock().await;
    t.clock.advance_to((START + 90) * 1000);
    let id = t.create_contact("+7 903 000-11-22", 1001).await;
    let found = t.get("/api/v4/contacts?query=9030001122").await.json();
    let c = &found["_embedded"]["contacts"][0];
    assert_eq!(c["id"], id);
    assert_eq!(c["created_at"], START + 90);
    assert_eq!(c["custom_fields_values"][0]["field_code"], "PHONE");
    assert_eq!(
        c["custom_fields_values"][0]["values"][0]["value"],
        "+7 903 000-11-22"
    );
}

#[tokio::test]
async fn updating_a_contact_changes_its_phone_and_responsible() {
    let t = spawn_mock().await;
    let a = t
        .patch("/api/v4/contacts", json!([{ "id": 5001, "responsible_user_id": 1001, "custom_fields_values": [phone_field("+79035550000")] }]))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        t.get("/api/v4/contacts?query=79161234567").await.status,
        204
    );
    let c = t.get("/api/v4/contacts?query=79035550000").await.json();
    assert_eq!(c["_embedded"]["contacts"][0]["responsible_user_id"], 1001);
    let single = t
        .patch("/api/v4/contacts/5001", json!({ "name": "Иван Петрович" }))
        .await;
    assert_eq!(single.status, 200);
    assert_eq!(
        t.get("/api/v4/contacts/5001").await.json()["name"],
        "Иван Петрович"
    );
}

#[tokio::test]
async fn getting_a_missing_contact_answers_204() {
    let t = spawn_mock().await;
    assert_eq!(t.get("/api/v4/contacts/424242").await.status, 204);
}

/// Source: amoCRM API v4 «Контакты» (contacts-api): `query` searches the filled fields, EMAIL
/// included; a leads `query` finds a lead by its contact's phone (amocrm/amocrm-api-php issue
/// 303).
#[tokio::test]
async fn query_reaches_emails_and_leads_find_their_contacts_phones() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/contacts",
            json!([{ "first_name": "Гай", "custom_fields_values": [
                { "field_code": "EMAIL", "values": [{ "value": "guy@example.com" }] },
                { "field_code": "POSITION", "values": [{ "value": "тел. 4957771122" }] }] }]),
        )
        .await;
    let id = a.json()["_embedded"]["contacts"][0]["id"].as_u64().unwrap();
    for q in ["guy@example.com", "гай", "4957771122"] {
        let found = t.get(&format!("/api/v4/contacts?query={q}")).await;
        assert_eq!(found.status, 200, "query {q}");
        assert_eq!(
            found.json()["_embedded"]["contacts"][0]["id"],
            id,
            "query {q}"
        );
    }
    let leads = t.get("/api/v4/leads?query=9161234567").await;
    assert_eq!(leads.status, 200, "{}", leads.text);
    assert_eq!(leads.json()["_embedded"]["leads"][0]["id"], 7001);
}
