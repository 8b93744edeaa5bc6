//! `sipamo mock`: the stateful mock amoCRM as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::clock::Clock;
use crate::sim::mock::{CrmSeed, FaultSpec, Lockout, MockCrm, MockOptions, tls};

#[derive(Debug, Args)]
pub(crate) struct MockArgs {
    /// Address to listen on; loopback by default.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub(crate) listen: SocketAddr,
    /// Bearer token clients must send (or set SIPAMO_MOCK_TOKEN).
    #[arg(long, env = "SIPAMO_MOCK_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
    /// Account to serve: a YAML file with the keys of a scenario's `crm:` block at the top level.
    #[arg(long)]
    pub(crate) account: Option<PathBuf>,
    /// Answer 429 (amoCRM's problem body with `retry_after`) to more than N requests in any
    /// 1-second window, as amoCRM does at 7; `off` serves without a limit.
    #[arg(long, value_name = "N|off", default_value = "7", value_parser = limit)]
    pub(crate) rate_limit: Limit,
    /// After N answers 429 within a minute, answer 403 to every request for --lockout-s, as
    /// amoCRM blocks a client that keeps exceeding the limit (it publishes neither number);
    /// `off` never blocks.
    #[arg(long, value_name = "N|off", default_value = "20", value_parser = limit)]
    pub(crate) lockout_after: Limit,
    /// Access tokens expire after this many seconds, the one given by --token included
    /// (amoCRM: 24 hours); a short one makes a client's 401 → refresh path run.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) token_ttl_s: Option<u64>,
    /// The refresh token `POST /oauth2/access_token` first accepts; each refresh rotates it
    /// and revokes the one before once the new one is used.
    #[arg(long, default_value = "mock-refresh", value_name = "TOKEN")]
    pub(crate) refresh_token: String,
    /// Arm a fault at start, as a scenario's `fault:` in JSON (repeat for several; they stack
    /// in order), e.g. '{"path": "/api/v4/tasks", "method": "POST", "status": 402, "times": 3}'
    /// or '{"path": "/api/v4/*", "method": "POST", "hang": true}'. While running, faults are
    /// armed with `POST /__sipamo/faults`.
    #[arg(long = "fault", value_name = "JSON", value_parser = fault)]
    pub(crate) faults: Vec<FaultSpec>,
    /// How long the lock-out lasts, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) lockout_s: u32,
    /// `GET /leads/unsorted/{uid}` answers accepted and declined items too, instead of 204
    /// (amoCRM documents neither; clients should cope with both).
    #[arg(long)]
    pub(crate) list_processed_unsorted: bool,
    /// A sip item with `metadata.is_call_event_needed: true` puts its call on its lead as a
    /// `call_in` note (amoCRM adds "a call event"; whether the API lists it as a note is not
    /// documented, so clients should cope with both).
    #[arg(long)]
    pub(crate) unsorted_call_events: bool,
    /// How `query` reads a phone number: `strict` (full text, as typed: `8…` does not find
    /// `+7…`) or `lenient` (a phone also finds its other notations). Whether amoCRM rewrites
    /// notations is not documented; try clients both ways.
    #[arg(long, value_enum, default_value = "strict")]
    pub(crate) search: SearchArg,
    /// Refuse `responsible_user_id: 0` in a write (by default it changes nothing; the official
    /// PHP library's example sends it, and amoCRM documents no answer).
    #[arg(long)]
    pub(crate) refuse_zero_responsible: bool,
    /// Refuse a `source_uid` an Unsorted item of another category already has (by default a
    /// forms item may reuse a sip item's, as the PHP library's example does; UNCONFIRMED).
    #[arg(long)]
    pub(crate) source_uid_across_categories: bool,
    /// Serve HTTPS with this PEM certificate chain (for clients that hard-code https://).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve N independent accounts (each its own state, limits and faults, from the same
    /// --account file) in this one process, each on a port of its own: --listen's, then the
    /// next ones (port 0: any free ones). One base URL is printed per line. For load tests
    /// with many accounts; not with --tls-cert.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        conflicts_with = "tls_cert"
    )]
    pub(crate) accounts: u16,
}

/// A `--fault` value. Clap prints only this error's own text, so the cause is part of it.
fn fault(raw: &str) -> anyhow::Result<FaultSpec> {
    let spec: FaultSpec = serde_json::from_str(raw).map_err(|e| anyhow::anyhow!("{raw}: {e}"))?;
    spec.arm(0)?;
    Ok(spec)
}

/// A number, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limit(Option<u32>);

fn limit(raw: &str) -> anyhow::Result<Limit> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(Limit(None));
    }
    match raw.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Limit(Some(n))),
        _ => Err(anyhow::anyhow!("{raw:?}: give a positive number or `off`")),
    }
}

pub(super) async fn mock(args: MockArgs) -> anyhow::Result<ExitCode> {
    if args.accounts > 1 {
        return many(args).await;
    }
    let state = account_state(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    // With TLS, wiremock serves on a private loopback port behind the HTTPS front.
    let plain_addr = if tls.is_some() {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        args.listen
    };
    let listener = std::net::TcpListener::bind(plain_addr)
        .with_context(|| format!("cannot listen on {plain_addr}"))?;
    // The HTTPS front is bound first, so that its real address (port 0 picks one) is the one
    // the links carry and the line printed says.
    let front = match &tls {
        None => None,
        Some(_) => {
            let l = std::net::TcpListener::bind(args.listen)
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let addr = l
                .local_addr()
                .with_context(|| format!("cannot read the address of {}", args.listen))?;
            Some((l, addr))
        }
    };
    let public_base = front.as_ref().map(|(_, addr)| format!("https://{addr}"));
    let mock = MockCrm::start(options(&args, state, listener, public_base)).await;
    for spec in &args.faults {
        mock.arm(spec)?;
    }
    let url = match (tls, front) {
        (Some(acceptor), Some((l, addr))) => {
            let front = l
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(l))
                .with_context(|| format!("cannot serve on {addr}"))?;
            let upstream = mock.address();
            tokio::spawn(tls::serve(front, acceptor, upstream));
            format!("https://{addr}")
        }
        _ => mock.uri(),
    };
    println!("{url}");
    tracing::info!(%url, "mock amoCRM serving; Ctrl-C stops it");
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    eprintln!("served {} requests", mock.journal_len());
    Ok(ExitCode::SUCCESS)
}

/// The account of `--account` (or the default one), fresh.
fn account_state(args: &MockArgs) -> anyhow::Result<crate::sim::mock::CrmState> {
    match &args.account {
        None => Ok(MockOptions::default().state),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read account file {}", path.display()))?;
            let seed = CrmSeed::from_yaml(&text).with_context(|| path.display().to_string())?;
            seed.build(Clock::System.now_secs())
                .with_context(|| path.display().to_string())
        }
    }
}

/// The options of one mock account served on `listener`.
fn options(
    args: &MockArgs,
    state: crate::sim::mock::CrmState,
    listener: std::net::TcpListener,
    public_base: Option<String>,
) -> MockOptions {
    MockOptions {
        token: args.token.clone(),
        state,
        rate_limit: args.rate_limit.0,
        lockout: args.lockout_after.0.map(|after| Lockout {
            after,
            for_ms: i64::from(args.lockout_s) * 1000,
        }),
        public_base,
        token_ttl: args.token_ttl_s.map(std::time::Duration::from_secs),
        refresh_token: args.refresh_token.clone(),
        list_processed_unsorted: args.list_processed_unsorted,
        unsorted_call_events: args.unsorted_call_events,
        search: args.search.into(),
        refuse_zero_responsible: args.refuse_zero_responsible,
        source_uid_across_categories: args.source_uid_across_categories,
        listener: Some(listener),
        ..MockOptions::default()
    }
}

/// `--accounts N`: N accounts, each on a port of its own, a base URL printed for each.
async fn many(args: MockArgs) -> anyhow::Result<ExitCode> {
    let mut mocks = Vec::with_capacity(usize::from(args.accounts));
    for k in 0..args.accounts {
        let mut addr = args.listen;
        if addr.port() != 0 {
            let port = addr.port().checked_add(k).ok_or_else(|| {
                anyhow::anyhow!(
                    "--accounts {} from port {} passes port 65535",
                    args.accounts,
                    args.listen.port()
                )
            })?;
            addr.set_port(port);
        }
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        let mock = MockCrm::start(options(&args, account_state(&args)?, listener, None)).await;
        for spec in &args.faults {
            mock.arm(spec)?;
        }
        mocks.push(mock);
    }
    let urls: Vec<String> = mocks.iter().map(MockCrm::uri).collect();
    println!("{}", urls.join("\n"));
    tracing::info!(
        accounts = mocks.len(),
        "mock amoCRM accounts serving; Ctrl-C stops them"
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    let served: usize = mocks.iter().map(MockCrm::journal_len).sum();
    eprintln!("served {served} requests on {} accounts", mocks.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    #[test]
    fn the_rate_limit_is_amocrms_unless_turned_off() {
        let on = Cli::parse_from(["mock", "--token", "t"]).mock;
        assert_eq!(
            (on.rate_limit, on.lockout_after),
            (Limit(Some(7)), Limit(Some(20)))
        );
        let off = Cli::parse_from(["mock", "--token", "t", "--rate-limit", "off"]).mock;
        assert_eq!(off.rate_limit, Limit(None));
        assert!(Cli::try_parse_from(["mock", "--token", "t", "--rate-limit", "0"]).is_err());
    }

    #[test]
    fn faults_are_read_and_checked_at_the_command_line() {
        let args = Cli::parse_from([
            "mock",
            "--token",
            "t",
            "--fault",
            r#"{"path": "/api/v4/tasks", "status": 402, "times": 3}"#,
        ])
        .mock;
        assert_eq!(args.faults.len(), 1);
        assert_eq!(args.faults[0].times, 3);
        for bad in [
            r#"{"path": "/api/v4/tasks"}"#,
            r#"{"path": "x", "status": 503}"#,
            "503",
        ] {
            assert!(
                Cli::try_parse_from(["mock", "--token", "t", "--fault", bad]).is_err(),
                "{bad}"
            );
        }
        // Clap shows the parser's error alone: it must carry its cause.
        let said = Cli::try_parse_from(["mock", "--token", "t", "--fault", r#"{"bad":1}"#])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(said.contains("unknown field `bad`"), "{said}");
    }
}

/// `--search`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SearchArg {
    Strict,
    Lenient,
}

impl From<SearchArg> for crate::sim::mock::state::SearchMode {
    fn from(a: SearchArg) -> Self {
        match a {
            SearchArg::Strict => Self::Strict,
            SearchArg::Lenient => Self::Lenient,
        }
    }
}
