use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_search_that_finds_nothing_answers_204_with_an_empty_body() {
    let t = spawn_mock().await;
    let a = t.get("/api/v4/contacts?query=79990000000").await;
    assert_eq!(a.status, 204);
    assert_eq!(a.text, "");
}

#[tokio::test]
async fn search_matches_phones_on_the_last_ten_digits_in_any_notation() {
    let t = spawn_mock().await;
    for q in [
        "79161234567",
        "89161234567",
        "9161234567",
        "%2B7%20(916)%20123-45-67",
    ] {
        let a = t.get(&format!("/api/v4/contacts?query={q}")).await;
        assert_eq!(a.status, 200, "query {q}");
        assert_eq!(
            a.json()["_embedded"]["contacts"][0]["id"],
            5001,
            "query {q}"
        );
    }
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
    let found = t.get("/api/v4/contacts?query=89030001122").await.json();
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
