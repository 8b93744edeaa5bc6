//! The connections of one database: pools of a fixed size (deadpool-postgres over the async
//! client, tokio-postgres) shared by every part of the process and every account, so that a
//! job waiting on PostgreSQL holds no thread; the tables migrated the first time the process
//! connects.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use deadpool_postgres::{HookError, Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::{MigrateError, PgError, SESSION, describe, explain, migrations};
use crate::server::store::StoreError;

/// Connections per process when `--db-pool` does not say.
pub(crate) const DEFAULT_SIZE: u32 = 16;

/// How long a connection (its handshake included) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a job waits for a free connection (or a new one) before it fails.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection taken from the pool, given back when dropped. A transaction left open on it
/// (its future dropped mid-way) is rolled back by the client before the connection is reused.
pub(crate) type Client = deadpool_postgres::Object;

type Pool = deadpool_postgres::Pool;

/// A connection of its own, outside the pool, with the pool's settings: the one
/// [`super::listen`] keeps (the pool holds one fewer than `--db-pool` to leave room for it).
/// Its connection task is answered too: it must be polled for the client to work, and it
/// yields the notifications.
pub(crate) async fn dedicated(
    url: &super::PgUrl,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    PgError,
> {
    let target = describe(&url.url);
    let config = url.pool.config(&url.url, &target)?;
    let connect = |message| PgError::Connect {
        target: target.clone(),
        message,
    };
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| connect(explain(&e)))?;
    Ok((client, connection))
}

/// What every clone of one [`super::PgUrl`] shares: the pool's settings, the pools (made at the
/// first connection) and whether this process has brought the tables up to date.
#[derive(Default)]
pub struct Shared {
    inner: Mutex<Inner>,
    migrated: tokio::sync::OnceCell<()>,
}

#[derive(Default)]
struct Inner {
    size: Option<u32>,
    name: Option<String>,
    /// The pools of the two lanes (made on first use).
    work: Option<Pool>,
    ingest: Option<Pool>,
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
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn configure(&self, size: u32, name: &str) {
        let mut inner = self.lock();
        inner.size = Some(size.max(1));
        inner.name = Some(name.to_string());
    }

    /// The connections' settings: the URL's, with a connect timeout and this process's name
    /// unless the URL sets them.
    fn config(&self, url: &str, target: &str) -> Result<tokio_postgres::Config, PgError> {
        let name = self.lock().name.clone();
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| PgError::Connect {
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
        if let Some(p) = self.existing(lane) {
            return Ok(p);
        }
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
        let pool = build(config, size).map_err(|e| PgError::Connect {
            target: target.to_string(),
            message: e.to_string(),
        })?;
        *slot = Some(pool.clone());
        Ok(pool)
    }

    /// The pool of `lane` if it is made already (every handle but the first: the URL is not
    /// parsed again for each).
    fn existing(&self, lane: Lane) -> Option<Pool> {
        let inner = self.lock();
        let (_, ingest) = lane_sizes(inner.size.unwrap_or(DEFAULT_SIZE));
        match lane {
            Lane::Ingest if ingest > 0 => inner.ingest.clone(),
            _ => inner.work.clone(),
        }
    }

    /// Connections the pools hold now (in use or idle); 0 before the first.
    pub(crate) fn connections(&self) -> u32 {
        let inner = self.lock();
        [&inner.work, &inner.ingest]
            .into_iter()
            .flatten()
            .map(|p| u32::try_from(p.status().size).unwrap_or(u32::MAX))
            .sum()
    }
}

/// A pool of at most `size` connections of `config`, each with the session settings.
fn build(config: tokio_postgres::Config, size: u32) -> Result<Pool, deadpool_postgres::BuildError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // A connection given back is reused as it is unless it is closed: a transaction
            // left open on it was rolled back when its `Transaction` was dropped.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(usize::try_from(size).unwrap_or(usize::MAX))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CHECKOUT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .post_create(deadpool_postgres::Hook::async_fn(|client, _| {
            Box::pin(async move {
                client
                    .batch_execute(SESSION)
                    .await
                    .map_err(|e| HookError::message(explain(&e)))
            })
        }))
        .build()
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
    pub(crate) async fn connect(url: &super::PgUrl) -> Result<Self, PgError> {
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
        conn.shared
            .migrated
            .get_or_try_init(|| conn.migrate())
            .await?;
        Ok(conn)
    }

    /// Brings the tables up to date and folds in the accounts of the schema-per-account layout.
    async fn migrate(&self) -> Result<(), PgError> {
        let mut c = self.client().await?;
        // Already at the newest version (the usual case): one read, no lock.
        let done = if up_to_date(&c).await {
            Ok(())
        } else {
            migrate(&mut c).await
        };
        let done = match done {
            Ok(()) => super::legacy::fold_all(&mut c).await,
            Err(e) => Err(e),
        };
        if done.is_err() {
            // A migration that failed half-way may leave the session anywhere: not lent again.
            drop(deadpool_postgres::Object::take(c));
        }
        done.map_err(|e| PgError::Migrate {
            target: self.target.clone(),
            message: e.to_string(),
        })
    }

    /// A pooled connection, waited for at most the checkout timeout.
    pub(crate) async fn client(&self) -> Result<Client, PgError> {
        self.pool.get().await.map_err(|e| self.no_connection(&e))
    }

    /// [`PgConn::client`], waiting at most `wait` for a connection: a check that must say why
    /// (PostgreSQL's refusal) before its own deadline.
    pub(crate) async fn client_within(&self, wait: Duration) -> Result<Client, PgError> {
        let timeouts = deadpool_postgres::Timeouts {
            wait: Some(wait),
            create: Some(wait),
            recycle: Some(wait),
        };
        self.pool
            .timeout_get(&timeouts)
            .await
            .map_err(|e| self.no_connection(&e))
    }

    /// No connection came: PostgreSQL's own refusal when there was one.
    fn no_connection(&self, e: &deadpool_postgres::PoolError) -> PgError {
        use deadpool_postgres::PoolError;
        let message = match e {
            PoolError::Backend(e) => explain(e),
            PoolError::PostCreateHook(e) => e.to_string(),
            PoolError::Timeout(_) => format!(
                "{e} (the database did not answer in time, or every pooled connection was busy)"
            ),
            PoolError::Closed | PoolError::NoRuntimeSpecified => e.to_string(),
        };
        PgError::Connect {
            target: self.target.clone(),
            message,
        }
    }

    /// A pooled connection for the service's operation `doing`; its absence an error naming
    /// what was being done.
    pub(crate) async fn client_for(&self, doing: &'static str) -> Result<Client, StoreError> {
        self.client().await.map_err(|e| StoreError {
            doing,
            message: e.to_string(),
        })
    }

    /// A statement of the service's operation `doing` failed, in PostgreSQL's words (never the
    /// URL or password).
    pub(crate) fn failed_doing(
        &self,
        doing: &'static str,
        e: &tokio_postgres::Error,
    ) -> StoreError {
        StoreError {
            doing,
            message: format!("PostgreSQL at {}: {}", self.target, explain(e)),
        }
    }

    /// A statement failed: PostgreSQL's words and what was being done.
    pub(crate) fn failed(&self, e: &tokio_postgres::Error) -> PgError {
        PgError::Failed {
            target: self.target.clone(),
            message: explain(e),
        }
    }

    /// The account whose rows this handle reads and writes (`""`: the deployment's own).
    pub(crate) fn account(&self) -> &str {
        &self.account
    }
}

/// Whether the database has every migration this build embeds; false when it cannot be told
/// (no history table yet, or an error: then the locked migration runs).
async fn up_to_date(c: &tokio_postgres::Client) -> bool {
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
        .await
        .ok()
        .and_then(|r| r.get::<_, Option<i64>>(0));
    applied.is_some() && applied == newest
}

/// Brings the tables up to date. A session advisory lock keeps replicas starting together
/// from migrating at once.
async fn migrate(c: &mut tokio_postgres::Client) -> Result<(), MigrateError> {
    lock(c).await?;
    let run = migrations::runner().run_async(c).await.map(drop);
    let unlock = unlock(c).await;
    run?;
    unlock
}

/// The session advisory lock of migrations (replicas starting together wait for each other's).
const LOCK_KEY: i64 = 0x5150_414d_4f00;

pub(super) async fn lock(c: &tokio_postgres::Client) -> Result<(), MigrateError> {
    c.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    Ok(())
}

pub(super) async fn unlock(c: &tokio_postgres::Client) -> Result<(), MigrateError> {
    c.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    Ok(())
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
