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
    /// Run a smoke check of the embedded mock (the scenario suite comes here).
    Run(RunArgs),
    /// Measure throughput and print the figures (medians over rounds).
    ///
    /// Build with --release for meaningful numbers.
    Bench(BenchArgs),
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
}

/// Runs a parsed command line; the binary's `main` only sets up logging and calls this.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Mock(args) => mock(args).await,
        Command::Run(_) => smoke().await,
        Command::Bench(args) => bench(args).await,
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

/// Until the scenario harness exists: create a contact and lead on the embedded mock over
/// HTTP, find them by phone, and print the journal.
async fn smoke() -> Result<ExitCode, String> {
    let mock = MockCrm::start(MockOptions::default()).await;
    let http = crate::http::client();
    let auth = format!("Bearer {}", mock.token());
    let base = mock.uri();
    let search = || {
        http.get(format!(
            "{base}/api/v4/contacts?query=79161234567&with=leads"
        ))
        .header("authorization", &auth)
        .send()
    };
    let before = search().await.map_err(|e| e.to_string())?.status();
    let created = http
        .post(format!("{base}/api/v4/leads/complex"))
        .header("authorization", &auth)
        .json(&serde_json::json!([{ "name": "Звонок от +79161234567",
            "_embedded": { "contacts": [{ "name": "+79161234567",
                "custom_fields_values": [{ "field_code": "PHONE", "values": [{ "value": "+79161234567", "enum_code": "WORK" }] }] }] } }]))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .status();
    let after = search().await.map_err(|e| e.to_string())?.status();
    print!(
        "{}",
        crate::amocrm::mock::journal::to_yaml(&mock.journal(), 0)
    );
    let ok = before == 204 && created == 200 && after == 200;
    println!("smoke: {}", if ok { "ok" } else { "FAILED" });
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
    Ok(ExitCode::SUCCESS)
}
