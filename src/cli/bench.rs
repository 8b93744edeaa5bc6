//! `sipamo bench`: throughput figures, medians over rounds.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Rounds to take the median over.
    #[arg(long, default_value_t = 5)]
    pub(crate) rounds: usize,
    /// Requests per round against the mock.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) requests: usize,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Scenario folder whose wall time to measure.
    #[arg(long, default_value = "scenarios")]
    pub(crate) suite: PathBuf,
    /// Events per round for the `serve` ingest figure.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) ingest_events: usize,
    /// Accounts (each with its own mock amoCRM) for the many-account figure (PostgreSQL).
    #[arg(long, default_value_t = 100)]
    pub(crate) accounts: usize,
    /// Measure only these figures (default: all).
    #[arg(long, value_enum)]
    pub(crate) only: Vec<Figure>,
    /// Calls posted to each of them per round.
    #[arg(long, default_value_t = 10)]
    pub(crate) calls_per_account: usize,
    /// Accounts for the scale figure (two replicas, PostgreSQL's default connection limit;
    /// the figures in docs/benchmarks.md are of 10000).
    #[arg(long, default_value_t = 1000)]
    pub(crate) scale_accounts: usize,
    /// Accounts added one by one while serving, for the scale figure's time from
    /// `accounts add` to the first call handled.
    #[arg(long, default_value_t = 20)]
    pub(crate) scale_late: usize,
}

/// The figures `sipamo bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Figure {
    /// The mock's requests/s beside bare wiremock's.
    Mock,
    /// The scenario suite's wall time.
    Suite,
    /// Events/s `serve` acknowledges durably, SQLite and PostgreSQL.
    Ingest,
    /// Calls/s handled across many accounts (PostgreSQL).
    Accounts,
    /// Calls/s of a storm through engine and mock.
    Storm,
    /// Thousands of accounts on a fixed pool: start time, connections, memory, time to serve
    /// an account just added (PostgreSQL).
    Scale,
}

pub(super) async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.rounds == 0 || args.requests == 0 || args.concurrency == 0 {
        return Err(anyhow::anyhow!(
            "--rounds, --requests and --concurrency must be at least 1"
        ));
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; use `cargo run --release -- bench` for real figures");
    }
    let wanted = |f: Figure| args.only.is_empty() || args.only.contains(&f);
    if wanted(Figure::Mock) {
        mock_figures(&args).await?;
    }
    if wanted(Figure::Suite) {
        suite_figures(&args).await?;
    }
    if wanted(Figure::Ingest) {
        ingest_figures(&args).await?;
    }
    if wanted(Figure::Accounts) {
        accounts_figures(&args).await?;
    }
    if wanted(Figure::Storm) {
        storm_figures(&args).await?;
    }
    if wanted(Figure::Scale) {
        scale_figures(&args).await?;
    }
    Ok(ExitCode::SUCCESS)
}

fn med(v: Vec<f64>) -> f64 {
    crate::sim::bench::Rounds { per_round: v }.median()
}

/// The mock's requests/s beside bare wiremock's.
async fn mock_figures(args: &BenchArgs) -> anyhow::Result<()> {
    eprintln!(
        "mock throughput: {} rounds of {} requests (50% searches, 25% contact creates, 25% leads/complex), {} clients",
        args.rounds, args.requests, args.concurrency
    );
    use crate::sim::bench::{Target, mock_throughput};
    let mock = mock_throughput(Target::Mock, args.rounds, args.requests, args.concurrency).await?;
    eprintln!("bare wiremock (fixed answer), same load:");
    let bare = mock_throughput(
        Target::BareWiremock,
        args.rounds,
        args.requests,
        args.concurrency,
    )
    .await?;
    println!(
        "mock requests/s (median of {}): {:.0}",
        args.rounds,
        mock.median()
    );
    println!(
        "bare wiremock requests/s (median of {}): {:.0}",
        args.rounds,
        bare.median()
    );
    println!("mock / bare wiremock: {:.2}", mock.median() / bare.median());
    Ok(())
}

/// The scenario suite's wall time, with and without the `lost-answer` scenarios.
async fn suite_figures(args: &BenchArgs) -> anyhow::Result<()> {
    eprintln!("scenario suite {}:", args.suite.display());
    let (n, secs) =
        crate::sim::bench::suite_time(std::slice::from_ref(&args.suite), args.rounds, &[]).await?;
    let wall = crate::sim::bench::Rounds { per_round: secs }.median();
    eprintln!(
        "the same suite without the `lost-answer` scenarios (a lost answer costs no real time):"
    );
    let (fast_n, fast_secs) = crate::sim::bench::suite_time(
        std::slice::from_ref(&args.suite),
        args.rounds,
        &["lost-answer".to_string()],
    )
    .await?;
    let fast_wall = crate::sim::bench::Rounds {
        per_round: fast_secs,
    }
    .median();
    println!(
        "suite wall time (median of {}): {wall:.3} s for {n} scenarios = {:.0} scenarios/s",
        args.rounds,
        n as f64 / wall
    );
    println!(
        "suite without `lost-answer` (median of {}): {fast_wall:.3} s for {fast_n} scenarios = {:.0} scenarios/s",
        args.rounds,
        fast_n as f64 / fast_wall
    );
    Ok(())
}

/// Events/s `serve` acknowledges durably, and the acknowledgement latency: with SQLite, then
/// with PostgreSQL (a throw-away cluster) and one and two replicas when it is installed.
async fn ingest_figures(args: &BenchArgs) -> anyhow::Result<()> {
    ingest_on(args, "serve ingest (SQLite)", None, 1).await?;
    let cluster = match crate::sim::testkit::pg_cluster::Cluster::start() {
        Ok(c) => c,
        Err(why) => {
            println!("serve ingest on PostgreSQL: not measured ({why})");
            return Ok(());
        }
    };
    for replicas in [1, 2] {
        let label = format!("serve ingest (PostgreSQL, {replicas} replica(s))");
        ingest_on(args, &label, Some(&cluster), replicas).await?;
    }
    Ok(())
}

/// The ingest rounds on one database set-up; each round gets a fresh database.
async fn ingest_on(
    args: &BenchArgs,
    label: &str,
    cluster: Option<&crate::sim::testkit::pg_cluster::Cluster>,
    replicas: usize,
) -> anyhow::Result<()> {
    eprintln!(
        "{label}: {} events per round, {} clients, acknowledged after the commit:",
        args.ingest_events, args.concurrency
    );
    let mut rates = Vec::new();
    let mut ratios = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for round in 0..args.rounds {
        let pg = match cluster {
            Some(c) => Some(c.database(&format!("bench_{replicas}_{round}"))?),
            None => None,
        };
        let r = crate::sim::bench::ingest(
            args.ingest_events,
            args.concurrency,
            pg.as_deref(),
            replicas,
        )
        .await?;
        let rate = r.events as f64 / r.secs;
        let bare = r.events as f64 / r.bare_secs.max(f64::EPSILON);
        eprintln!(
            "  round {}: {} events in {:.3} s = {rate:.0} events/s, p50 {:.2} ms, p99 {:.2} ms; bare (404, nothing stored) {bare:.0}/s, durable/bare {:.2}",
            round + 1,
            r.events,
            r.secs,
            r.p50_ms,
            r.p99_ms,
            rate / bare
        );
        rates.push(rate);
        ratios.push(rate / bare);
        p50.push(r.p50_ms);
        p99.push(r.p99_ms);
    }
    println!(
        "{label} events/s (median of {}): {:.0}; ack latency p50 {:.2} ms, p99 {:.2} ms; durable/bare {:.2} (medians)",
        args.rounds,
        med(rates),
        med(p50),
        med(p99),
        med(ratios)
    );
    Ok(())
}

/// Calls/s handled across many accounts by one `serve --accounts` replica on PostgreSQL.
async fn accounts_figures(args: &BenchArgs) -> anyhow::Result<()> {
    let cluster = match crate::sim::testkit::pg_cluster::Cluster::start() {
        Ok(c) => c,
        Err(why) => {
            println!("calls across many accounts: not measured ({why})");
            return Ok(());
        }
    };
    eprintln!(
        "serve --accounts: {} accounts, each its own mock amoCRM and 7 requests/s, {} calls each per round:",
        args.accounts, args.calls_per_account
    );
    let mut rates = Vec::new();
    for round in 0..args.rounds {
        let url = cluster.database(&format!("bench_accounts_{round}"))?;
        let (calls, secs) = crate::sim::bench::accounts_throughput(
            &url,
            args.accounts,
            args.calls_per_account,
            args.concurrency,
        )
        .await?;
        let rate = calls as f64 / secs;
        eprintln!(
            "  round {}: {calls} calls handled in {secs:.3} s = {rate:.1} calls/s",
            round + 1
        );
        rates.push(rate);
    }
    println!(
        "calls/s handled across {} accounts (median of {}): {:.1}",
        args.accounts,
        args.rounds,
        med(rates)
    );
    Ok(())
}

/// Calls/s of a storm through engine and mock.
async fn storm_figures(args: &BenchArgs) -> anyhow::Result<()> {
    eprintln!(
        "storm: 2,000 calls (default settings, invariants after every call), one engine thread:"
    );
    let mut storm_rates = Vec::new();
    for round in 0..args.rounds {
        let cfg = crate::sim::storm::generate::StormConfig {
            seed: round as u64 + 1,
            calls: 2000,
            clients: 300,
            employees: 8,
            settings_yaml: None,
        };
        let (sc, _) = crate::sim::storm::generate::generate(&cfg)?;
        let (o, elapsed) = tokio::task::spawn_blocking(move || {
            crate::sim::storm::run_storm_pinned(&sc, false, None)
        })
        .await??;
        let calls: usize = o.paths.values().map(|p| p.calls).sum();
        let rate = calls as f64 / elapsed.as_secs_f64();
        eprintln!(
            "  round {}: {calls} calls, {} requests in {:.3} s = {rate:.0} calls/s",
            round + 1,
            o.requests,
            elapsed.as_secs_f64()
        );
        storm_rates.push(rate);
    }
    println!(
        "storm calls/s through engine + mock over loopback HTTP (median of {}): {:.0}",
        args.rounds,
        med(storm_rates)
    );
    Ok(())
}

/// Thousands of accounts on two replicas within PostgreSQL's default connection limit.
async fn scale_figures(args: &BenchArgs) -> anyhow::Result<()> {
    let cluster = match crate::sim::testkit::pg_cluster::Cluster::start_with(100) {
        Ok(c) => c,
        Err(why) => {
            println!("scale: not measured ({why})");
            return Ok(());
        }
    };
    let url = cluster.database("bench_scale")?;
    eprintln!(
        "scale: {} accounts, two replicas (pool {} each), PostgreSQL max_connections 100:",
        args.scale_accounts,
        crate::sim::bench::scale::POOL
    );
    let s = crate::sim::bench::scale::run(&url, args.scale_accounts, args.scale_late).await?;
    let (p50, p99) = s.add_to_first_call_p50_p99();
    let most: Vec<String> = s
        .most_connections
        .iter()
        .map(|(replica, n)| format!("{replica}: {n}"))
        .collect();
    println!(
        "scale: {} accounts on {} mock amoCRMs, 2 replicas: added in {:.0} s; every account started in {:.1} s; one call each handled in {:.1} s; most connections per replica {} (pool {}); RSS {} KiB per account; `accounts add` to its first call handled ({} added while serving) median {:.2} s, p99 {:.2} s",
        s.accounts,
        s.mocks,
        s.added_secs,
        s.started_secs,
        s.served_secs,
        most.join(", "),
        crate::sim::bench::scale::POOL,
        s.rss_kib_per_account,
        s.add_to_first_call.len(),
        p50.as_secs_f64(),
        p99.as_secs_f64()
    );
    Ok(())
}
