//! Three replicas serving twenty accounts, one of them `kill -9`ed dozens of times: right after
//! amoCRM applied a write of an account it held (the mock holds the answer back), and at
//! random instants. Every account ends as an uninterrupted run's and no second of any account
//! holds more than 7 amoCRM requests. `SIPAMO_FAILOVER_ACCOUNTS` and
//! `SIPAMO_FAILOVER_REPLICAS` grow it (each account has a mock amoCRM of its own; beyond 50
//! accounts a hundred mocks share a process).

use std::time::Duration;

use fake::Fake;
use fake::rand::SeedableRng;
use fake::rand::rngs::StdRng;

use crate::serve::app::*;
use crate::serve::fleet::{Deployment, busiest_second, leases_held_by};

/// A count from the environment, or `default`.
fn from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TRAFFICS: usize = 4;
const ROUNDS: usize = 24;
const SEED: u64 = 2026;

/// The replicas in play and their names (a restarted one gets a new name).
struct Replicas {
    procs: Vec<Proc>,
    ids: Vec<String>,
    generation: usize,
}

impl Replicas {
    async fn start(d: &Deployment, n: usize) -> Replicas {
        let mut p = Replicas {
            procs: Vec::new(),
            ids: Vec::new(),
            generation: 0,
        };
        for _ in 0..n {
            p.generation += 1;
            let id = format!("r{}", p.generation);
            p.procs
                .push(d.replica(&id, &["--rate-per-second", "7"]).await);
            p.ids.push(id);
        }
        p
    }

    /// `kill -9` of replica `k`, then a new one in its place.
    async fn kill_and_replace(&mut self, d: &Deployment, k: usize) {
        self.procs[k].kill9().await;
        self.generation += 1;
        self.ids[k] = format!("r{}", self.generation);
        self.procs[k] = d.replica(&self.ids[k], &["--rate-per-second", "7"]).await;
    }
}

/// Waits (at most `secs`) until one of the armed mocks applied a write and held its answer;
/// answers that account.
async fn first_write_applied(
    http: &reqwest::Client,
    d: &Deployment,
    before: &[u64],
    secs: u64,
) -> Option<usize> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        for (i, m) in d.mocks.iter().enumerate() {
            if hung(http, &m.url).await > before[i] {
                return Some(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A dangerous kill: every mock armed to hold back its next write before round `round` is
/// posted (with a thousand accounts, arming them all takes longer than their writes take to
/// come); the replica holding the lease of the first account written to is killed at that
/// instant. False when no write came.
async fn kill_during_a_write(
    http: &reqwest::Client,
    d: &Deployment,
    replicas: &mut Replicas,
    post: impl std::future::Future<Output = ()>,
) -> bool {
    let mut before = Vec::new();
    for m in &d.mocks {
        before.push(hung(http, &m.url).await);
        arm_next_write(http, &m.url).await;
    }
    post.await;
    let written = first_write_applied(http, d, &before, 10).await;
    let victim = match written {
        Some(i) => match d.holder(i).await {
            Some(h) => replicas.ids.iter().position(|id| *id == h),
            None => None,
        },
        None => None,
    };
    if let Some(k) = victim {
        replicas.kill_and_replace(d, k).await;
    }
    for m in &d.mocks {
        disarm(http, &m.url).await;
    }
    victim.is_some()
}

#[tokio::test]
async fn three_replicas_and_twenty_accounts_survive_dozens_of_kills_exactly() {
    let (accounts, n) = (
        from_env("SIPAMO_FAILOVER_ACCOUNTS", 20),
        from_env("SIPAMO_FAILOVER_REPLICAS", 3),
    );
    // Beyond a few dozen accounts, their mocks are served a hundred to a process (each still
    // an account of its own): a thousand mock processes would not fit the machine.
    let per_process = if accounts > 50 { 100 } else { 1 };
    let Some(d) = Deployment::start_sharing("fleet_failover", accounts, per_process).await else {
        return;
    };
    eprintln!("fleet failover: seed {SEED}, {accounts} accounts, {n} replicas");
    let traffics: Vec<Vec<String>> = (0..TRAFFICS).map(|k| traffic(SEED + k as u64, 8)).collect();
    let mut wants = Vec::new();
    for t in &traffics {
        wants.push(uninterrupted(SETTINGS, t).await);
    }
    let http = http();
    let mut replicas = Replicas::start(&d, n).await;
    // The time the live replicas took to split the accounts: after the start, after each kill
    // right after a write (its replacement started), and at the end.
    let mut splits = vec![split_between_the_live(&d, &replicas.ids).await];
    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut during_write, mut at_random) = (0, 0);
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            let urls: Vec<String> = replicas.procs.iter().map(|p| p.url.clone()).collect();
            let post = post_round(&http, &d, &urls, &traffics, round);
            if kill_during_a_write(&http, &d, &mut replicas, post).await {
                during_write += 1;
                splits.push(split_between_the_live(&d, &replicas.ids).await);
            }
            continue;
        }
        let urls: Vec<String> = replicas.procs.iter().map(|p| p.url.clone()).collect();
        post_round(&http, &d, &urls, &traffics, round).await;
        let pause: u64 = (0..1500u64).fake_with_rng(&mut rng);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let k: usize = (0..n).fake_with_rng(&mut rng);
        // Not waited for: the next kill may land while leases still move.
        replicas.kill_and_replace(&d, k).await;
        at_random += 1;
    }
    d.wait_all_idle(600).await;
    splits.push(split_between_the_live(&d, &replicas.ids).await);
    splits.sort();
    eprintln!(
        "fleet failover: {during_write} kills right after a write, {at_random} at random; leases split among the live replicas {} times, median {:?}, slowest {:?}: {:?}",
        splits.len(),
        splits[splits.len() / 2],
        splits[splits.len() - 1],
        leases_held_by(&d).await
    );
    assert!(
        during_write >= 8,
        "only {during_write} kills landed right after a write"
    );
    for i in 0..accounts {
        let journal = mock_journal(&http, &d.mocks[i].url).await;
        let busiest = busiest_second(&journal);
        assert_eq!(
            picture(&http, &d.mocks[i].url).await,
            wants[i % TRAFFICS],
            "account {i}: lost or doubled"
        );
        assert!(
            busiest <= 7,
            "account {i}: {busiest} requests within a second: {journal:#?}"
        );
    }
}

/// Posts every account's share of round `round` of its traffic, alternating the replicas.
async fn post_round(
    http: &reqwest::Client,
    d: &Deployment,
    replicas: &[String],
    traffics: &[Vec<String>],
    round: usize,
) {
    for i in 0..d.names.len() {
        let events = &traffics[i % TRAFFICS];
        let per = events.len().div_ceil(ROUNDS);
        let slice = events.iter().skip(round * per).take(per);
        for (j, line) in slice.enumerate() {
            let to = &replicas[(i + j) % replicas.len()];
            post_event_to(http, to, &d.secrets[i], line).await;
        }
    }
}

/// Waits until the live replicas split the accounts' leases: every account held, each live
/// replica holding at most its share (the accounts over the replicas, rounded up) and none
/// held by a replica killed. At most 30 s (a few lease lengths), and 0.1 s more per account
/// (each replica takes leases two at a time).
async fn split_between_the_live(d: &Deployment, live: &[String]) -> Duration {
    let share = d.names.len().div_ceil(live.len());
    let started = std::time::Instant::now();
    let most = Duration::from_secs(30) + Duration::from_millis(100) * d.names.len() as u32;
    let mut held = leases_held_by(d).await;
    while started.elapsed() < most {
        let split = held.keys().all(|h| live.contains(h))
            && held.values().all(|n| *n <= share)
            && held.values().sum::<usize>() == d.names.len();
        if split {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        held = leases_held_by(d).await;
    }
    panic!("the live replicas {live:?} never split the leases (share {share}): {held:?}");
}
