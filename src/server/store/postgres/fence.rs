//! The work lease's fence, the one check every fenced write of a replica makes inside its
//! transaction: the lease row still carries this replica's name and token, with more than the
//! margin left, and stays so until the commit (`FOR SHARE` makes a takeover wait for it). A
//! replica that lost the lease (paused, partitioned, superseded) therefore writes nothing:
//! neither the engine's memory nor the events it marks taken.

use tokio_postgres::{Error, Transaction};

use crate::server::work::lease::{DB_NOW_MS, LeaseState};

/// A lease as its holder knows it, for the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fence {
    name: String,
    holder: String,
    /// The token held; `-1` (never a row's) when the holder no longer holds it locally.
    token: i64,
    /// Writes are refused when less than this is left, in ms.
    margin_ms: i64,
}

impl Fence {
    /// The fence of `state` now (one that fails the check when the lease is not held).
    pub(crate) fn of(state: &LeaseState) -> Self {
        Fence {
            name: state.name.clone(),
            holder: state.holder.clone(),
            token: state.token().unwrap_or(-1),
            margin_ms: i64::try_from(state.margin.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Whether the lease is still held inside `t`, account `account`'s.
    pub(crate) async fn holds(&self, t: &Transaction<'_>, account: &str) -> Result<bool, Error> {
        let sql = format!(
            "SELECT 1 FROM leases WHERE account = $5 AND name = $1 AND holder = $2 AND token = $3
               AND expires_ms > {DB_NOW_MS} + $4 FOR SHARE"
        );
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &self.name,
            &self.holder,
            &self.token,
            &self.margin_ms,
            &account,
        ];
        Ok(t.query_opt(&sql, &args).await?.is_some())
    }
}
