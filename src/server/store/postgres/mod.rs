//! PostgreSQL for `serve --db postgres://…`: a fixed pool of connections per process
//! ([`pool`]), the tables brought up to date by versioned migrations (refinery) the first time
//! the process connects. Every account of a many-account deployment shares one set of tables,
//! each row keyed by its account (`''`: a single-account service), so connections, catalog
//! and start-up time do not grow with accounts ([`legacy`] folds in the schema-per-account
//! layout of earlier versions).

mod accounts;
mod exchanges;
mod fence;
pub(crate) mod inbox;
mod legacy;
pub(crate) mod listen;
mod memory;
mod pool;
mod retention;
mod store;

pub(crate) use accounts::Accounts;
pub(crate) use fence::Fence;
pub(crate) use memory::PgMemory;
pub(crate) use store::PgStore;

/// How long `/health`'s check waits for a pooled connection (within its 2 s deadline).
pub(crate) const CHECK_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);
pub(crate) use pool::{Client, PgConn};

refinery::embed_migrations!("src/server/store/postgres/migrations");

/// A PostgreSQL database and, in a many-account deployment, one account's rows in it.
/// Clones share one connection pool (made at the first connection), whatever their account.
#[derive(Clone)]
pub struct PgUrl {
    pub(crate) url: String,
    /// The account whose rows this handle reads and writes (`""`: the deployment's own).
    pub(crate) account: std::sync::Arc<str>,
    pub(crate) pool: std::sync::Arc<pool::Shared>,
    /// The pool of the two this handle's connections come from.
    pub(crate) lane: pool::Lane,
}

impl PartialEq for PgUrl {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url && self.account == other.account
    }
}

impl Eq for PgUrl {}

impl PgUrl {
    pub(crate) fn new(url: String) -> Self {
        PgUrl {
            url,
            account: "".into(),
            pool: std::sync::Arc::default(),
            lane: pool::Lane::Work,
        }
    }

    /// The same database, account and pools, its connections taken from the ingest lane
    /// (events stored, leases kept, health checked: never waiting behind the accounts' work).
    pub(crate) fn ingest(&self) -> Self {
        PgUrl {
            lane: pool::Lane::Ingest,
            ..self.clone()
        }
    }

    /// The same database (and pool), for the rows of account `name` (validated by
    /// [`account_name`]).
    pub(crate) fn account(&self, name: &str) -> Self {
        PgUrl {
            url: self.url.clone(),
            account: name.into(),
            pool: self.pool.clone(),
            lane: self.lane,
        }
    }

    /// Sets, before the first connection, how many connections the pool may hold and the
    /// name they give PostgreSQL (`application_name`, seen in `pg_stat_activity`).
    pub(crate) fn configure_pool(&self, size: u32, name: &str) {
        self.pool.configure(size, name);
    }
}

impl std::fmt::Debug for PgUrl {
    /// Host, port, database and account; never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "postgres://{}", describe(&self.url))?;
        if !self.account.is_empty() {
            write!(f, " (account {})", self.account)?;
        }
        Ok(())
    }
}

/// Checks an account's name: 1 to 40 of a-z 0-9 `_`, starting with a letter (it is shown in
/// paths, metrics labels and file names).
pub(crate) fn account_name(name: &str) -> Result<(), BadAccountName> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BadAccountName(name.to_string()))
    }
}

/// An account name [`account_name`] refuses.
#[derive(Debug, thiserror::Error)]
#[error("the account name {0:?} must be 1 to 40 of a-z 0-9 _ starting with a letter")]
pub struct BadAccountName(pub String);

/// Why the tables could not be brought up to date (PostgreSQL's or refinery's own words).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    #[error("{}", explain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Refinery(#[from] refinery::Error),
    #[error("folding schema {schema}: {source}")]
    Fold {
        schema: String,
        source: Box<MigrateError>,
    },
    #[error(transparent)]
    Name(#[from] BadAccountName),
}

/// What went wrong with PostgreSQL; never shows the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect { target: String, message: String },
    #[error("cannot bring the PostgreSQL schema at {target} up to date: {message}")]
    Migrate { target: String, message: String },
    #[error("PostgreSQL at {target} failed: {message}")]
    Failed { target: String, message: String },
}

/// The URL's host, port and database, for messages (never its user or password).
pub(crate) fn describe(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let host = c
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .unwrap_or_else(|| "localhost".into());
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
        }
        Err(_) => "an unreadable postgres:// URL".into(),
    }
}

/// Session settings of every connection: no statement waits more than 5 s for a lock, and a
/// transaction left open (a process paused mid-step) is ended after 10 s, so that a stalled
/// replica can hold neither the lease row nor anything else for long.
const SESSION: &str = "SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '10s'";

/// PostgreSQL's own words for an error: `postgres::Error` displays only "db error" for what the
/// server said, so its message, detail and hint are spelled out (never the URL or password).
pub(crate) fn explain(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(d) = db.detail() {
                text.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                text.push_str(&format!("; hint: {h}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn messages_name_the_server_never_the_password() {
        let d = describe("postgres://sipamo:hunter2@db.example:6543/calls");
        assert_eq!(d, "db.example:6543/calls");
        assert!(!describe("postgres://u:hunter2@h/d").contains("hunter2"));
    }
}
