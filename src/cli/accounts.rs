//! `sipamo accounts`: the amoCRM accounts of a many-account deployment, kept in PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::server::fleet::accounts;
use crate::server::fleet::vault::Vault;
use crate::server::store::DbUrl;

#[derive(Debug, Args)]
pub(crate) struct AccountsArgs {
    /// The deployment's database (postgres://USER:PASSWORD@HOST/DB); also from SIPAMO_DB, so
    /// that the password is not on the command line (visible in `ps`).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        default_value = "sipamo.db",
        env = "SIPAMO_DB",
        hide_env_values = true
    )]
    pub(crate) db: DbUrl,
    /// The file holding the key tokens are sealed with (64 hex digits, e.g. `openssl rand -hex
    /// 32`); without it, the SIPAMO_KEY environment variable.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) action: AccountsAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountsAction {
    /// Add an account: its settings are checked against the amoCRM account first (R-CFG).
    Add {
        /// A name of the operator's choosing: 1 to 40 of a-z 0-9 _, starting with a letter
        /// (it labels the account's metrics and keys its rows in the database).
        name: String,
        /// The account's amoCRM address, https://SUBDOMAIN.amocrm.ru.
        #[arg(long)]
        amocrm: String,
        /// Its token file (a long-lived token or OAuth2 JSON), sealed in the database.
        #[arg(long, value_name = "FILE")]
        token_file: PathBuf,
        /// Its Sipuni secret path file; only its SHA-256 is kept.
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// Its settings (the keys of a scenario's `settings:` block).
        #[arg(long, value_name = "FILE")]
        settings: PathBuf,
    },
    /// The accounts: name, amoCRM address, enabled or not, last change.
    List,
    /// Stop serving an account (its data stays; its events are refused with 404).
    Disable { name: String },
    /// Serve a disabled account again.
    Enable { name: String },
    /// Replace an account's settings, checked against its amoCRM account first.
    SetSettings {
        name: String,
        #[arg(long, value_name = "FILE")]
        settings: PathBuf,
    },
}

pub(super) async fn accounts(args: AccountsArgs) -> anyhow::Result<ExitCode> {
    let vault = || Vault::load(args.key_file.as_deref());
    match args.action {
        AccountsAction::Add {
            name,
            amocrm,
            token_file,
            secret_file,
            settings,
        } => {
            let a = accounts::NewAccount {
                name: &name,
                amocrm: &amocrm,
                token_file: &token_file,
                secret_file: &secret_file,
                settings_file: &settings,
            };
            accounts::add(&args.db, &vault()?, a).await?;
            println!("account {name} added");
        }
        AccountsAction::List => {
            let rows = accounts::list(&args.db).await?;
            for r in &rows {
                let state = if r.enabled { "enabled" } else { "disabled" };
                println!(
                    "{}\t{}\t{state}\tchanged {}",
                    r.name, r.amocrm, r.updated_ms
                );
            }
            println!("{} account(s)", rows.len());
        }
        AccountsAction::Disable { name } => {
            if !accounts::disable(&args.db, &name).await? {
                return Err(anyhow::anyhow!("no account {name:?}"));
            }
            println!("account {name} disabled");
        }
        AccountsAction::Enable { name } => {
            if !accounts::enable(&args.db, &name).await? {
                return Err(anyhow::anyhow!("no account {name:?}"));
            }
            println!("account {name} enabled");
        }
        AccountsAction::SetSettings { name, settings } => {
            accounts::set_settings(&args.db, &vault()?, &name, &settings).await?;
            println!("account {name}: settings changed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
