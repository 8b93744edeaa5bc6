//! The rows of the engine's memory in PostgreSQL (each statement keyed by the account), a
//! transaction on a connection held from the pool, every write fenced by the work lease.

use std::sync::Arc;

use super::{Held, PgConn};
use crate::server::work::lease::LeaseState;

/// A fenced write refused: another replica holds the work now.
fn lost() -> MemoryError {
    MemoryError {
        doing: "writing under the work lease",
        message: "this replica no longer holds the work lease (another replica took over)".into(),
    }
}
use crate::engine::memory::{MemResult, MemoryError, ParkedCall};
use crate::server::store::MemoryRows;

pub(crate) struct PgMemory {
    conn: Arc<PgConn>,
    /// The pooled connection of the open transaction (none outside `atomically`).
    held: std::sync::Mutex<Option<Box<Held>>>,
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

impl Drop for PgMemory {
    /// A transaction still open (its step never ended) is not lent to anyone else.
    fn drop(&mut self) {
        self.release(false);
    }
}

impl PgMemory {
    pub(crate) fn new(conn: Arc<PgConn>) -> Self {
        PgMemory {
            conn,
            held: std::sync::Mutex::new(None),
            fence: None,
        }
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

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Box<Held>>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the transaction's connection, or outside one on any pooled connection, with
    /// the account whose rows it reads and writes; any failure, the connection's loss included,
    /// is an error naming what was being done.
    fn q<T: Send>(
        &self,
        doing: &'static str,
        f: impl FnOnce(&mut postgres::Client, &str) -> Result<T, postgres::Error> + Send,
    ) -> MemResult<T> {
        let mut held = self.held();
        let account = self.conn.account();
        let f = move |c: &mut postgres::Client| f(c, account);
        let ran = match held.as_mut() {
            Some(h) => self.conn.run_held(h, f),
            None => self.conn.run(f),
        };
        match ran {
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

    /// A write: inside a transaction as it is (its start checked the lease); alone, in a
    /// transaction of its own with the lease check when fenced. The account is the last
    /// parameter of `sql` (one after `args`).
    fn exec(
        &self,
        doing: &'static str,
        sql: &'static str,
        args: Vec<Box<dyn postgres::types::ToSql + Sync + Send>>,
    ) -> MemResult<u64> {
        let fence = if self.held().is_none() {
            self.fence_now()?
        } else {
            None
        };
        let held = self.q(doing, move |c, account| {
            let mut refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a.as_ref() as _).collect();
            refs.push(&account);
            match &fence {
                None => c.execute(sql, &refs).map(Some),
                Some(f) => {
                    let mut t = c.transaction()?;
                    if !check_fence(&mut t, f)? {
                        return Ok(None);
                    }
                    let n = t.execute(sql, &refs)?;
                    t.commit()?;
                    Ok(Some(n))
                }
            }
        })?;
        held.ok_or_else(lost)
    }

    fn exists(&self, doing: &'static str, sql: &'static str, key: &str) -> MemResult<bool> {
        let key = key.to_string();
        self.q(doing, move |c, a| {
            c.query_opt(sql, &[&key, &a]).map(|r| r.is_some())
        })
    }

    /// Takes a pooled connection for a transaction and begins it there.
    fn begin_on_held(&self) -> MemResult<()> {
        let held = self.conn.hold().map_err(|e| MemoryError {
            doing: "starting a transaction",
            message: e.to_string(),
        })?;
        *self.held() = Some(Box::new(held));
        let begun = self.q("starting a transaction", |c, _| c.batch_execute("BEGIN"));
        if begun.is_err() {
            self.release(false);
        }
        begun
    }

    /// Ends the transaction (`COMMIT` or `ROLLBACK`) and gives its connection back; one on
    /// which the end failed is closed instead of lent again.
    fn finish(&self, doing: &'static str, sql: &'static str) -> MemResult<()> {
        let ended = self.q(doing, move |c, _| c.batch_execute(sql));
        self.release(ended.is_ok());
        ended
    }

    fn release(&self, clean: bool) {
        if let Some(mut h) = self.held().take()
            && !clean
        {
            h.poison();
        }
    }
}

impl MemoryRows for PgMemory {
    fn get(&self, space: &'static str, key: &str) -> MemResult<Option<String>> {
        let k = key.to_string();
        self.q("reading the engine's memory", move |c, a| {
            c.query_opt(
                "SELECT value FROM memory WHERE account = $3 AND space = $1 AND key = $2",
                &[&space, &k, &a],
            )
            .map(|row| row.map(|r| r.get(0)))
        })
    }
    fn put(
        &self,
        space: &'static str,
        key: &str,
        value: Option<&str>,
        now_ms: i64,
    ) -> MemResult<()> {
        let doing = "writing the engine's memory";
        let key = key.to_string();
        match value {
            Some(v) => self.exec(
                doing,
                "INSERT INTO memory (account, space, key, value, touched_ms)
                 VALUES ($5, $1, $2, $3, $4)
                 ON CONFLICT (account, space, key) DO UPDATE SET value = $3, touched_ms = $4",
                vec![
                    Box::new(space),
                    Box::new(key),
                    Box::new(v.to_string()),
                    Box::new(now_ms),
                ],
            ),
            None => self.exec(
                doing,
                "DELETE FROM memory WHERE account = $3 AND space = $1 AND key = $2",
                vec![Box::new(space), Box::new(key)],
            ),
        }
        .map(|_| ())
    }
    fn first_delivery(&self, fingerprint: &str, now_ms: i64) -> MemResult<bool> {
        self.exec(
            "recording a delivery",
            "INSERT INTO deliveries (account, fingerprint, at_ms) VALUES ($3, $1, $2)
             ON CONFLICT DO NOTHING",
            vec![Box::new(fingerprint.to_string()), Box::new(now_ms)],
        )
        .map(|n| n == 1)
    }
    fn is_done(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the finished calls",
            "SELECT 1 FROM calls_done WHERE call_id = $1 AND account = $2",
            call_id,
        )
    }
    fn mark_done(&self, call_id: &str, now_ms: i64) -> MemResult<()> {
        let doing = "recording a finished call";
        let id = || Box::new(call_id.to_string());
        self.exec(
            doing,
            "INSERT INTO calls_done (account, call_id, done_ms) VALUES ($3, $1, $2)
             ON CONFLICT DO NOTHING",
            vec![id(), Box::new(now_ms)],
        )?;
        self.exec(
            doing,
            "DELETE FROM memory WHERE account = $2
               AND space IN ('progress', 'attempts', 'intent') AND key = $1",
            vec![id()],
        )?;
        self.exec(
            doing,
            "DELETE FROM parked WHERE account = $2 AND call_id = $1",
            vec![id()],
        )?;
        Ok(())
    }
    fn park(&self, call: &ParkedCall) -> MemResult<()> {
        self.exec(
            "parking a call",
            "INSERT INTO parked (account, call_id, reason, attempts, at_ms)
             VALUES ($5, $1, $2, $3, $4)
             ON CONFLICT (account, call_id) DO UPDATE SET reason = $2, attempts = $3, at_ms = $4",
            vec![
                Box::new(call.call_id.clone()),
                Box::new(call.reason.clone()),
                Box::new(i32::try_from(call.attempts).unwrap_or(i32::MAX)),
                Box::new(call.at_ms),
            ],
        )
        .map(|_| ())
    }
    fn parked(&self) -> MemResult<Vec<ParkedCall>> {
        self.q("reading the parked calls", super::inbox::parked)
    }
    fn is_parked(&self, call_id: &str) -> MemResult<bool> {
        self.exists(
            "reading the parked calls",
            "SELECT 1 FROM parked WHERE call_id = $1 AND account = $2",
            call_id,
        )
    }
    /// Takes a connection for the transaction; when fenced, checks the lease inside it.
    fn begin(&mut self) -> MemResult<()> {
        let fence = self.fence_now()?;
        self.begin_on_held()?;
        if let Some(f) = fence {
            let held = self.q("checking the work lease", move |c, _| check_fence(c, &f));
            if held != Ok(true) {
                let _ = self.finish("rolling back a transaction", "ROLLBACK");
                return Err(held.err().unwrap_or_else(lost));
            }
        }
        Ok(())
    }
    fn end(&mut self, commit: bool) -> MemResult<()> {
        if commit {
            let committed = self.q("committing a transaction", |c, _| c.batch_execute("COMMIT"));
            if committed.is_ok() {
                self.release(true);
                return committed;
            }
            let _ = self.finish("rolling back a transaction", "ROLLBACK");
            return committed;
        }
        self.finish("rolling back a transaction", "ROLLBACK")
    }
    fn fence(&mut self, state: Arc<LeaseState>) {
        self.fence = Some(state);
    }
}
