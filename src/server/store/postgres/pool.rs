//! The connections of one database: a pool of a fixed size (r2d2) of synchronous clients
//! shared by every part of the process and every account, each job run outside the async
//! runtime, the tables migrated the first time the process connects.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use r2d2::ManageConnection;

use super::{PgError, SESSION, describe, explain, migrations};

/// Connections per process when `--db-pool` does not say.
pub(crate) const DEFAULT_SIZE: u32 = 16;

/// How long a connection (its handshake included) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a job waits for a free connection (or a new one) before it fails.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection: its client, and whether it must never be lent again (a transaction
/// could not be ended on it).
pub(crate) struct Session {
    /// Always there but while being closed.
    client: Option<postgres::Client>,
    poisoned: bool,
}

impl Session {
    /// The client; an error naming `target` while it is being closed.
    fn client(&mut self, target: &str) -> Result<&mut postgres::Client, PgError> {
        self.client.as_mut().ok_or_else(|| closed(target))
    }

    fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(postgres::Client::is_closed)
    }
}

/// The error of a session whose client is being closed.
fn closed(target: &str) -> PgError {
    PgError::Failed {
        target: target.to_string(),
        message: "the connection is closed".into(),
    }
}

impl Drop for Session {
    /// Closing a client blocks on its own runtime, which cannot run inside another: inside
    /// one (the pool dropped by an async task), it is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(c) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("sipamo-pg-close".into())
                .spawn(move || drop(c));
        }
    }
}

/// A connection PostgreSQL refused, in its own words (never the URL or password).
#[derive(Debug)]
pub(crate) struct ConnectError(String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// A connection of its own, outside the pool, with the pool's settings: the one
/// [`super::listen`] keeps (the pool holds one fewer than `--db-pool` to leave room for it).
pub(crate) fn dedicated(url: &super::PgUrl) -> Result<postgres::Client, PgError> {
    let target = describe(&url.url);
    let config = url.pool.config(&url.url, &target)?;
    Manager { config }
        .connect()
        .map(|mut s| s.client.take())
        .map_err(|e| PgError::Connect {
            target: target.clone(),
            message: e.0,
        })?
        .ok_or(PgError::Connect {
            target,
            message: "the connection closed".into(),
        })
}

/// Makes the pool's connections, with the session settings.
pub(crate) struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Session;
    type Error = ConnectError;

    fn connect(&self) -> Result<Session, ConnectError> {
        let mut client = self
            .config
            .connect(postgres::NoTls)
            .map_err(|e| ConnectError(explain(&e)))?;
        client
            .batch_execute(SESSION)
            .map_err(|e| ConnectError(explain(&e)))?;
        Ok(Session {
            client: Some(client),
            poisoned: false,
        })
    }

    fn is_valid(&self, s: &mut Session) -> Result<(), ConnectError> {
        s.client("a pooled connection")
            .map_err(|e| ConnectError(e.to_string()))?
            .batch_execute("")
            .map_err(|e| ConnectError(explain(&e)))
    }

    fn has_broken(&self, s: &mut Session) -> bool {
        s.poisoned || s.is_closed()
    }
}

type Pool = r2d2::Pool<Manager>;

/// What every clone of one [`super::PgUrl`] shares: the pool's settings, the pool (made at the
/// first connection) and whether this process has brought the tables up to date.
#[derive(Default)]
pub struct Shared(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    size: Option<u32>,
    name: Option<String>,
    /// The pools of the two lanes (made on first use).
    work: Option<Pool>,
    ingest: Option<Pool>,
    migrated: bool,
}

/// Which of the process's two pools a handle draws from. The work of thousands of accounts can
/// keep every connection of its pool busy; what must never wait behind it — storing and
/// acknowledging events, keeping the work leases, `/health`, reading the accounts table —
/// has a pool of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Lane {
    #[default]
    Work,
    Ingest,
}

/// The sizes of the work and ingest pools for a process of `size` connections: one is the
/// listener's; a quarter of the rest (at least one) is the ingest lane's. Below 4, one pool
/// serves both lanes (answered as an ingest pool of 0).
pub(crate) fn lane_sizes(size: u32) -> (u32, u32) {
    let pooled = size.saturating_sub(1).max(1);
    if pooled < 4 {
        return (pooled, 0);
    }
    let ingest = (pooled / 4).max(1);
    (pooled - ingest, ingest)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn configure(&self, size: u32, name: &str) {
        let mut inner = self.lock();
        inner.size = Some(size.max(1));
        inner.name = Some(name.to_string());
    }

    /// The connections' settings: the URL's, with a connect timeout and this process's name
    /// unless the URL sets them.
    fn config(&self, url: &str, target: &str) -> Result<postgres::Config, PgError> {
        let name = self.lock().name.clone();
        let mut config: postgres::Config = url.parse().map_err(|e| PgError::Connect {
            target: target.to_string(),
            message: explain(&e),
        })?;
        // A server that accepts the connection and then says nothing (a stalled network) gives
        // up after this, unless the URL sets its own `connect_timeout`.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(name.as_deref().unwrap_or("sipamo"));
        }
        Ok(config)
    }

    /// The pool of `lane`, made on first use (no connection is opened until a job needs
    /// one): together one connection fewer than configured, the last being the listener's.
    fn pool(&self, url: &str, target: &str, lane: Lane) -> Result<Pool, PgError> {
        let config = self.config(url, target)?;
        let mut inner = self.lock();
        let (work, ingest) = lane_sizes(inner.size.unwrap_or(DEFAULT_SIZE));
        let (slot, size) = match lane {
            Lane::Ingest if ingest > 0 => (&mut inner.ingest, ingest),
            _ => (&mut inner.work, work),
        };
        if let Some(p) = slot {
            return Ok(p.clone());
        }
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(Manager { config });
        *slot = Some(pool.clone());
        Ok(pool)
    }

    /// Connections the pools hold now (in use or idle); 0 before the first.
    pub(crate) fn connections(&self) -> u32 {
        let inner = self.lock();
        [&inner.work, &inner.ingest]
            .into_iter()
            .flatten()
            .map(|p| p.state().connections)
            .sum()
    }

    fn is_migrated(&self) -> bool {
        self.lock().migrated
    }

    fn set_migrated(&self) {
        self.lock().migrated = true;
    }
}

/// A handle on the pool of a database, for the rows of one account (or the deployment's own).
#[derive(Clone)]
pub(crate) struct PgConn {
    pool: Pool,
    shared: Arc<Shared>,
    target: String,
    account: Arc<str>,
}

impl PgConn {
    /// A handle on `url`'s pool, the tables brought up to date first if this process has not
    /// yet done so.
    pub(crate) fn connect(url: &super::PgUrl) -> Result<Self, PgError> {
        let target = match &*url.account {
            "" => describe(&url.url),
            a => format!("{} (account {a})", describe(&url.url)),
        };
        let conn = PgConn {
            pool: url.pool.pool(&url.url, &target, url.lane)?,
            shared: url.pool.clone(),
            target,
            account: url.account.clone(),
        };
        conn.migrate_once()?;
        Ok(conn)
    }

    /// Brings the tables up to date and folds in the accounts of the schema-per-account layout,
    /// once per process.
    fn migrate_once(&self) -> Result<(), PgError> {
        if self.shared.is_migrated() {
            return Ok(());
        }
        let done = outside_runtime(|| {
            let mut s = self.checkout()?;
            let client = s.client(&self.target)?;
            // Already at the newest version (the usual case): one read, no lock.
            let done = if up_to_date(client) {
                Ok(())
            } else {
                migrate(client)
            }
            .and_then(|()| super::legacy::fold_all(client));
            // A migration that failed half-way may leave the session anywhere: not lent again.
            s.poisoned = done.is_err();
            done.map_err(|message| PgError::Migrate {
                target: self.target.clone(),
                message,
            })
        });
        done?;
        self.shared.set_migrated();
        Ok(())
    }

    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, PgError> {
        self.pool.get().map_err(|e| self.no_connection(&e))
    }

    /// No connection came within the wait: PostgreSQL's last refusal when there was one.
    fn no_connection(&self, e: &r2d2::Error) -> PgError {
        PgError::Connect {
            target: self.target.clone(),
            message: format!(
                "{e} (the database did not answer in time, refused new connections, or every pooled connection was busy)"
            ),
        }
    }

    /// Runs `f` on a pooled connection in this handle's schema (outside the async runtime:
    /// the client blocks).
    pub(crate) fn run<T: Send>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> T + Send,
    ) -> Result<T, PgError> {
        outside_runtime(|| {
            let mut s = self.checkout()?;
            self.on(&mut s, f)
        })
    }

    /// [`PgConn::run`], waiting at most `wait` for a connection: a check that must say why
    /// (PostgreSQL's refusal, as the pool last heard it) before its own deadline.
    pub(crate) fn run_within<T: Send>(
        &self,
        wait: Duration,
        f: impl FnOnce(&mut postgres::Client) -> T + Send,
    ) -> Result<T, PgError> {
        outside_runtime(|| {
            let mut s = self
                .pool
                .get_timeout(wait)
                .map_err(|e| self.no_connection(&e))?;
            self.on(&mut s, f)
        })
    }

    /// Runs `f` on `s`'s client.
    fn on<T>(
        &self,
        s: &mut Session,
        f: impl FnOnce(&mut postgres::Client) -> T,
    ) -> Result<T, PgError> {
        Ok(f(s.client(&self.target)?))
    }

    /// The account whose rows this handle reads and writes (`""`: the deployment's own).
    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }
}

/// Runs `f`, which blocks, off the async runtime's threads: on a multi-threaded runtime the
/// worker thread hands its other tasks to another thread first (many accounts wait on the
/// database at once, and a frozen database must not hold the receiver's tasks); on a
/// single-threaded one it runs on a thread of its own.
fn outside_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        }),
        Err(_) => f(),
    }
}

/// Whether the database has every migration this build embeds; false when it cannot be told
/// (no history table yet, or an error: then the locked migration runs).
fn up_to_date(c: &mut postgres::Client) -> bool {
    // The embedded migrations are read once, not once per schema at start.
    static NEWEST: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    let newest = *NEWEST.get_or_init(|| {
        migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .max()
    });
    let applied = c
        .query_one(
            "SELECT MAX(version)::bigint FROM refinery_schema_history",
            &[],
        )
        .ok()
        .and_then(|r| r.get::<_, Option<i64>>(0));
    applied.is_some() && applied == newest
}

/// Brings the tables up to date. A session advisory lock keeps replicas starting together
/// from migrating at once.
fn migrate(c: &mut postgres::Client) -> Result<(), String> {
    locked(c, |c| {
        migrations::runner()
            .run(c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Runs `f` under the session advisory lock of migrations (replicas starting together wait for
/// each other's), unlocking whatever `f` answers.
pub(super) fn locked(
    c: &mut postgres::Client,
    f: impl FnOnce(&mut postgres::Client) -> Result<(), String>,
) -> Result<(), String> {
    const KEY: i64 = 0x5150_414d_4f00;
    c.execute("SELECT pg_advisory_lock($1)", &[&KEY])
        .map_err(|e| explain(&e))?;
    let run = f(c);
    let unlock = c.execute("SELECT pg_advisory_unlock($1)", &[&KEY]);
    run?;
    unlock.map(|_| ()).map_err(|e| explain(&e))
}

#[cfg(test)]
mod tests {
    use super::lane_sizes;

    #[test]
    fn the_lanes_and_the_listener_take_exactly_the_configured_connections() {
        assert_eq!(lane_sizes(16), (12, 3));
        assert_eq!(lane_sizes(3), (2, 0), "one pool for both lanes");
        for size in 2..200 {
            let (work, ingest) = lane_sizes(size);
            assert!(work >= 1, "{size}");
            assert_eq!(work + ingest + 1, size.max(2), "{size}");
        }
    }
}
