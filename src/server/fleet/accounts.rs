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

async fn pg(db: &DbUrl) -> Result<Accounts, String> {
    match db {
        DbUrl::Postgres(url) => Accounts::open(url).await.map_err(|e| e.to_string()),
        DbUrl::Sqlite(_) => Err(
            "accounts are kept in PostgreSQL: give --db postgres://USER:PASSWORD@HOST/DB (with SQLite, `sipamo serve` serves the one account of its command line)"
                .into(),
        ),
    }
}

/// Checks settings against the amoCRM account (R-CFG-1, R-CFG-2: users and pipelines) with
/// the access token only: a refresh here would spend the single-use refresh token kept in the
/// database, so an expired access token is reported instead.
async fn check(amocrm: &str, token_text: &str, settings: &Settings) -> Result<(), String> {
    let (token, _) = config::parse_token(token_text, Path::new("the account's token"))
        .map_err(|e| e.to_string())?;
    let cfg = ClientConfig::new(amocrm.to_string(), token, Clock::System);
    let client = AmoClient::new(cfg).map_err(|e| e.to_string())?;
    Engine::connect(settings.clone(), client, InMemory::default())
        .await
        .map(|_| ())
        .map_err(|e| format!("the settings do not fit the account: {e}"))
}

/// Adds an account after checking its settings against it.
pub(crate) async fn add(db: &DbUrl, vault: &Vault, a: NewAccount<'_>) -> Result<(), String> {
    crate::server::store::postgres::account_name(a.name).map_err(|e| e.to_string())?;
    let conn = pg(db).await?;
    let (settings, yaml) = config::read_settings(a.settings_file).map_err(|e| e.to_string())?;
    let secret = config::read_secret(a.secret_file).map_err(|e| e.to_string())?;
    let token_text = std::fs::read_to_string(a.token_file)
        .map_err(|e| format!("cannot read the token file {}: {e}", a.token_file.display()))?;
    config::read_token(a.token_file).map_err(|e| e.to_string())?;
    check(a.amocrm, &token_text, &settings).await?;
    let sealed = vault
        .seal(&crate::secret::Secret::new(token_text), a.name)
        .map_err(|e| e.to_string())?;
    conn.add(
        a.name.to_string(),
        secret_hash(secret.expose()),
        a.amocrm.to_string(),
        yaml,
        sealed,
        Clock::System.now_ms(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// Replaces an account's settings after checking them with its stored token.
pub(crate) async fn set_settings(
    db: &DbUrl,
    vault: &Vault,
    name: &str,
    settings_file: &Path,
) -> Result<(), String> {
    let conn = pg(db).await?;
    let (settings, yaml) = config::read_settings(settings_file).map_err(|e| e.to_string())?;
    let (amocrm, sealed) = conn
        .token(name.to_string())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account {name:?}"))?;
    let token = vault.open(&sealed, name).map_err(|e| e.to_string())?;
    check(&amocrm, token.expose(), &settings).await?;
    conn.set_settings(name.to_string(), yaml, Clock::System.now_ms())
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn list(db: &DbUrl) -> Result<Vec<AccountRow>, String> {
    pg(db).await?.list().await.map_err(|e| e.to_string())
}

/// Enables an account again (its settings are not checked again: they were when kept); false
/// when there is no such account.
pub(crate) async fn enable(db: &DbUrl, name: &str) -> Result<bool, String> {
    let db = pg(db).await?;
    db.enable(name.to_string(), Clock::System.now_ms())
        .await
        .map_err(|e| e.to_string())
}

/// Disables an account (its events are then refused, its calls not worked on); false when
/// there is no such account.
pub(crate) async fn disable(db: &DbUrl, name: &str) -> Result<bool, String> {
    let db = pg(db).await?;
    db.disable(name.to_string())
        .await
        .map_err(|e| e.to_string())
}

/// The database of `db`'s account `name` in a many-account deployment (`db` itself without a
/// name); the account must exist, so that a mistyped name creates nothing.
pub(crate) async fn account_db(db: &DbUrl, name: Option<&str>) -> Result<DbUrl, String> {
    let Some(name) = name else {
        // A many-account database keeps each account's calls apart: the deployment's own rows
        // are none, and reading them would say "0 parked calls" whatever the accounts hold.
        if let DbUrl::Postgres(_) = db
            && let Ok(accounts) = list(db).await
            && !accounts.is_empty()
        {
            let names: Vec<&str> = accounts.iter().take(5).map(|a| a.name.as_str()).collect();
            return Err(format!(
                "{db} serves {} account(s) ({}{}): give --account NAME",
                accounts.len(),
                names.join(", "),
                if accounts.len() > 5 { ", …" } else { "" }
            ));
        }
        return Ok(db.clone());
    };
    crate::server::store::postgres::account_name(name).map_err(|e| e.to_string())?;
    let DbUrl::Postgres(base) = db else {
        return Err(
            "--account is for a many-account deployment: give its --db postgres://…".into(),
        );
    };
    if !list(db).await?.iter().any(|a| a.name == name) {
        return Err(format!(
            "no account {name:?} in {db}; see `sipamo accounts list`"
        ));
    }
    Ok(DbUrl::Postgres(base.account(name)))
}
