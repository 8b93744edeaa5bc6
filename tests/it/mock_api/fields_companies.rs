//! Custom fields, companies and entity links, as amoCRM's documentation and the official PHP
//! library use them.

use serde_json::{Value, json};

use crate::mock_api::helpers::*;

/// The id of the field with `code` on `entity`, read the way clients read it.
async fn field_id(t: &TestMock, entity: &str, code: &str) -> u64 {
    let a = t.get(&format!("/api/v4/{entity}/custom_fields")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()["_embedded"]["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .and_then(|f| f["id"].as_u64())
        .unwrap_or_else(|| panic!("no {code} on {entity}: {}", a.text))
}

/// Source: amoCRM API v4 «Дополнительные поля» (custom-fields): `GET /api/v4/contacts/
/// custom_fields` lists the account's fields with ids and enums, and a field by id answers the
/// same object. An ORM-style client reads this before it can save a contact.
#[tokio::test]
async fn the_account_lists_its_fields_with_ids_and_enums() {
    let t = spawn_mock().await;
    let phone = field_id(&t, "contacts", "PHONE").await;
    let one = t
        .get(&format!("/api/v4/contacts/custom_fields/{phone}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    let f = one.json();
    assert_eq!(f["type"], "multitext");
    let kinds: Vec<&str> = f["enums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]);
    assert!(field_id(&t, "companies", "WEB").await > 0);
    let leads = t.get("/api/v4/leads/custom_fields").await;
    assert_eq!(leads.status, 204, "leads have no system fields");
    let wrong = t.get(&format!("/api/v4/leads/custom_fields/{phone}")).await;
    assert_eq!(wrong.status, 404, "PHONE is a contact field");
}

/// Source: the official PHP library (`MultitextCustomFieldValueModel::toApi`) sends
/// `field_id` with `field_code: null` and `enum_id: null` when only `enum_code` is set; amoCRM
/// «Примеры заполнения дополнительных полей»: EMAIL and PHONE values keep their kind. The
/// contact reads back as written: first and last names, EMAIL, and the phone's MOB.
#[tokio::test]
async fn a_contact_reads_back_as_the_official_library_wrote_it() {
    let t = spawn_mock().await;
    let phone = field_id(&t, "contacts", "PHONE").await;
    let position = field_id(&t, "contacts", "POSITION").await;
    let a = t
        .post(
            "/api/v4/contacts",
            json!([{
                "first_name": "Пётр", "last_name": "Смирнов",
                "custom_fields_values": [
                    { "field_id": phone, "field_code": null,
                      "values": [{ "value": "+79035551122", "enum_id": null, "enum_code": "MOB" }] },
                    { "field_id": null, "field_code": "EMAIL",
                      "values": [{ "value": "petr@example.com", "enum_code": "PRIV" }] },
                    { "field_id": position, "values": [{ "value": "Директор" }] },
                ],
            }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let id = a.json()["_embedded"]["contacts"][0]["id"].as_u64().unwrap();
    let c = t.get(&format!("/api/v4/contacts/{id}")).await.json();
    assert_eq!(c["name"], "Пётр Смирнов");
    assert_eq!(
        (c["first_name"].as_str(), c["last_name"].as_str()),
        (Some("Пётр"), Some("Смирнов"))
    );
    let cf = c["custom_fields_values"].as_array().unwrap();
    let by_code = |code: &str| {
        cf.iter()
            .find(|f| f["field_code"] == code)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_code("PHONE")["values"][0]["enum_code"], "MOB");
    assert_eq!(by_code("PHONE")["field_id"], phone);
    assert_eq!(by_code("EMAIL")["values"][0]["value"], "petr@example.com");
    assert_eq!(by_code("EMAIL")["values"][0]["enum_code"], "PRIV");
    assert_eq!(by_code("POSITION")["values"][0]["value"], "Директор");
    // Found by its phone like any other.
    let found = t.get("/api/v4/contacts?query=9035551122").await.json();
    assert_eq!(found["_embedded"]["contacts"][0]["id"], id);
}

/// Source: amoCRM's answer to an unknown field id, as reported against the official PHP library
/// (amocrm/amocrm-api-php issue 21): `400`, code `NotSupportedChoice`, path
/// `custom_fields_values.0.field_id`. Nothing is created.
#[tokio::test]
async fn an_unknown_field_id_is_refused_at_its_path() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/leads",
            json!([{ "name": "some lead",
                     "custom_fields_values": [{ "field_id": 123, "field_code": null,
                                                "values": [{ "value": "Текст" }] }] }]),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let e = &a.json()["validation-errors"][0]["errors"][0];
    assert_eq!(e["code"], "NotSupportedChoice");
    assert_eq!(e["path"], "custom_fields_values.0.field_id");
    assert_eq!(
        t.mock.with_state(|s| s.leads.len()),
        1,
        "only the seeded lead"
    );
}

/// Source: amocrm/amocrm-api-php issue 115: a select value that is not one of the field's
/// choices → `NotSupportedChoice` at `custom_fields_values.N.values.0.value`. A seeded lead
/// field keeps its value through an update and reads back.
#[tokio::test]
async fn lead_fields_from_the_account_yaml_are_kept_and_checked() {
    let seed = format!(
        "{SEED}\ncustom_fields: [{{ entity: leads, name: Источник, type: select, enums: [Сайт, Звонок] }},\n                {{ entity: leads, name: Бюджет, type: numeric }}]"
    );
    let t = spawn_mock_seeded(&seed).await;
    let fields = t.get("/api/v4/leads/custom_fields").await.json();
    let ids: Vec<u64> = fields["_embedded"]["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .collect();
    let (source, budget) = (ids[0], ids[1]);
    let bad = t
        .patch(
            "/api/v4/leads/7001",
            json!({ "custom_fields_values": [{ "field_id": source, "values": [{ "value": "Почта" }] }] }),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["validation-errors"][0]["errors"][0]["path"],
        "custom_fields_values.0.values.0.value"
    );
    let ok = t
        .patch(
            "/api/v4/leads/7001",
            json!({ "custom_fields_values": [
                { "field_id": source, "values": [{ "value": "Звонок" }] },
                { "field_id": budget, "values": [{ "value": 15000 }] }] }),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let lead = t.get("/api/v4/leads/7001").await.json();
    let cf = &lead["custom_fields_values"];
    assert_eq!(cf[0]["values"][0]["value"], "Звонок");
    assert!(cf[0]["values"][0]["enum_id"].as_u64().is_some());
    assert_eq!(cf[1]["values"][0]["value"], "15000");
    // `values: null` clears a field.
    t.patch(
        "/api/v4/leads/7001",
        json!({ "custom_fields_values": [{ "field_id": budget, "values": null }] }),
    )
    .await;
    let lead = t.get("/api/v4/leads/7001").await.json();
    assert_eq!(lead["custom_fields_values"].as_array().unwrap().len(), 1);
}

/// Source: amoCRM API v4 «Компании» (companies-api) and «Связи сущностей»
/// (entity-links-api): a company is created, found by name and phone, updated, linked to a
/// contact and a lead, listed in their `_embedded.companies` and in its own links; unlink
/// answers 204 and the link is gone.
#[tokio::test]
async fn companies_are_created_found_and_linked() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/companies",
            json!([{ "name": "ООО Ромашка", "custom_fields_values": [phone_field("+74951234567")] }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let co = a.json()["_embedded"]["companies"][0]["id"]
        .as_u64()
        .unwrap();
    for q in ["ромашка", "4951234567"] {
        let f = t.get(&format!("/api/v4/companies?query={q}")).await;
        assert_eq!(f.json()["_embedded"]["companies"][0]["id"], co, "query {q}");
    }
    let up = t
        .patch(
            &format!("/api/v4/companies/{co}"),
            json!({ "name": "ООО Ромашка+" }),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    let link = t
        .post(
            &format!("/api/v4/companies/{co}/link"),
            json!([{ "to_entity_id": 5001, "to_entity_type": "contacts" },
                   { "to_entity_id": 7001, "to_entity_type": "leads" }]),
        )
        .await;
    assert_eq!(link.status, 200, "{}", link.text);
    let contact = t.get("/api/v4/contacts/5001").await.json();
    assert_eq!(contact["_embedded"]["companies"][0]["id"], co);
    let links = t.get(&format!("/api/v4/companies/{co}/links")).await.json();
    assert_eq!(links["_embedded"]["links"].as_array().unwrap().len(), 2);
    let with = t
        .get(&format!("/api/v4/companies/{co}?with=contacts,leads"))
        .await
        .json();
    assert_eq!(with["name"], "ООО Ромашка+");
    assert_eq!(with["_embedded"]["contacts"][0]["id"], 5001);
    assert_eq!(with["_embedded"]["leads"][0]["id"], 7001);
    let un = t
        .post(
            "/api/v4/contacts/5001/unlink",
            json!([{ "to_entity_id": co, "to_entity_type": "companies" }]),
        )
        .await;
    assert_eq!(un.status, 204, "{}", un.text);
    let contact = t.get("/api/v4/contacts/5001").await.json();
    assert_eq!(contact["_embedded"]["companies"], json!([]));
}

/// Source: «Связи сущностей»: `GET /api/v4/leads/{id}/links` with `filter[to_entity_type]`, and
/// `GET /api/v4/leads/links` with the required `filter[entity_id]`;
/// the batch form `POST /api/v4/leads/link` names `entity_id` per item; a lead's contact link
/// carries `metadata.main_contact`.
#[tokio::test]
async fn lead_links_list_and_batch_link() {
    let t = spawn_mock().await;
    let other = t.create_contact("+79035550000", 1001).await;
    let a = t
        .post(
            "/api/v4/leads/link",
            json!([{ "entity_id": 7001, "to_entity_id": other, "to_entity_type": "contacts" }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let links = t
        .get("/api/v4/leads/7001/links?filter[to_entity_type]=contacts")
        .await
        .json();
    let list = links["_embedded"]["links"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["metadata"]["main_contact"], true);
    assert_eq!(list[1]["to_entity_id"], other);
    assert_eq!(list[1]["metadata"]["main_contact"], false);
    let by_type = t.get("/api/v4/leads/links?filter[entity_id][]=7001").await;
    assert_eq!(
        by_type.json()["_embedded"]["links"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        t.get("/api/v4/leads/links").await.status,
        400,
        "entity_id is required"
    );
    let bad = t
        .post(
            "/api/v4/leads/link",
            json!([{ "entity_id": 7001, "to_entity_id": 1, "to_entity_type": "catalog_elements" }]),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["validation-errors"][0]["errors"][0]["path"],
        "to_entity_type"
    );
}

/// Source: amoCRM API v4 «Неразобранное»: an item may carry a company and a lead with a price;
/// category `forms` is created at `/leads/unsorted/forms`; the company stays hidden until the
/// item is accepted and is in the item's `_embedded.companies`.
#[tokio::test]
async fn unsorted_items_carry_companies_and_forms_exist() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/leads/unsorted/forms",
            json!([{ "source_uid": "form-1", "source_name": "Сайт",
                     "metadata": { "form_id": "f1", "form_name": "Заявка", "form_page": "https://example.com",
                                   "ip": "127.0.0.1", "form_sent_at": START },
                     "_embedded": { "leads": [{ "name": "С сайта", "price": 5000 }],
                                    "contacts": [{ "name": "Ольга" }],
                                    "companies": [{ "name": "ИП Ольга" }] } }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let item = &a.json()["_embedded"]["unsorted"][0];
    let uid = item["uid"].as_str().unwrap().to_string();
    let co = item["_embedded"]["companies"][0]["id"].as_u64().unwrap();
    assert_eq!(
        t.get(&format!("/api/v4/companies/{co}")).await.status,
        204,
        "hidden while pending"
    );
    let got = t.get(&format!("/api/v4/leads/unsorted/{uid}")).await.json();
    assert_eq!(got["category"], "forms");
    assert_eq!(got["_embedded"]["leads"][0]["price"], 5000);
    let listed = t.get("/api/v4/leads/unsorted?filter[category]=sip").await;
    assert_eq!(listed.status, 204, "a forms item is not sip");
    let acc = t
        .post(
            &format!("/api/v4/leads/unsorted/{uid}/accept"),
            json!({ "user_id": 1001 }),
        )
        .await;
    assert_eq!(acc.status, 200, "{}", acc.text);
    assert_eq!(t.get(&format!("/api/v4/companies/{co}")).await.status, 200);
}

/// Source: amoCRM API v4 «Комплексное добавление сделок с контактом и компанией» (leads-api):
/// one contact and one company per lead, `company_id` in the answer; `_embedded.metadata`
/// creates the lead in Unsorted, its contact and company hidden until accepted.
#[tokio::test]
async fn leads_complex_takes_a_company_and_metadata_puts_it_in_unsorted() {
    let t = spawn_mock().await;
    let a = t
        .post(
            "/api/v4/leads/complex",
            json!([{ "name": "CX1", "pipeline_id": 3001,
                     "_embedded": { "contacts": [{ "first_name": "Зоя" }], "companies": [{ "name": "ООО Ива" }] } },
                   { "name": "CX2", "pipeline_id": 3001, "request_id": "uns_1",
                     "_embedded": { "metadata": { "category": "forms", "form_id": "f", "form_name": "Заявка",
                                                  "form_page": "https://example.com", "ip": "127.0.0.1",
                                                  "form_sent_at": START },
                                    "contacts": [{ "first_name": "Z" }], "companies": [{ "name": "ООО" }] } }]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let out = a.json();
    let (co, lead2) = (
        out[0]["company_id"].as_u64().unwrap(),
        out[1]["id"].as_u64().unwrap(),
    );
    let contact = out[0]["contact_id"].as_u64().unwrap();
    let c = t.get(&format!("/api/v4/contacts/{contact}")).await.json();
    assert_eq!(c["_embedded"]["companies"][0]["id"], co);
    assert_eq!(out[1]["request_id"], json!(["uns_1"]));
    let hidden_company = out[1]["company_id"].as_u64().unwrap();
    assert_eq!(
        t.get(&format!("/api/v4/companies/{hidden_company}"))
            .await
            .status,
        204
    );
    let lead = t.get(&format!("/api/v4/leads/{lead2}")).await.json();
    assert_eq!(lead["status_id"], 40, "in the Unsorted stage");
    let items = t
        .get("/api/v4/leads/unsorted?filter[category]=forms")
        .await
        .json();
    assert_eq!(
        items["_embedded"]["unsorted"][0]["_embedded"]["leads"][0]["id"],
        lead2
    );
}
