//! Command-line commands (clap derive); each subcommand's help is its doc comment.
//!
//! One file per subcommand: its arguments, then parse, call the library, print, exit code.
//! The simulation's subcommands exist only with the `sim` feature (on by default).

mod accounts;
#[cfg(feature = "sim")]
mod bench;
mod calls;
#[cfg(feature = "sim")]
mod check;
#[cfg(feature = "sim")]
mod r#gen;
#[cfg(feature = "sim")]
mod mock;
#[cfg(feature = "sim")]
mod record;
#[cfg(feature = "sim")]
mod run;
#[cfg(feature = "sim")]
mod schema;
mod serve;
#[cfg(feature = "sim")]
mod storm;
#[cfg(feature = "sim")]
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sipamo: Sipuni call events to amoCRM, and the harness that proves the rules.
#[derive(Debug, Parser)]
#[command(name = "sipamo", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve a stateful mock amoCRM account (API v4) until Ctrl-C.
    ///
    /// Prints its base URL. Point any amoCRM client at it with the bearer token given.
    #[cfg(feature = "sim")]
    Mock(mock::MockArgs),
    /// Run the engine for real: receive Sipuni events, update the amoCRM account.
    ///
    /// Sipuni is pointed at http(s)://HOST/sipuni/events/SECRET. Events are stored in the
    /// database (SQLite, or PostgreSQL shared by several replicas) before they are
    /// acknowledged; settings are checked against the account first. One account from the
    /// command line, or with --accounts every enabled account of `sipamo accounts`.
    Serve(Box<serve::ServeArgs>),
    /// Run scenarios against the engine and a fresh embedded mock each, on a virtual clock.
    ///
    /// Prints a line per scenario and a summary; exits 0 only when every selected scenario
    /// passes (a filter that selects nothing is a failure).
    #[cfg(feature = "sim")]
    Run(run::RunArgs),
    /// Print the JSON Schema of the scenario format (for YAML editors), or write or check it.
    ///
    /// Scenario files start with `# yaml-language-server: $schema=…/schema/scenario.schema.json`
    /// so VS Code and other YAML editors complete keys and flag mistakes while QA types.
    #[cfg(feature = "sim")]
    Schema(schema::SchemaArgs),
    /// Load and validate scenarios without running them.
    #[cfg(feature = "sim")]
    Check(check::CheckArgs),
    /// Which rule IDs of behaviour.md the scenarios exercise, and which none does.
    ///
    /// Exits non-zero when a rule is uncovered.
    #[cfg(feature = "sim")]
    Coverage(check::CoverageArgs),
    /// Print Sipuni events as the wire sends them, for replay against a receiver.
    ///
    /// Either the call steps of a scenario file, or `--calls N` seeded random calls.
    #[cfg(feature = "sim")]
    Gen(r#gen::GenArgs),
    /// Generate a seeded day of random traffic, run it with the invariants checked after every
    /// call, and shrink any break to a minimal scenario file.
    #[cfg(feature = "sim")]
    Storm(storm::StormArgs),
    /// Calls of a running (or stopped) `sipamo serve`, from its database: the parked ones, one
    /// call's events and progress, putting a parked call back in the queue, and the requests
    /// it kept aside as no usable event.
    Calls(calls::CallsArgs),
    /// The amoCRM accounts of a many-account deployment on PostgreSQL: add (settings checked
    /// against the account, the token sealed with --key-file or SIPAMO_KEY), list, disable,
    /// enable, set-settings. `sipamo serve --accounts` serves every enabled one.
    Accounts(accounts::AccountsArgs),
    /// Turn calls the service handled into a scenario file that replays them.
    ///
    /// Reads the database of `sipamo serve`: the calls' raw events become `event:` steps at the
    /// times they arrived, the settings the service ran with are copied, a `crm:` account is
    /// rebuilt from what amoCRM answered during those calls, and `expect:` holds what the
    /// service did (its call notes and tasks, and at most its number of requests).
    #[cfg(feature = "sim")]
    Record(record::RecordArgs),
    /// Measure throughput and print the figures (medians over rounds).
    ///
    /// Build with --release for meaningful numbers.
    #[cfg(feature = "sim")]
    Bench(bench::BenchArgs),
}

/// Writes `text` to `output` (atomically, 0600) and says so, or prints it.
#[cfg(feature = "sim")]
fn emit(text: &str, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    match output {
        Some(path) => {
            crate::private_file::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Runs a parsed command line; the binary's `main` only sets up logging and calls this.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        #[cfg(feature = "sim")]
        Command::Mock(args) => mock::mock(args).await,
        Command::Serve(args) => serve::serve(*args).await,
        #[cfg(feature = "sim")]
        Command::Run(args) => run::run_scenarios(args).await,
        #[cfg(feature = "sim")]
        Command::Storm(args) => storm::storm(args).await,
        #[cfg(feature = "sim")]
        Command::Schema(args) => schema::schema(args),
        #[cfg(feature = "sim")]
        Command::Check(args) => check::check(args),
        #[cfg(feature = "sim")]
        Command::Coverage(args) => check::coverage(args),
        #[cfg(feature = "sim")]
        Command::Gen(args) => r#gen::gen_events(args),
        #[cfg(feature = "sim")]
        Command::Bench(args) => bench::bench(args).await,
        Command::Calls(args) => calls::calls(args).await,
        Command::Accounts(args) => accounts::accounts(args).await,
        #[cfg(feature = "sim")]
        Command::Record(args) => record::record(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, `: `-separated; a cause its wrapper already quotes is said once.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
