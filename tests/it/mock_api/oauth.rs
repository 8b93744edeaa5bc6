//! OAuth as amoCRM does it. Sources: Kommo developer docs "OAuth 2.0" and "Get token" (access
//! token 24 h, refresh token 3 months, a new refresh token with every refresh — the old one
//! stops working once the new one is used —, `server_time` in the answer); amocrm-api-php
//! issue 123 (a maintainer: a reused refresh token answers 401 OAuthProblemJson "Token has been
//! revoked"); RFC 6749 §4.1.3 and §6 (form-encoded token requests).

use reqwest::Method;
use serde_json::{Value, json};
use sipamo::sim::mock::MockOptions;

use crate::mock_api::helpers::*;

fn refresh(token: &str) -> Value {
    json!({ "client_id": "id", "client_secret": "s", "grant_type": "refresh_token",
            "refresh_token": token, "redirect_uri": "https://example.com" })
}

async fn token_request(t: &TestMock, body: Value) -> Answer {
    t.send_as(Method::POST, "/oauth2/access_token", Some(body), None)
        .await
}

#[tokio::test]
async fn each_refresh_rotates_and_the_old_token_is_revoked_once_the_new_one_is_used() {
    let t = spawn_mock().await;
    let first = token_request(&t, refresh("mock-refresh")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let a = first.json();
    assert_eq!(a["server_time"], START, "server_time in Unix seconds");
    let (access, next) = (
        a["access_token"].as_str().unwrap(),
        a["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(next, "mock-refresh", "a new refresh token");
    let ok = t
        .send_as(Method::GET, "/api/v4/account", None, Some(access))
        .await;
    assert_eq!(ok.status, 200, "the new access token works");

    // The new refresh token is used: the first one is revoked for good.
    assert_eq!(token_request(&t, refresh(next)).await.status, 200);
    let reused = token_request(&t, refresh("mock-refresh")).await;
    assert_eq!(reused.status, 401);
    assert_eq!(reused.json()["hint"], "Token has been revoked");
}

#[tokio::test]
async fn access_tokens_expire_and_the_refresh_path_runs() {
    let t = spawn_mock_with(|o| MockOptions {
        token_ttl: Some(std::time::Duration::from_secs(60)),
        ..o
    })
    .await;
    assert_eq!(t.get("/api/v4/account").await.status, 200);
    t.clock.advance_to((START + 61) * 1000);
    assert_eq!(t.get("/api/v4/account").await.status, 401, "expired");
    let a = token_request(&t, refresh("mock-refresh")).await.json();
    assert_eq!(a["expires_in"], 60);
    let fresh = a["access_token"].as_str().unwrap();
    let ok = t
        .send_as(Method::GET, "/api/v4/account", None, Some(fresh))
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn token_requests_may_be_forms_and_codes_work_once() {
    let t = spawn_mock().await;
    let form = t
        .http
        .post(format!("{}/oauth2/access_token", t.mock.uri()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=mock-refresh&client_id=id&client_secret=s&redirect_uri=https%3A%2F%2Fexample.com")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let code = json!({ "client_id": "id", "client_secret": "s", "grant_type": "authorization_code",
                       "code": "def502", "redirect_uri": "https://example.com" });
    let got = token_request(&t, code.clone()).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.json()["refresh_token"].is_string());
    assert_eq!(
        token_request(&t, code).await.status,
        401,
        "a code works once"
    );
    assert_eq!(token_request(&t, refresh("never-issued")).await.status, 400);
}
