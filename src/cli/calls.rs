//! `sipamo calls`: parked calls of a service, from its database.

use std::process::ExitCode;

use clap::Args;
use clap::Subcommand;

#[derive(Debug, Args)]
pub(crate) struct CallsArgs {
    /// The database `sipamo serve --db` uses (a SQLite file or a postgres:// URL).
    #[arg(long, default_value = "sipamo.db", global = true)]
    pub(crate) db: crate::server::memory_store::DbUrl,
    /// In a many-account deployment (`serve --accounts`): the account whose calls these are.
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) account: Option<String>,
    #[command(subcommand)]
    pub(crate) action: CallsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CallsAction {
    /// The parked calls (R-ISOLATE), oldest first, with why amoCRM refused them.
    List,
    /// One call: its state, its stored events and its saved progress.
    Show { call_id: String },
    /// Put a parked call back in the queue once the cause is fixed (the running service takes it
    /// on its next round; a stopped one at its next start). It continues where it stopped.
    Retry { call_id: String },
}

pub(super) fn calls(mut args: CallsArgs) -> Result<ExitCode, String> {
    use crate::server::operator;
    args.db = crate::server::accounts::account_db(&args.db, args.account.as_deref())?;
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
                None => Err(format!("no call {call_id:?} in {}", args.db)),
            }
        }
        CallsAction::Retry { call_id } => {
            if operator::retry(&args.db, &call_id).map_err(|e| e.to_string())? {
                println!("call {call_id} is back in the queue");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(format!(
                    "call {call_id:?} is not parked in {} (`sipamo calls list` shows the parked ones)",
                    args.db
                ))
            }
        }
    }
}
