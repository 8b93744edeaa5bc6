//! `sipamo serve`: the engine as a service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Settings: the keys of a scenario's `settings:` block at the top level.
    #[arg(long, value_name = "FILE", required_unless_present = "accounts")]
    pub(crate) settings: Option<PathBuf>,
    /// The amoCRM account, e.g. https://SUBDOMAIN.amocrm.ru.
    #[arg(long, value_name = "URL", required_unless_present = "accounts")]
    pub(crate) amocrm: Option<String>,
    /// A long-lived token, or OAuth2 JSON with access_token, refresh_token, client_id,
    /// client_secret and redirect_uri (refreshed tokens are written back here).
    #[arg(long, value_name = "FILE", required_unless_present = "accounts")]
    pub(crate) token_file: Option<PathBuf>,
    /// The secret path segment of the events URL (at least 16 of A-Z a-z 0-9 - _).
    #[arg(long, value_name = "FILE", required_unless_present = "accounts")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Serve every enabled account of the database's accounts table (`sipamo accounts`;
    /// PostgreSQL) instead of the one account of --settings, --amocrm, --token-file and
    /// --secret-file. Accounts added, disabled or given new settings are picked up within
    /// seconds, without a restart.
    #[arg(long, conflicts_with_all = ["settings", "amocrm", "token_file", "secret_file"])]
    pub(crate) accounts: bool,
    /// With --accounts: the file holding the key the tokens are sealed with (64 hex digits);
    /// without it, the SIPAMO_KEY environment variable.
    #[arg(long, value_name = "FILE", requires = "accounts")]
    pub(crate) key_file: Option<PathBuf>,
    /// Address to listen on; loopback by default (put a TLS proxy in front).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Where the inbox and the engine's memory live: a SQLite file (`sipamo.db`,
    /// `sqlite:PATH`) or PostgreSQL (`postgres://USER:PASSWORD@HOST:PORT/DB`). The schema is
    /// brought up to date at start. Also from SIPAMO_DB, so that a password is not on the
    /// command line (visible in `ps`).
    #[arg(
        long,
        default_value = "sipamo.db",
        value_name = "URL",
        env = "SIPAMO_DB",
        hide_env_values = true
    )]
    pub(crate) db: crate::server::store::DbUrl,
    /// With PostgreSQL: the most connections this process opens to the database, whatever the
    /// number of accounts (every account's work shares them; a PostgreSQL with the default
    /// max_connections of 100 takes several replicas at the default).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub(crate) db_pool: u32,
    /// Milliseconds to wait after a hangup for the call's late events.
    #[arg(long, default_value_t = 2000)]
    pub(crate) settle_ms: u64,
    /// amoCRM requests per second the integration may make (amoCRM allows 7).
    #[arg(long, default_value_t = 7)]
    pub(crate) rate_per_second: u32,
    /// Failed attempts after which a call is parked (R-ISOLATE) when amoCRM answers other
    /// requests; with pauses growing to a minute, 60 attempts take about an hour. A call amoCRM
    /// refuses outright (a 4xx no retry fixes) is parked at once; an outage parks nothing.
    #[arg(long, default_value_t = crate::server::work::worker::PARK_AFTER)]
    pub(crate) park_after: u32,
    /// Seconds the oldest ready call may wait before /health answers 503.
    #[arg(long, default_value_t = 300)]
    pub(crate) stuck_after_s: u64,
    /// Seconds after its last event that a call whose hangup never came is closed as
    /// unfinished (logged; nothing is done in amoCRM).
    #[arg(long, default_value_t = 4 * 3600)]
    pub(crate) max_call_s: u64,
    /// Seconds after SIGTERM before the process exits anyway (the call in hand continues after
    /// the next start).
    #[arg(long, default_value_t = 10)]
    pub(crate) shutdown_grace_s: u64,
    /// Seconds a client may take to send a request's headers; also how long a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, default_value_t = 5)]
    pub(crate) header_timeout_s: u64,
    /// Seconds a whole request (headers and body) may take before it is answered 408.
    #[arg(long, default_value_t = 10)]
    pub(crate) request_timeout_s: u64,
    /// Client connections open at once; lowered to fit the open-file limit (`ulimit -n`)
    /// minus 64 files the service keeps for itself. More wait in the kernel's accept queue.
    #[arg(long, default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Seconds events and finished calls are kept before they are removed (default 30 days;
    /// at least --max-call-s). Older events are acknowledged but not handled again.
    #[arg(long, default_value_t = 30 * 86_400)]
    pub(crate) retention_s: u64,
    /// Seconds one amoCRM request may take before it is given up (and retried).
    #[arg(long, default_value_t = 20)]
    pub(crate) amocrm_timeout_s: u64,
    /// With PostgreSQL, several replicas may share the database: one at a time does the amoCRM
    /// work, under a lease of this many seconds (the others acknowledge events and take over
    /// within it when the holder dies). At least twice --amocrm-timeout-s + 1.
    #[arg(long, default_value_t = 60)]
    pub(crate) lease_s: u64,
    /// This replica's name in the lease (default: the host name). One process per name: a
    /// restarted replica takes its lease back at once (with a new fencing token); replicas on
    /// one host need names of their own.
    #[arg(long)]
    pub(crate) replica_id: Option<String>,
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::server::ServeConfig {
        settings: args.settings.unwrap_or_default(),
        amocrm: args.amocrm.unwrap_or_default(),
        token_file: args.token_file.unwrap_or_default(),
        secret_file: args.secret_file.unwrap_or_default(),
        listen: args.listen,
        db: args.db,
        settle: std::time::Duration::from_millis(args.settle_ms),
        rate_per_second: args.rate_per_second,
        retry: crate::amocrm::client::RetryPolicy::default(),
        tick: crate::server::work::worker::TICK,
        park_after: args.park_after,
        stuck_after: std::time::Duration::from_secs(args.stuck_after_s),
        max_call: std::time::Duration::from_secs(args.max_call_s),
        shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_s),
        limits: crate::server::http::listen::Limits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout_s.max(1)),
            request_timeout: std::time::Duration::from_secs(args.request_timeout_s.max(1)),
            max_connections: args.max_connections.max(1),
        },
        retention: std::time::Duration::from_secs(args.retention_s),
        amocrm_timeout: std::time::Duration::from_secs(args.amocrm_timeout_s.max(1)),
        lease: std::time::Duration::from_secs(args.lease_s),
        replica_id: args.replica_id.unwrap_or_else(default_replica_id),
    };
    if let crate::server::store::DbUrl::Postgres(url) = &cfg.db {
        url.configure_pool(args.db_pool, &format!("sipamo {}", cfg.replica_id));
    }
    if args.accounts {
        let vault = crate::server::fleet::vault::Vault::load(args.key_file.as_deref())?;
        let app = crate::server::fleet::FleetApp::build(&cfg, vault).await?;
        let addr = app.local_addr()?;
        println!("listening on http://{addr}");
        tracing::info!(%addr, accounts = app.accounts(), "sipamo serving the accounts");
        app.run_until_stopped(crate::server::shutdown_signal())
            .await?;
        return Ok(ExitCode::SUCCESS);
    }
    let app = crate::server::Application::build(&cfg).await?;
    let addr = app.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "sipamo serving");
    app.run_until_stopped(crate::server::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The host name: one replica per host unless named otherwise.
fn default_replica_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sipamo".into())
}
