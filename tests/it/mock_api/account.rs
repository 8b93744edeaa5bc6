use crate::mock_api::helpers::*;

#[tokio::test]
async fn account_users_and_pipelines_have_amocrm_shapes() {
    let t = spawn_mock().await;

    let account = t.get("/api/v4/account").await;
    assert_eq!(account.status, 200);
    assert_eq!(account.content_type, "application/hal+json");
    assert!(account.json()["id"].as_u64().is_some());

    let users = t.get("/api/v4/users").await.json();
    let ids: Vec<u64> = users["_embedded"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1001, 1002]);

    let pipelines = t.get("/api/v4/leads/pipelines").await.json();
    let list = pipelines["_embedded"]["pipelines"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for p in list {
        let statuses = p["_embedded"]["statuses"].as_array().unwrap();
        let ids: Vec<u64> = statuses.iter().map(|s| s["id"].as_u64().unwrap()).collect();
        assert!(ids.contains(&142) && ids.contains(&143), "{ids:?}");
    }
    let main = &list[0];
    assert_eq!(main["is_main"], true);
    assert_eq!(main["is_unsorted_on"], true);
    assert_eq!(
        main["_embedded"]["statuses"][0]["type"], 1,
        "the Unsorted stage has type 1"
    );
    assert_eq!(main["_embedded"]["statuses"][1]["type"], 0);
    assert_eq!(list[1]["is_unsorted_on"], false);
}
