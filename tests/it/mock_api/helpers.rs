//! `spawn_mock()`: a mock account on a random loopback port with a typed handle for tests.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sipamo::clock::Clock;
use sipamo::sim::mock::{CrmSeed, MockCrm, MockOptions};

pub const START: i64 = 1_772_434_800; // 2026-03-02T10:00:00+03:00

pub const SEED: &str = r#"
users:     [{ id: 1001, name: Анна }, { id: 1002, name: Борис }]
pipelines: [{ id: 3001, name: Продажи, main: true,
              statuses: [{ id: 40, name: Неразобранное, unsorted: true },
                         { id: 41, name: Первичный контакт }, { id: 42, name: Переговоры }] },
            { id: 3002, name: Опт, statuses: [{ id: 50, name: Новая }] }]
contacts:  [{ id: 5001, name: Иван, phone: "+79161234567", responsible: 1002 }]
leads:     [{ id: 7001, contact: 5001, status: 142, responsible: 1002 }]
"#;

pub struct TestMock {
    pub mock: MockCrm,
    pub http: reqwest::Client,
    pub clock: Clock,
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

pub async fn spawn_mock() -> TestMock {
    spawn_mock_with(|o| o).await
}

pub async fn spawn_mock_with(f: impl FnOnce(MockOptions) -> MockOptions) -> TestMock {
    spawn_mock_from(SEED, f).await
}

/// A mock built from another account YAML.
pub async fn spawn_mock_seeded(seed: &str) -> TestMock {
    spawn_mock_from(seed, |o| o).await
}

async fn spawn_mock_from(seed: &str, f: impl FnOnce(MockOptions) -> MockOptions) -> TestMock {
    let clock = Clock::virtual_at(START * 1000);
    let state = CrmSeed::from_yaml(seed).unwrap().build(START).unwrap();
    let opts = f(MockOptions {
        clock: clock.clone(),
        state,
        ..MockOptions::default()
    });
    let mock = MockCrm::start(opts).await;
    TestMock {
        mock,
        http: sipamo::http::client(),
        clock,
    }
}

impl TestMock {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_as(method, path, body, Some(self.mock.token()))
            .await
    }

    pub async fn send_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.mock.uri(), path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the mock answers");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            content_type,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Creates a visible contact with a phone; answers its id.
    pub async fn create_contact(&self, phone: &str, responsible: u64) -> u64 {
        self.create_contact_named(phone, phone, responsible).await
    }

    pub async fn create_contact_named(&self, name: &str, phone: &str, responsible: u64) -> u64 {
        let a = self
            .post("/api/v4/contacts", json!([{ "name": name, "responsible_user_id": responsible, "custom_fields_values": [phone_field(phone)] }]))
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json()["_embedded"]["contacts"][0]["id"].as_u64().unwrap()
    }

    /// Creates an Unsorted sip item for a phone; answers (uid, contact id, lead id).
    pub async fn create_unsorted(
        &self,
        phone: &str,
        call_id: &str,
        responsible: u64,
    ) -> (String, u64, u64) {
        let a = self
            .post(
                "/api/v4/leads/unsorted/sip",
                json!([unsorted_item(phone, call_id, responsible)]),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let item = &a.json()["_embedded"]["unsorted"][0];
        (
            item["uid"].as_str().unwrap().to_string(),
            item["_embedded"]["contacts"][0]["id"].as_u64().unwrap(),
            item["_embedded"]["leads"][0]["id"].as_u64().unwrap(),
        )
    }
}

pub fn phone_field(phone: &str) -> Value {
    json!({ "field_code": "PHONE", "values": [{ "value": phone, "enum_code": "WORK" }] })
}

pub fn unsorted_item(phone: &str, call_id: &str, responsible: u64) -> Value {
    json!({
        "request_id": "1", "source_name": "Sipuni", "source_uid": call_id, "pipeline_id": 3001,
        "created_at": START,
        "metadata": { "is_call_event_needed": true, "uniq": call_id, "duration": 54, "service_code": "sipuni",
                      "link": "https://sipuni.com/record/1", "phone": phone, "called_at": START, "from": phone,
                      "call_responsible": responsible },
        "_embedded": { "leads": [{ "name": format!("Звонок от {phone}") }],
                       "contacts": [{ "name": phone, "custom_fields_values": [phone_field(phone)] }] }
    })
}
