//! Command-line commands (clap derive); each subcommand's help is its doc comment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::amocrm::mock::{CrmSeed, MockCrm, MockOptions, tls};
use crate::clock::Clock;

/// sipamo: Sipuni call events to amoCRM, and the harness that proves the rules.
#[derive(Debug, Parser)]
#[command(name = "sipamo", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a stateful mock amoCRM account (API v4) until Ctrl-C.
    ///
    /// Prints its base URL. Point any amoCRM client at it with the bearer token given.
    Mock(MockArgs),
    /// Run the engine for real: receive Sipuni events, update the amoCRM account.
    ///
    /// Sipuni is pointed at http(s)://HOST/sipuni/events/SECRET. Events are stored in the SQLite
    /// database before they are acknowledged; settings are checked against the account first.
    Serve(ServeArgs),
    /// Run scenarios against the engine and a fresh embedded mock each, on a virtual clock.
    ///
    /// Prints a line per scenario and a summary; exits 0 only when every selected scenario
    /// passes (a filter that selects nothing is a failure).
    Run(RunArgs),
    /// Load and validate scenarios without running them.
    Check(CheckArgs),
    /// Which rule IDs of behaviour.md the scenarios exercise, and which none does.
    ///
    /// Exits non-zero when a rule is uncovered.
    Coverage(CoverageArgs),
    /// Print Sipuni events as the wire sends them, for replay against a receiver.
    ///
    /// Either the call steps of a scenario file, or `--calls N` seeded random calls.
    Gen(GenArgs),
    /// Generate a seeded day of random traffic, run it with the invariants checked after every
    /// call, and shrink any break to a minimal scenario file.
    Storm(StormArgs),
    /// Calls of a running (or stopped) `sipamo serve`, from its database: the parked ones, one
    /// call's events and progress, and putting a parked call back in the queue.
    Calls(CallsArgs),
    /// Measure throughput and print the figures (medians over rounds).
    ///
    /// Build with --release for meaningful numbers.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct CallsArgs {
    /// The database `sipamo serve --db` uses.
    #[arg(long, default_value = "sipamo.db", global = true)]
    pub db: PathBuf,
    #[command(subcommand)]
    pub action: CallsAction,
}

#[derive(Debug, Subcommand)]
pub enum CallsAction {
    /// The parked calls (R-ISOLATE), oldest first, with why amoCRM refused them.
    List,
    /// One call: its state, its stored events and its saved progress.
    Show { call_id: String },
    /// Put a parked call back in the queue once the cause is fixed (the running service takes it
    /// on its next round; a stopped one at its next start). It continues where it stopped.
    Retry { call_id: String },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rounds to take the median over.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Requests per round against the mock.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Scenario folder whose wall time to measure.
    #[arg(long, default_value = "scenarios")]
    pub suite: PathBuf,
    /// Events per round for the `serve` ingest figure.
    #[arg(long, default_value_t = 20_000)]
    pub ingest_events: usize,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Address to listen on; loopback by default.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,
    /// Bearer token clients must send (or set SIPAMO_MOCK_TOKEN).
    #[arg(long, env = "SIPAMO_MOCK_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Account to serve: a YAML file with the keys of a scenario's `crm:` block at the top level.
    #[arg(long)]
    pub account: Option<PathBuf>,
    /// Answer 429 to more than N requests in any 1-second window (amoCRM allows 7).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// `GET /leads/unsorted/{uid}` answers accepted and declined items too, instead of 204
    /// (amoCRM documents neither; clients should cope with both).
    #[arg(long)]
    pub list_processed_unsorted: bool,
    /// Serve HTTPS with this PEM certificate chain (for clients that hard-code https://).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Run only scenarios with this tag (repeat for any of several).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Also write a JUnit XML report here (one testcase per scenario).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print each scenario's amoCRM requests (the journal).
    #[arg(long)]
    pub journal: bool,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    /// Run with the planted bug (callback-task dedup off), to check a reproducer.
    #[arg(long, hide = true)]
    pub sabotage_task_dedup: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Settings: the keys of a scenario's `settings:` block at the top level.
    #[arg(long, value_name = "FILE")]
    pub settings: PathBuf,
    /// The amoCRM account, e.g. https://SUBDOMAIN.amocrm.ru.
    #[arg(long, value_name = "URL")]
    pub amocrm: String,
    /// A long-lived token, or OAuth2 JSON with access_token, refresh_token, client_id,
    /// client_secret and redirect_uri (refreshed tokens are written back here).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// The secret path segment of the events URL (at least 16 of A-Z a-z 0-9 - _).
    #[arg(long, value_name = "FILE")]
    pub secret_file: PathBuf,
    /// Address to listen on; loopback by default (put a TLS proxy in front).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The SQLite database (inbox and engine memory).
    #[arg(long, default_value = "sipamo.db")]
    pub db: PathBuf,
    /// Milliseconds to wait after a hangup for the call's late events.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// amoCRM requests per second the integration may make (amoCRM allows 7).
    #[arg(long, default_value_t = 7)]
    pub rate_per_second: u32,
    /// Failed attempts after which a call is parked (R-ISOLATE) when amoCRM answers other
    /// requests; with pauses growing to a minute, 60 attempts take about an hour. A call amoCRM
    /// refuses outright (a 4xx no retry fixes) is parked at once; an outage parks nothing.
    #[arg(long, default_value_t = 60)]
    pub park_after: u32,
    /// Seconds the oldest ready call may wait before /health answers 503.
    #[arg(long, default_value_t = 300)]
    pub stuck_after_s: u64,
    /// Seconds after its last event that a call whose hangup never came is closed as
    /// unfinished (logged; nothing is done in amoCRM).
    #[arg(long, default_value_t = 4 * 3600)]
    pub max_call_s: u64,
    /// Seconds after SIGTERM before the process exits anyway (the call in hand continues after
    /// the next start).
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_s: u64,
    /// Seconds a client may take to send a request's headers; also how long a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, default_value_t = 5)]
    pub header_timeout_s: u64,
    /// Seconds a whole request (headers and body) may take before it is answered 408.
    #[arg(long, default_value_t = 10)]
    pub request_timeout_s: u64,
    /// Client connections open at once; lowered to fit the open-file limit (`ulimit -n`)
    /// minus 64 files the service keeps for itself. More wait in the kernel's accept queue.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds events and finished calls are kept before they are removed (default 30 days;
    /// at least --max-call-s). Older events are acknowledged but not handled again.
    #[arg(long, default_value_t = 30 * 86_400)]
    pub retention_s: u64,
}

#[derive(Debug, Args)]
pub struct StormArgs {
    /// Seed of the traffic (same seed, same storm).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Calls in the day.
    #[arg(long, default_value_t = 10_000)]
    pub calls: usize,
    /// Distinct client phones (repeat callers).
    #[arg(long, default_value_t = 300)]
    pub clients: usize,
    /// Employees (short numbers 201.., users 1001..).
    #[arg(long, default_value_t = 8)]
    pub employees: usize,
    /// Settings file (the keys of a scenario's `settings:` block); default: the spec's defaults.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Where to write the reproducer when an invariant breaks.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Plant a bug (callback-task dedup off) to see the harness catch it.
    #[arg(long, hide = true)]
    pub sabotage_task_dedup: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or folders (default: scenarios/).
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Scenario files or folders (default: scenarios/).
    pub paths: Vec<PathBuf>,
    /// Read the rule IDs from this behaviour spec instead of the built-in list.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// A scenario file whose call steps to expand.
    pub scenario: Option<PathBuf>,
    /// Generate this many seeded random calls instead.
    #[arg(long, conflicts_with = "scenario")]
    pub calls: Option<usize>,
    /// Seed of the random calls (printed to stderr).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Distinct client phones in the random calls.
    #[arg(long, default_value_t = 300)]
    pub clients: usize,
    /// Employees (short numbers from 201) in the random calls.
    #[arg(long, default_value_t = 8)]
    pub employees: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GenFormat::Lines)]
    pub format: GenFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GenFormat {
    /// URL-encoded lines, as a GET query or form body.
    Lines,
    /// One JSON object of fields per line.
    Json,
}

/// Runs a parsed command line; the binary's `main` only sets up logging and calls this.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Mock(args) => mock(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Run(args) => run_scenarios(args).await,
        Command::Storm(args) => storm(args).await,
        Command::Check(args) => check(args),
        Command::Coverage(args) => coverage(args),
        Command::Gen(args) => gen_events(args),
        Command::Bench(args) => bench(args).await,
        Command::Calls(args) => calls(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn mock(args: MockArgs) -> Result<ExitCode, String> {
    let state = match &args.account {
        None => MockOptions::default().state,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read account file {}: {e}", path.display()))?;
            let seed = CrmSeed::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            seed.build(Clock::System.now_secs())
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(|e| e.to_string())?),
        _ => None,
    };
    // With TLS, wiremock serves on a private loopback port behind the HTTPS front.
    let plain_addr = if tls.is_some() {
        "127.0.0.1:0".parse().map_err(|_| "bad address")?
    } else {
        args.listen
    };
    let listener = std::net::TcpListener::bind(plain_addr)
        .map_err(|e| format!("cannot listen on {plain_addr}: {e}"))?;
    let mock = MockCrm::start(MockOptions {
        token: args.token,
        state,
        rate_limit: args.rate_limit,
        list_processed_unsorted: args.list_processed_unsorted,
        listener: Some(listener),
        ..MockOptions::default()
    })
    .await;
    let url = match tls {
        None => mock.uri(),
        Some(acceptor) => {
            let front = tokio::net::TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            let upstream = mock.address();
            tokio::spawn(tls::serve(front, acceptor, upstream));
            format!("https://{}", args.listen)
        }
    };
    println!("{url}");
    tracing::info!(%url, "mock amoCRM serving; Ctrl-C stops it");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    eprintln!("served {} requests", mock.journal_len());
    Ok(ExitCode::SUCCESS)
}

async fn bench(args: BenchArgs) -> Result<ExitCode, String> {
    if args.rounds == 0 || args.requests == 0 || args.concurrency == 0 {
        return Err("--rounds, --requests and --concurrency must be at least 1".into());
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; use `cargo run --release -- bench` for real figures");
    }
    eprintln!(
        "mock throughput: {} rounds of {} requests (50% searches, 25% contact creates, 25% leads/complex), {} clients",
        args.rounds, args.requests, args.concurrency
    );
    use crate::bench::{Target, mock_throughput};
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
    eprintln!("scenario suite {}:", args.suite.display());
    let (n, secs) =
        crate::bench::suite_time(std::slice::from_ref(&args.suite), args.rounds, &[]).await?;
    let wall = crate::bench::Rounds { per_round: secs }.median();
    eprintln!(
        "the same suite without the `slow` scenarios (lost answers wait out the real client timeout):"
    );
    let (fast_n, fast_secs) = crate::bench::suite_time(
        std::slice::from_ref(&args.suite),
        args.rounds,
        &["slow".to_string()],
    )
    .await?;
    let fast_wall = crate::bench::Rounds {
        per_round: fast_secs,
    }
    .median();
    println!(
        "suite wall time (median of {}): {wall:.3} s for {n} scenarios = {:.0} scenarios/s",
        args.rounds,
        n as f64 / wall
    );
    println!(
        "suite without `slow` (median of {}): {fast_wall:.3} s for {fast_n} scenarios = {:.0} scenarios/s",
        args.rounds,
        fast_n as f64 / fast_wall
    );
    eprintln!(
        "serve ingest: {} events per round, {} clients, acknowledged after fsync:",
        args.ingest_events, args.concurrency
    );
    let mut rates = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for round in 0..args.rounds {
        let r = crate::bench::ingest(args.ingest_events, args.concurrency).await?;
        let rate = r.events as f64 / r.secs;
        eprintln!(
            "  round {}: {} events in {:.3} s = {rate:.0} events/s, p50 {:.2} ms, p99 {:.2} ms",
            round + 1,
            r.events,
            r.secs,
            r.p50_ms,
            r.p99_ms
        );
        rates.push(rate);
        p50.push(r.p50_ms);
        p99.push(r.p99_ms);
    }
    let med = |v: Vec<f64>| crate::bench::Rounds { per_round: v }.median();
    println!(
        "serve ingest events/s (median of {}): {:.0}; ack latency p50 {:.2} ms, p99 {:.2} ms (medians)",
        args.rounds,
        med(rates),
        med(p50),
        med(p99)
    );
    eprintln!(
        "storm: 2,000 calls (default settings, invariants after every call), one engine thread:"
    );
    let mut storm_rates = Vec::new();
    for round in 0..args.rounds {
        let cfg = crate::storm::generate::StormConfig {
            seed: round as u64 + 1,
            calls: 2000,
            clients: 300,
            employees: 8,
            settings_yaml: None,
        };
        let (sc, _) = crate::storm::generate::generate(&cfg)?;
        let (o, elapsed) =
            tokio::task::spawn_blocking(move || crate::storm::run_storm_pinned(&sc, false, None))
                .await
                .map_err(|e| e.to_string())??;
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
    Ok(ExitCode::SUCCESS)
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

async fn run_scenarios(args: RunArgs) -> Result<ExitCode, String> {
    use crate::scenario::{report, run::RunOptions, suite};
    let files = suite::discover(&default_paths(&args.paths))?;
    let (loaded, load_errors) = suite::load_all(&files);
    let selected = suite::filter_tags(loaded, &args.tags);
    for e in &load_errors {
        println!("FAIL {e}");
    }
    if selected.is_empty() && load_errors.is_empty() {
        eprintln!(
            "no scenario matches (files: {}, tags: {:?})",
            files.len(),
            args.tags
        );
        return Ok(ExitCode::FAILURE);
    }
    let started = std::time::Instant::now();
    let opts = RunOptions {
        sabotage_task_dedup: args.sabotage_task_dedup,
        ..RunOptions::default()
    };
    let outcomes = suite::run_all(selected, opts, args.parallel).await;
    for o in &outcomes {
        println!("{}", report::line(o));
        if args.journal {
            println!(
                "  journal (seed {}):\n    {}",
                o.seed,
                o.journal_yaml().trim_end().replace('\n', "\n    ")
            );
        }
    }
    println!(
        "{} in {:.2} s",
        report::summary(&outcomes, &load_errors),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.junit {
        let xml = report::junit(&outcomes, &load_errors)?;
        std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let ok = load_errors.is_empty() && outcomes.iter().all(|o| o.passed());
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check(args: CheckArgs) -> Result<ExitCode, String> {
    use crate::scenario::suite;
    let files = suite::discover(&default_paths(&args.paths))?;
    let (loaded, errors) = suite::load_all(&files);
    let mut bad = errors.len();
    for e in &errors {
        println!("FAIL {e}");
    }
    for l in &loaded {
        let sc = &l.scenario;
        let problem = sc.crm.build(sc.start.0).err().map(|e| e.to_string());
        match problem {
            Some(p) => {
                bad += 1;
                println!("FAIL {}: {p}", l.path.display());
            }
            None => println!("ok   {}  {}", l.path.display(), sc.name),
        }
    }
    println!("{} passed, {bad} failed", loaded.len() + errors.len() - bad);
    if files.is_empty() {
        eprintln!("no scenario files found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn coverage(args: CoverageArgs) -> Result<ExitCode, String> {
    use crate::scenario::{rules, suite};
    let ids: Vec<String> = match &args.spec {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let ids = rules::ids_in_spec(&text);
            if ids.is_empty() {
                return Err(format!("{}: no rule headings (**R-…**) found", p.display()));
            }
            ids
        }
        None => rules::RULES.iter().map(|r| r.0.to_string()).collect(),
    };
    let files = suite::discover(&default_paths(&args.paths))?;
    let (loaded, errors) = suite::load_all(&files);
    for e in &errors {
        eprintln!("FAIL {e}");
    }
    let mut uncovered = 0;
    for id in &ids {
        let by: Vec<String> = loaded
            .iter()
            .filter(|l| l.scenario.rules.iter().any(|r| &r.0 == id))
            .map(|l| l.path.display().to_string())
            .collect();
        if by.is_empty() {
            uncovered += 1;
            println!("{id:<18} UNCOVERED");
        } else {
            println!("{id:<18} {} scenario(s)", by.len());
        }
    }
    println!(
        "{} of {} rules covered by {} scenarios",
        ids.len() - uncovered,
        ids.len(),
        loaded.len()
    );
    Ok(if uncovered == 0 && errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gen_events(args: GenArgs) -> Result<ExitCode, String> {
    use crate::scenario::{load, model::Action};
    use crate::sipuni::synth;
    let mut lines: Vec<String> = Vec::new();
    match (&args.scenario, args.calls) {
        (Some(path), _) => {
            let l = load::load_file(path).map_err(|e| e.to_string())?;
            let sc = &l.scenario;
            for (i, step) in sc.steps.iter().enumerate() {
                let at = sc.start.0 + step.at.secs() as i64;
                if let Action::Call(c) = &step.action {
                    let id = c
                        .call_id
                        .as_ref()
                        .map_or_else(|| format!("{at}.{}", i + 1), |t| t.0.clone());
                    let spec = crate::scenario::run::call_spec(sc, c, id)?;
                    lines.extend(spec.events(at).into_iter().map(|e| e.line));
                }
            }
        }
        (None, Some(n)) => {
            eprintln!("seed {}", args.seed);
            for (t, spec) in synth::random_calls(
                args.seed,
                n,
                args.clients,
                args.employees,
                crate::scenario::model::Start::default().0,
            ) {
                lines.extend(spec.events(t).into_iter().map(|e| e.line));
            }
        }
        (None, None) => return Err("give a scenario file or --calls N".into()),
    }
    for l in lines {
        match args.format {
            GenFormat::Lines => println!("{l}"),
            GenFormat::Json => println!("{}", synth::to_json_line(&l)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let cfg = crate::server::ServeConfig {
        settings: args.settings,
        amocrm: args.amocrm,
        token_file: args.token_file,
        secret_file: args.secret_file,
        listen: args.listen,
        db: args.db,
        settle: std::time::Duration::from_millis(args.settle_ms),
        rate_per_second: args.rate_per_second,
        retry: crate::amocrm::client::RetryPolicy::default(),
        tick: std::time::Duration::from_millis(250),
        park_after: args.park_after,
        stuck_after: std::time::Duration::from_secs(args.stuck_after_s),
        max_call: std::time::Duration::from_secs(args.max_call_s),
        shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_s),
        limits: crate::server::listen::Limits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout_s.max(1)),
            request_timeout: std::time::Duration::from_secs(args.request_timeout_s.max(1)),
            max_connections: args.max_connections.max(1),
        },
        retention: std::time::Duration::from_secs(args.retention_s),
    };
    let app = crate::server::Application::build(&cfg).await?;
    let addr = app.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "sipamo serving");
    app.run_until_stopped(crate::server::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn calls(args: CallsArgs) -> Result<ExitCode, String> {
    use crate::server::operator;
    match args.action {
        CallsAction::List => {
            let parked = operator::list(&args.db).map_err(|e| e.to_string())?;
            for p in &parked {
                println!(
                    "{}\tparked after {} attempt(s)\t{}",
                    p.call_id, p.attempts, p.reason
                );
            }
            println!("{} parked call(s)", parked.len());
            Ok(ExitCode::SUCCESS)
        }
        CallsAction::Show { call_id } => {
            match operator::show(&args.db, &call_id).map_err(|e| e.to_string())? {
                Some(text) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                None => Err(format!("no call {call_id:?} in {}", args.db.display())),
            }
        }
        CallsAction::Retry { call_id } => {
            if operator::retry(&args.db, &call_id).map_err(|e| e.to_string())? {
                println!("call {call_id} is back in the queue");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!(
                    "call {call_id:?} is not parked in {} (`sipamo calls list` shows the parked ones)",
                    args.db.display()
                ))
            }
        }
    }
}

async fn storm(args: StormArgs) -> Result<ExitCode, String> {
    use crate::storm::{generate, shrink};
    let settings_yaml = match &args.settings {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let cfg = generate::StormConfig {
        seed: args.seed,
        calls: args.calls,
        clients: args.clients,
        employees: args.employees,
        settings_yaml,
    };
    let (scenario, settings_yaml) = generate::generate(&cfg)?;
    eprintln!("{} (seed {})", scenario.name, args.seed);
    let bar = indicatif::ProgressBar::new(scenario.steps.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta})",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let (outcome, elapsed) = {
        let (sc, sabotage, progress) = (
            scenario.clone(),
            args.sabotage_task_dedup,
            Some(bar.clone()),
        );
        tokio::task::spawn_blocking(move || crate::storm::run_storm_pinned(&sc, sabotage, progress))
            .await
            .map_err(|e| e.to_string())??
    };
    bar.finish_and_clear();
    print!("{}", crate::storm::summary(&outcome, elapsed));
    let Some(v) = &outcome.violation else {
        return Ok(if outcome.error.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    };
    let last = outcome.violation_step.unwrap_or(0);
    eprintln!("{v}\nshrinking {} steps…", last + 1);
    let opts = crate::storm::storm_options(args.sabotage_task_dedup, None);
    let small = shrink::shrink(
        &scenario,
        scenario.steps[..=last].to_vec(),
        v.invariant,
        &opts,
    )
    .await;
    let crm = generate::crm_yaml(args.employees.clamp(1, 90));
    let note = format!(
        "Reproducer of `sipamo storm --seed {} --calls {} --clients {} --employees {}`{}:\n{v}\nShrunk from {} steps to {}.",
        args.seed,
        args.calls,
        args.clients,
        args.employees,
        if args.sabotage_task_dedup {
            " --sabotage-task-dedup"
        } else {
            ""
        },
        last + 1,
        small.len()
    );
    let yaml = shrink::scenario_yaml(
        &format!("Storm seed {} breaks {}", args.seed, v.invariant),
        args.seed,
        &settings_yaml,
        &crm,
        &small,
        &note,
    );
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("storm-seed-{}.yaml", args.seed)));
    std::fs::write(&out, yaml).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "invariant `{}` broken; {} steps reproduce it: {}",
        v.invariant,
        small.len(),
        out.display()
    );
    println!(
        "reproduce with: sipamo run {}{}",
        out.display(),
        if args.sabotage_task_dedup {
            " --sabotage-task-dedup"
        } else {
            ""
        }
    );
    Ok(ExitCode::FAILURE)
}
