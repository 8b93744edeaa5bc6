//! `sipamo calls`: parked calls of a service, and the requests it kept aside, from its
//! database.

use std::process::ExitCode;

use clap::Args;
use clap::Subcommand;

#[derive(Debug, Args)]
pub(crate) struct CallsArgs {
    /// The database `sipamo serve --db` uses (a SQLite file or a postgres:// URL); also from
    /// SIPAMO_DB.
    #[arg(
        long,
        default_value = "sipamo.db",
        global = true,
        env = "SIPAMO_DB",
        hide_env_values = true
    )]
    pub(crate) db: crate::server::store::DbUrl,
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
    /// Requests on the secret path that were acknowledged but are no event the engine can use
    /// (R-WIRE: an unknown event kind, an empty settings-save ping, a body of another type,
    /// broken encoding, a field the engine needs missing or unreadable), oldest first, with
    /// their reason. They are never acted on and go with the retention. With an ID: that
    /// request in full, as received.
    Kept {
        /// The number `sipamo calls kept` lists (`#12`).
        id: Option<i64>,
    },
}

pub(super) async fn calls(mut args: CallsArgs) -> anyhow::Result<ExitCode> {
    use crate::server::work::operator;
    args.db = crate::server::fleet::accounts::account_db(&args.db, args.account.as_deref()).await?;
    match args.action {
        CallsAction::List => {
            let parked = operator::list(&args.db).await?;
            for p in &parked {
                println!(
                    "{}\tparked after {} attempt(s)\t{}",
                    p.call_id, p.attempts, p.reason
                );
            }
            println!("{} parked call(s)", parked.len());
            Ok(ExitCode::SUCCESS)
        }
        CallsAction::Show { call_id } => match operator::show(&args.db, &call_id).await? {
            Some(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            None => Err(anyhow::anyhow!("no call {call_id:?} in {}", args.db)),
        },
        CallsAction::Kept { id } => kept(&args.db, id).await,
        CallsAction::Retry { call_id } => {
            if operator::retry(&args.db, &call_id).await? {
                println!("call {call_id} is back in the queue");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(anyhow::anyhow!(
                    "call {call_id:?} is not parked in {} (`sipamo calls list` shows the parked ones)",
                    args.db
                ))
            }
        }
    }
}

/// `sipamo calls kept [ID]`.
async fn kept(db: &crate::server::store::DbUrl, id: Option<i64>) -> anyhow::Result<ExitCode> {
    use crate::server::work::operator;
    let kept = operator::kept(db, id).await?;
    if let Some(id) = id {
        let k = kept.first().ok_or_else(|| {
            anyhow::anyhow!("no kept request #{id} in {db} (`sipamo calls kept` lists them)")
        })?;
        print!("{}", operator::show_kept(k));
        return Ok(ExitCode::SUCCESS);
    }
    for k in &kept {
        let text: String = operator::kept_text(&k.raw).chars().take(100).collect();
        println!("#{}\t{}\t{}\t{}", k.id, k.received_ms, k.reason, text);
    }
    println!("{} request(s) kept aside", kept.len());
    Ok(ExitCode::SUCCESS)
}
