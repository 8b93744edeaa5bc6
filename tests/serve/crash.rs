use std::time::Duration;

use fake::Fake;
use fake::rand::SeedableRng;
use fake::rand::rngs::StdRng;

use crate::app::*;

/// The uninterrupted run's account.
async fn reference(events: &[String]) -> Vec<String> {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    for line in events {
        post_event(&http, &serve.url, line).await;
    }
    wait_idle(&http, &serve.url).await;
    picture(&http, &mock.url).await
}

#[tokio::test]
async fn kill_9_at_random_points_loses_nothing_and_doubles_nothing() {
    let events = traffic(23, 20);
    let want = reference(&events).await;
    assert!(
        want.iter().filter(|l| l.starts_with("note ")).count() >= 10,
        "a reference worth comparing: {want:#?}"
    );

    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    let mut rng = StdRng::seed_from_u64(5);
    let mut serve = spawn_serve(dir.path(), &mock.url).await;
    let mut kills = 0;
    for (i, line) in events.iter().enumerate() {
        post_event(&http, &serve.url, line).await;
        // About one event in four: let the worker run for a random moment, then kill -9.
        if (0..4u32).fake_with_rng::<u32, _>(&mut rng) == 0 || i + 1 == events.len() {
            let pause: u64 = (0..120u64).fake_with_rng(&mut rng);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            serve.kill9().await;
            kills += 1;
            serve = spawn_serve(dir.path(), &mock.url).await;
        }
    }
    wait_idle(&http, &serve.url).await;
    let got = picture(&http, &mock.url).await;
    assert!(kills >= 10, "only {kills} kill points");
    eprintln!("kill -9 points tried: {kills}");
    assert_eq!(got, want);
}
