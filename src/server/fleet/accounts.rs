//! The accounts of a many-account deployment (`sipamo accounts`), kept in PostgreSQL: each
//! Sipuni secret path leads to an amoCRM account, its settings and its token (sealed, see
//! [`super::vault`]). Settings are checked against the account (R-CFG) before they are kept,
//! on add and on every change; a refused one changes nothing.

use std::path::Path;

use super::config;
use super::vault::{Vault, secret_hash};
use crate::amocrm::client::{AmoClient, ClientConfig};
use crate::clock::Clock;
use crate::engine::{Engine, InMemory, Settings};
use crate::server::store::DbUrl;
use crate::server::store::StoreError;
use crate::server::store::postgres::Accounts;

/// What a stored account shows (never its token nor its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRow {
    pub(crate) name: String,
    pub(crate) amocrm: String,
    pub(crate) enabled: bool,
    pub(crate) updated_ms: i64,
}

/// An enabled account as `serve --accounts` reads it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServedAccount {
    pub(crate) name: String,
    pub(crate) secret_hash: String,
    pub(crate) amocrm: String,
    pub(crate) settings: String,
    /// Sealed (see [`super::vault`]).
    pub(crate) token: Vec<u8>,
    /// Changed by `set-settings` and `enable`: the account is served anew.
    pub(crate) updated_ms: i64,
}

impl ServedAccount {
    /// Whether an account served as `served` is served as this one is (a token refreshed and
    /// sealed back since is no change: the running client holds it).
    pub(crate) fn serves_as(&self, served: &ServedAccount) -> bool {
        self.name == served.name
            && self.secret_hash == served.secret_hash
            && self.amocrm == served.amocrm
            && self.settings == served.settings
            && self.updated_ms == served.updated_ms
    }
}

/// The files of a new account.
pub(crate) struct NewAccount<'a> {
    pub(crate) name: &'a str,
    pub(crate) amocrm: &'a str,
    pub(crate) token_file: &'a Path,
    pub(crate) secret_file: &'a Path,
    pub(crate) settings_file: &'a Path,
}

/// What `sipamo accounts` (or `--account`) could not do, and why.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountsError {
    #[error(
        "accounts are kept in PostgreSQL: give --db postgres://USER:PASSWORD@HOST/DB (with SQLite, `sipamo serve` serves the one account of its command line)"
    )]
    NotPostgres,
    #[error("--account is for a many-account deployment: give its --db postgres://…")]
    AccountWithSqlite,
    #[error("no account {name:?} in {db}; see `sipamo accounts list`")]
    NoSuchAccount { name: String, db: String },
    #[error("{db} serves {count} account(s) ({names}): give --account NAME")]
    WhichAccount {
        db: String,
        count: usize,
        names: String,
    },
    #[error(transparent)]
    Name(#[from] crate::server::store::postgres::BadAccountName),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Files(#[from] crate::server::ServeError),
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Vault(#[from] super::vault::VaultError),
    #[error("the settings do not fit the account: {0}")]
    Unfit(String),
}

async fn pg(db: &DbUrl) -> Result<Accounts, AccountsError> {
    match db {
        DbUrl::Postgres(url) => Ok(Accounts::open(url).await?),
        DbUrl::Sqlite(_) => Err(AccountsError::NotPostgres),
    }
}

/// Checks settings against the amoCRM account (R-CFG-1, R-CFG-2: users and pipelines) with
/// the access token only: a refresh here would spend the single-use refresh token kept in the
/// database, so an expired access token is reported instead.
async fn check(amocrm: &str, token_text: &str, settings: &Settings) -> Result<(), AccountsError> {
    let (token, _) = config::parse_token(token_text, Path::new("the account's token"))?;
    let cfg = ClientConfig::new(amocrm.to_string(), token, Clock::System);
    let client = AmoClient::new(cfg).map_err(|e| AccountsError::Unfit(e.to_string()))?;
    Engine::connect(
        settings.clone(),
        client,
        InMemory::default(),
        Default::default(),
    )
    .await
    .map(|_| ())
    .map_err(|e| AccountsError::Unfit(e.to_string()))
}

/// Adds an account after checking its settings against it.
pub(crate) async fn add(db: &DbUrl, vault: &Vault, a: NewAccount<'_>) -> Result<(), AccountsError> {
    crate::server::store::postgres::account_name(a.name)?;
    let conn = pg(db).await?;
    let (settings, yaml) = config::read_settings(a.settings_file)?;
    let secret = config::read_secret(a.secret_file)?;
    let token_text =
        std::fs::read_to_string(a.token_file).map_err(|source| AccountsError::TokenFile {
            path: a.token_file.display().to_string(),
            source,
        })?;
    config::read_token(a.token_file)?;
    check(a.amocrm, &token_text, &settings).await?;
    let sealed = vault.seal(&crate::secret::Secret::new(token_text), a.name)?;
    conn.add(
        a.name.to_string(),
        secret_hash(secret.expose()),
        a.amocrm.to_string(),
        yaml,
        sealed,
        Clock::System.now_ms(),
    )
    .await?;
    Ok(())
}

/// Replaces an account's settings after checking them with its stored token.
pub(crate) async fn set_settings(
    db: &DbUrl,
    vault: &Vault,
    name: &str,
    settings_file: &Path,
) -> Result<(), AccountsError> {
    let conn = pg(db).await?;
    let (settings, yaml) = config::read_settings(settings_file)?;
    let (amocrm, sealed) =
        conn.token(name.to_string())
            .await?
            .ok_or_else(|| AccountsError::NoSuchAccount {
                name: name.to_string(),
                db: db.to_string(),
            })?;
    let token = vault.open(&sealed, name)?;
    check(&amocrm, token.expose(), &settings).await?;
    conn.set_settings(name.to_string(), yaml, Clock::System.now_ms())
        .await?;
    Ok(())
}

pub(crate) async fn list(db: &DbUrl) -> Result<Vec<AccountRow>, AccountsError> {
    Ok(pg(db).await?.list().await?)
}

/// Enables an account again (its settings are not checked again: they were when kept); false
/// when there is no such account.
pub(crate) async fn enable(db: &DbUrl, name: &str) -> Result<bool, AccountsError> {
    let db = pg(db).await?;
    Ok(db.enable(name.to_string(), Clock::System.now_ms()).await?)
}

/// Disables an account (its events are then refused, its calls not worked on); false when
/// there is no such account.
pub(crate) async fn disable(db: &DbUrl, name: &str) -> Result<bool, AccountsError> {
    let db = pg(db).await?;
    Ok(db.disable(name.to_string()).await?)
}

/// The database of `db`'s account `name` in a many-account deployment (`db` itself without a
/// name); the account must exist, so that a mistyped name creates nothing.
pub(crate) async fn account_db(db: &DbUrl, name: Option<&str>) -> Result<DbUrl, AccountsError> {
    let Some(name) = name else {
        // A many-account database keeps each account's calls apart: the deployment's own rows
        // are none, and reading them would say "0 parked calls" whatever the accounts hold.
        if let DbUrl::Postgres(_) = db
            && let Ok(accounts) = list(db).await
            && !accounts.is_empty()
        {
            let names: Vec<&str> = accounts.iter().take(5).map(|a| a.name.as_str()).collect();
            return Err(AccountsError::WhichAccount {
                db: db.to_string(),
                count: accounts.len(),
                names: format!(
                    "{}{}",
                    names.join(", "),
                    if accounts.len() > 5 { ", …" } else { "" }
                ),
            });
        }
        return Ok(db.clone());
    };
    crate::server::store::postgres::account_name(name)?;
    let DbUrl::Postgres(base) = db else {
        return Err(AccountsError::AccountWithSqlite);
    };
    if !list(db).await?.iter().any(|a| a.name == name) {
        return Err(AccountsError::NoSuchAccount {
            name: name.to_string(),
            db: db.to_string(),
        });
    }
    Ok(DbUrl::Postgres(base.account(name)))
}
