//! PostgreSQL for `serve --db postgres://…`: one connection owned by a thread of its own (the
//! synchronous client must never block inside the async runtime), its schema brought up to
//! date by versioned migrations (refinery) when it connects, and reconnected when it drops.
//! In a many-account deployment each account's tables live in a schema of their own
//! (`account_NAME`), and one connection per part of the service serves every account: each job
//! names its schema and the connection switches `search_path` before running it.

pub(crate) mod inbox;
mod memory;

use std::sync::mpsc;

pub(crate) use memory::PgMemory;

refinery::embed_migrations!("src/server/pg/migrations");

type Job = Box<dyn FnOnce(&mut Session, &str) + Send>;

/// A connection's thread: the client (none while it is down) and the schema its
/// `search_path` names (`None`: the database's default).
struct Session {
    client: Option<postgres::Client>,
    schema: Option<std::sync::Arc<str>>,
}

/// A PostgreSQL database and, in a many-account deployment, the schema of one account.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub(crate) url: String,
    pub(crate) schema: Option<std::sync::Arc<str>>,
}

impl PgUrl {
    pub(crate) fn new(url: String) -> Self {
        PgUrl { url, schema: None }
    }

    /// The same database, in the schema of account `name` (validated by [`account_name`]).
    pub(crate) fn account(&self, name: &str) -> Self {
        PgUrl {
            url: self.url.clone(),
            schema: Some(format!("account_{name}").into()),
        }
    }
}

impl std::fmt::Debug for PgUrl {
    /// Host, port, database and schema; never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "postgres://{}", describe(&self.url))?;
        if let Some(s) = &self.schema {
            write!(f, " (schema {s})")?;
        }
        Ok(())
    }
}

/// Checks an account's name: 1 to 40 of a-z 0-9 `_`, starting with a letter (it names the
/// account's schema).
pub(crate) fn account_name(name: &str) -> Result<(), String> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the account name {name:?} must be 1 to 40 of a-z 0-9 _ starting with a letter (it names the account's schema)"
        ))
    }
}

/// What went wrong with PostgreSQL; never shows the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect { target: String, message: String },
    #[error("cannot bring the PostgreSQL schema at {target} up to date: {message}")]
    Migrate { target: String, message: String },
    #[error("the PostgreSQL connection's thread stopped")]
    Gone,
}

/// The URL's host, port and database, for messages (never its user or password).
pub(crate) fn describe(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) => {
            let host = c
                .get_hosts()
                .first()
                .map(|h| match h {
                    postgres::config::Host::Tcp(name) => name.clone(),
                    postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .unwrap_or_else(|| "localhost".into());
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!("{host}:{port}/{}", c.get_dbname().unwrap_or(""))
        }
        Err(_) => "an unreadable postgres:// URL".into(),
    }
}

/// The connection: jobs run in order on its thread, each in the schema of the handle that
/// sent it. Handles of several schemas may share the thread ([`PgConn::in_schema`]); one that
/// runs transactions over several jobs must have the thread to itself.
#[derive(Clone)]
pub(crate) struct PgConn {
    jobs: mpsc::Sender<Job>,
    target: String,
    schema: Option<std::sync::Arc<str>>,
    /// The database's URL (kept to know which schemas of it are migrated; never shown).
    url: std::sync::Arc<str>,
}

impl PgConn {
    /// Connects and migrates the schema of `url`; the thread lives as long as a handle.
    pub(crate) fn connect(url: &PgUrl) -> Result<Self, PgError> {
        let conn = Self::start(&url.url)?;
        match &url.schema {
            None => Ok(conn),
            Some(s) => conn.in_schema(s),
        }
    }

    /// A handle on the same thread whose jobs run in `schema` (created and migrated first).
    pub(crate) fn in_schema(&self, schema: &str) -> Result<Self, PgError> {
        // Schemas this process brought up to date (once is enough: a newer sipamo's
        // migrations come with a restart).
        static MIGRATED: std::sync::Mutex<Vec<(String, String)>> =
            std::sync::Mutex::new(Vec::new());
        let target = format!("{} (schema {schema})", self.target);
        let key = (self.url.to_string(), schema.to_string());
        let done = || {
            MIGRATED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let migrated = if done().contains(&key) {
            Some(Ok(()))
        } else {
            let name = schema.to_string();
            let m = self.run(true, move |c| migrate(c, Some(&name)))?;
            if matches!(m, Some(Ok(()))) {
                done().push(key);
            }
            m
        };
        match migrated {
            Some(Ok(())) => Ok(PgConn {
                jobs: self.jobs.clone(),
                target,
                schema: Some(schema.into()),
                url: self.url.clone(),
            }),
            Some(Err(message)) => Err(PgError::Migrate { target, message }),
            None => Err(PgError::Connect {
                target,
                message: "the connection dropped".into(),
            }),
        }
    }

    fn start(url: &str) -> Result<Self, PgError> {
        let target = describe(url);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel();
        let shown: std::sync::Arc<str> = url.into();
        let (url, thread_target) = (url.to_string(), target.clone());
        std::thread::Builder::new()
            .name("sipamo-postgres".into())
            .spawn(move || {
                let client = match open(&url, &thread_target) {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let mut session = Session {
                    client,
                    schema: None,
                };
                for job in queue {
                    job(&mut session, &url);
                }
            })
            .map_err(|e| PgError::Connect {
                target: target.clone(),
                message: format!("cannot start its thread: {e}"),
            })?;
        // Waited for outside the runtime: a frozen database must not hold a runtime thread
        // (with it, tasks queued on that thread, such as the receiver's, would wait too).
        wait_outside_runtime(|| started.recv()).map_err(|_| PgError::Gone)??;
        Ok(PgConn {
            jobs,
            target,
            schema: None,
            url: shown,
        })
    }

    /// Runs `f` on the connection and waits for its answer; `None` when the connection is
    /// down. A lost connection is made again only when `reconnect` says so: never inside a
    /// transaction, whose earlier statements died with the old connection (a statement or a
    /// COMMIT on a new one would report success for a half-written step).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        reconnect: bool,
        f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
    ) -> Result<Option<T>, PgError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let schema = self.schema.clone();
        self.jobs
            .send(Box::new(move |session, url| {
                if session
                    .client
                    .as_ref()
                    .is_none_or(postgres::Client::is_closed)
                {
                    session.client = if reconnect { connect(url).ok() } else { None };
                    session.schema = None;
                }
                let switched = switch_schema(session, schema);
                let _ = tx.send(session.client.as_mut().filter(|_| switched).map(f));
            }))
            .map_err(|_| PgError::Gone)?;
        wait_outside_runtime(|| rx.recv().map_err(|_| PgError::Gone))
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }
}

/// The connection of one part of the service (`role`: the inbox, the recorder, …) for `url`.
/// Without a schema it is a connection of its own, as in a one-account deployment; with one
/// (an account's schema) it shares one of the part's few connections with other accounts, so a
/// deployment of many accounts needs a few connections per part, not a few per account.
pub(crate) fn shared(url: &PgUrl, role: &'static str) -> Result<PgConn, PgError> {
    static SHARED: std::sync::Mutex<Vec<(String, &'static str, usize, PgConn)>> =
        std::sync::Mutex::new(Vec::new());
    let Some(schema) = &url.schema else {
        return PgConn::connect(url);
    };
    // A few connections per part, each account always on the same one.
    let slot = schema.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % SHARED_PER_PART;
    let base = {
        let mut all = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match all
            .iter()
            .find(|(u, r, s, _)| *u == url.url && *r == role && *s == slot)
        {
            Some((_, _, _, c)) => c.clone(),
            None => {
                let c = PgConn::start(&url.url)?;
                all.push((url.url.clone(), role, slot, c.clone()));
                c
            }
        }
    };
    base.in_schema(schema)
}

/// Connections each part of a many-account service spreads its accounts over.
const SHARED_PER_PART: usize = 4;

/// Session settings of every connection: no statement waits more than 5 s for a lock, and a
/// transaction left open (a process paused mid-step) is ended after 10 s, so that a stalled
/// replica can hold neither the lease row nor anything else for long.
const SESSION: &str = "SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '10s'";

/// PostgreSQL's own words for an error: `postgres::Error` displays only "db error" for what the
/// server said, so its message, detail and hint are spelled out (never the URL or password).
pub(crate) fn explain(e: &postgres::Error) -> String {
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

/// How long a connection (its handshake included) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects with the session settings.
fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    // A server that accepts the connection and then says nothing (a stalled network) gives up
    // after this, unless the URL sets its own `connect_timeout`.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let mut client = config.connect(postgres::NoTls)?;
    client.batch_execute(SESSION)?;
    Ok(client)
}

fn open(url: &str, target: &str) -> Result<postgres::Client, PgError> {
    let mut client = connect(url).map_err(|e| PgError::Connect {
        target: target.to_string(),
        message: explain(&e),
    })?;
    migrate(&mut client, None).map_err(|message| PgError::Migrate {
        target: target.to_string(),
        message,
    })?;
    Ok(client)
}

/// Runs `f`, which blocks, so that a runtime worker thread waiting in it hands its other tasks
/// to another thread (many accounts' workers wait on the database at once; with a runtime
/// thread per core they would otherwise wait for each other).
fn wait_outside_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// `search_path` for a schema name (quoted: names are checked, but never trusted in SQL).
fn search_path(schema: Option<&str>) -> String {
    match schema {
        Some(s) => format!("SET search_path TO \"{}\"", s.replace('"', "\"\"")),
        None => "SET search_path TO DEFAULT".into(),
    }
}

/// Points the session at the job's schema; false (the job is not run) when that fails.
fn switch_schema(session: &mut Session, schema: Option<std::sync::Arc<str>>) -> bool {
    if session.schema == schema {
        return true;
    }
    let Some(c) = session.client.as_mut() else {
        return false;
    };
    match c.batch_execute(&search_path(schema.as_deref())) {
        Ok(()) => {
            session.schema = schema;
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot switch the PostgreSQL schema");
            false
        }
    }
}

/// Brings `schema` (the default one when `None`) up to date, creating it first. A session
/// advisory lock keeps replicas starting together from migrating the same schema at once; the
/// session's `search_path` is left at the default.
fn migrate(c: &mut postgres::Client, schema: Option<&str>) -> Result<(), String> {
    const KEY: i64 = 0x5150_414d_4f00;
    c.execute("SELECT pg_advisory_lock($1)", &[&KEY])
        .map_err(|e| explain(&e))?;
    let run = (|| {
        if let Some(s) = schema {
            let quoted = s.replace('"', "\"\"");
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{quoted}\""))
                .map_err(|e| explain(&e))?;
        }
        c.batch_execute(&search_path(schema))
            .map_err(|e| explain(&e))?;
        migrations::runner()
            .run(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })();
    let reset = c.batch_execute(&search_path(None));
    let unlock = c.execute("SELECT pg_advisory_unlock($1)", &[&KEY]);
    run?;
    reset.map_err(|e| explain(&e))?;
    unlock.map(|_| ()).map_err(|e| explain(&e))
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
