//! The rows of the engine's memory in PostgreSQL (each statement keyed by the account), a
//! transaction on a connection held from the pool, every write fenced by the work lease.

use std::sync::Arc;

use super::PgConn;
use crate::server::work::lease::LeaseState;

/// A fenced write refused: another replica holds the work now.
fn lost() -> MemoryError {
    MemoryError {
        doing: "writing under the work lease",
        message: "this replica no longer holds the work lease (another replica took over)".into(),
    }
}
use crate::engine::memory::{MemResult, MemoryError, ParkedCall};
use crate::server::store::{MemoryRows, RowWrite};

pub(crate) struct PgMemory {
    conn: Arc<PgConn>,
    /// With several replicas: writes commit only under this replica's lease.
    fence: Option<Arc<LeaseState>>,
}

/// The lease check every fenced write makes inside its transaction: the row still carries this
/// replica's token with more than the margin left, and stays so until the commit (`FOR SHARE`
/// makes a takeover wait for it).
fn fence_sql() -> String {
    format!(
        "SELECT 1 FROM leases WHERE account = $5 AND name = $1 AND holder = $2 AND token = $3
           AND expires_ms > {} + $4 FOR SHARE",
        crate::server::work::lease::DB_NOW_MS
    )
}

/// Runs the lease check on `c`; an error when the lease is no longer this replica's.
fn check_fence(c: &mut impl postgres::GenericClient, f: &Fence) -> Result<bool, postgres::Error> {
    Ok(c.query_opt(&fence_sql(), &[&f.0, &f.1, &f.2, &f.3, &f.4])?
        .is_some())
}

/// A fence check's parameters: lease name, holder, token, margin (ms), account.
type Fence = (String, String, i64, i64, String);

impl PgMemory {
    pub(crate) fn new(conn: Arc<PgConn>) -> Self {
        PgMemory { conn, fence: None }
    }

    /// Fences every write with the work lease of `state`.
    pub(crate) fn fence(&mut self, state: Arc<LeaseState>) {
        self.fence = Some(state);
    }

    /// The fence's parameters now; an error when the lease is not held locally.
    fn fence_now(&self) -> MemResult<Option<Fence>> {
        let Some(f) = &self.fence else {
            return Ok(None);
        };
        let token = f.token().ok_or_else(lost)?;
        let margin = i64::try_from(f.margin.as_millis()).unwrap_or(i64::MAX);
        let account = self.conn.account().to_string();
        Ok(Some((
            f.name.clone(),
            f.holder.clone(),
            token,
            margin,
            account,
        )))
    }

    /// Runs `f` on a pooled connection with the account whose rows it reads and writes; any
    /// failure, the connection's loss included, is an error naming what was being done.
    fn q<T: Send>(
        &self,
        doing: &'static str,
        f: impl FnOnce(&mut postgres::Client, &str) -> Result<T, postgres::Error> + Send,
    ) -> MemResult<T> {
        let account = self.conn.account();
        match self.conn.run(move |c| f(c, account)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(MemoryError {
                doing,
                message: format!(
                    "PostgreSQL at {}: {}",
                    self.conn.target(),
                    super::explain(&e)
                ),
            }),
            Err(e) => Err(MemoryError {
                doing,
                message: e.to_string(),
            }),
        }
    }

    /// Runs `f` in a transaction of its own, under the lease check when fenced; `Ok(None)`
    /// when the lease was lost (nothing written).
    fn transaction<T: Send>(
        &self,
        doing: &'static str,
        f: impl FnOnce(&mut postgres::Transaction<'_>, &str) -> Result<T, postgres::Error> + Send,
    ) -> MemResult<T> {
        let fence = self.fence_now()?;
        let done = self.q(doing, move |c, account| {
            let mut t = c.transaction()?;
            if let Some(f) = &fence
                && !check_fence(&mut t, f)?
            {
                return Ok(None);
            }
            let v = f(&mut t, account)?;
            t.commit()?;
            Ok(Some(v))
        })?;
        done.ok_or_else(lost)
    }

    fn exists(&self, doing: &'static str, sql: &'static str, key: &str) -> MemResult<bool> {
        let key = key.to_string();
        self.q(doing, move |c, a| {
            c.query_opt(sql, &[&key, &a]).map(|r| r.is_some())
        })
    }
}

/// One write of a transaction, for `account`.
fn write_row(
    t: &mut postgres::Transaction<'_>,
    w: &RowWrite,
    now_ms: i64,
    account: &str,
) -> Result<(), postgres::Error> {
    match w {
        RowWrite::Put {
            space,
            key,
            value: Some(v),
        } => t.execute(
            "INSERT INTO memory (account, space, key, value, touched_ms)
             VALUES ($5, $1, $2, $3, $4)
             ON CONFLICT (account, space, key) DO UPDATE SET value = $3, touched_ms = $4",
            &[space, key, v, &now_ms, &account],
        )?,
        RowWrite::Put {
            space,
            key,
            value: None,
        } => t.execute(
            "DELETE FROM memory WHERE account = $3 AND space = $1 AND key = $2",
            &[space, key, &account],
        )?,
        RowWrite::Done(call_id) => {
            t.execute(
                "INSERT INTO calls_done (account, call_id, done_ms) VALUES ($3, $1, $2)
                 ON CONFLICT DO NOTHING",
                &[call_id, &now_ms, &account],
            )?;
            t.execute(
                "DELETE FROM memory WHERE account = $2
                   AND space IN ('progress', 'attempts', 'intent') AND key = $1",
                &[call_id, &account],
            )?;
            t.execute(
                "DELETE FROM parked WHERE account = $2 AND call_id = $1",
                &[call_id, &account],
            )?
        }
    };
    Ok(())
}

impl MemoryRows for PgMemory {
    async fn get(&self, space: &'static str, key: &str) -> MemResult<Option<String>> {
        let k = key.to_string();
        self.q("reading the engine's memory", move |c, a| {
            c.query_opt(
                "SELECT value FROM memory WHERE account = $3 AND space = $1 AND key = $2",
                &[&space, &k, &a],
            )
            .map(|row| row.map(|r| r.get(0)))
        })
    }
    async fn first_delivery(&self, fingerprint: &str, now_ms: i64) -> MemResult<bool> {
        let fp = fingerprint.to_string();
        self.transaction("recording a delivery", move |t, a| {
            t.execute(
                "INSERT INTO deliveries (account, fingerprint, at_ms) VALUES ($3, $1, $2)
                 ON CONFLICT DO NOTHING",
                &[&fp, &now_ms, &a],
            )
        })
        .map(|n| n == 1)
    }
    async fn is_done(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the finished calls",
            "SELECT 1 FROM calls_done WHERE call_id = $1 AND account = $2",
            call_id,
        )
    }
    async fn park(&self, call: &ParkedCall) -> MemResult<()> {
        let call = call.clone();
        let attempts = i32::try_from(call.attempts).unwrap_or(i32::MAX);
        self.transaction("parking a call", move |t, a| {
            t.execute(
                "INSERT INTO parked (account, call_id, reason, attempts, at_ms)
                 VALUES ($5, $1, $2, $3, $4)
                 ON CONFLICT (account, call_id) DO UPDATE SET reason = $2, attempts = $3, at_ms = $4",
                &[&call.call_id, &call.reason, &attempts, &call.at_ms, &a],
            )
        })
        .map(|_| ())
    }
    async fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.q("reading the parked calls", super::inbox::parked)
    }
    async fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the parked calls",
            "SELECT 1 FROM parked WHERE call_id = $1 AND account = $2",
            call_id,
        )
    }
    async fn commit(&self, writes: &[RowWrite], now_ms: i64) -> MemResult<()> {
        let writes = writes.to_vec();
        self.transaction("writing the engine's memory", move |t, a| {
            writes.iter().try_for_each(|w| write_row(t, w, now_ms, a))
        })
    }
}
