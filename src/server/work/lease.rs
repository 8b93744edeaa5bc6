//! The work lease of several replicas on one PostgreSQL database: one replica at a time does
//! the amoCRM work, under a lease with a fencing token that grows at every takeover.
//!
//! - Expiry is in the database's clock, so replicas' clocks do not matter.
//! - The holder renews every third of the lease. Locally it counts the lease as valid until
//!   the moment it *sent* the renewal plus the lease length (the database's expiry is later
//!   than that), so a paused process wakes up knowing its lease is gone.
//! - Fencing: every memory write commits only while the row still carries this replica's token
//!   and more than the safety margin is left (`FOR SHARE`: a takeover waits for the commit);
//!   an amoCRM write is sent only while more than the margin (the client's timeout and then
//!   some) is left locally, so it is answered or given up before anyone else may start.
//! - A replica that took over resumes from the intents the last holder saved (the crash-safety
//!   rules), so the takeover neither loses nor repeats a write.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::renewals::Renewals;
use crate::server::store::postgres::PgConn;

/// What the holder knows of its lease.
#[derive(Debug)]
pub struct LeaseState {
    /// The lease's name (one per amoCRM account).
    pub(crate) name: String,
    pub(crate) holder: String,
    /// The fencing token held, 0 when none.
    token: AtomicI64,
    /// Until when (local monotonic time) the lease is surely held.
    valid_until: Mutex<Option<Instant>>,
    pub(crate) length: Duration,
    /// Writes are refused when less than this is left.
    pub(crate) margin: Duration,
    /// Whether the lease looked free (no live holder) at the last look: a replica with room
    /// for more leases tries only those, rather than probing leases others hold at random.
    /// Always true without such looks (one account).
    free: AtomicBool,
    /// Told whenever the lease is taken or renewed here: a worker standing by waits on it
    /// instead of looking at the lease over and over (thousands of accounts stand by).
    gained: tokio::sync::Notify,
}

impl LeaseState {
    pub(crate) fn new(name: &str, holder: &str, length: Duration, margin: Duration) -> Arc<Self> {
        Arc::new(LeaseState {
            name: name.to_string(),
            holder: holder.to_string(),
            token: AtomicI64::new(0),
            valid_until: Mutex::new(None),
            length,
            margin,
            free: AtomicBool::new(true),
            gained: tokio::sync::Notify::new(),
        })
    }

    /// Says whether the lease has no live holder now (see [`LeaseState::free`]).
    pub(crate) fn set_free(&self, free: bool) {
        self.free.store(free, Ordering::SeqCst);
    }

    /// The token held now, if the lease is held with more than the margin left.
    pub(crate) fn token(&self) -> Option<i64> {
        let until = *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = self.token.load(Ordering::SeqCst);
        (t > 0 && until.is_some_and(|u| Instant::now() + self.margin < u)).then_some(t)
    }

    pub(crate) fn holds(&self) -> bool {
        self.token().is_some()
    }

    /// Returns once the lease is held here: woken when it is taken, and looking again every
    /// second as well (whether it is held also depends on the time left).
    pub(crate) async fn held(&self) {
        loop {
            let gained = self.gained.notified();
            if self.holds() {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), gained).await;
        }
    }

    fn set(&self, token: Option<i64>, until: Option<Instant>) {
        self.token.store(token.unwrap_or(0), Ordering::SeqCst);
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
        if token.is_some() {
            self.gained.notify_waiters();
        }
    }
}

impl LeaseState {
    /// Counts the lease as not held from now on (the account is no longer served here).
    pub(crate) fn forget(&self) {
        self.set(None, None);
    }
}

/// Lets the lease go at once (after its holder's work stopped), so that another replica need
/// not wait for it to expire; nothing happens if another replica holds it already.
pub(crate) async fn release(conn: &PgConn, state: &LeaseState) {
    let Some(token) = state.token() else {
        return;
    };
    state.forget();
    let (name, holder) = (state.name.clone(), state.holder.clone());
    let account = conn.account().to_string();
    if let Ok(c) = conn.client().await {
        let _ = c
            .execute(
                "UPDATE leases SET expires_ms = 0
                  WHERE account = $4 AND name = $1 AND holder = $2 AND token = $3",
                &[&name, &holder, &token, &account],
            )
            .await;
    }
}

/// The lease of a running service: its connection, its state and who to tell of changes.
pub(crate) struct Lease {
    pub(crate) conn: Arc<PgConn>,
    pub(crate) state: Arc<LeaseState>,
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

/// The database's clock in ms, in SQL.
pub(crate) const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Takes the lease when it is free, expired or named after this replica, or renews it; answers
/// the token held. A process taking the lease afresh (`fresh`: it did not hold it a moment
/// ago), even under its own name after a restart, gets a new token: whatever an earlier
/// incarnation might still try to write is fenced off.
async fn acquire(conn: &PgConn, state: &LeaseState, fresh: bool) -> Option<i64> {
    let (name, holder) = (state.name.clone(), state.holder.clone());
    let len = i64::try_from(state.length.as_millis()).unwrap_or(i64::MAX);
    let sql = format!(
        "INSERT INTO leases (account, name, holder, token, expires_ms)
         VALUES ($5, $1, $2, 1, {DB_NOW_MS} + $3)
         ON CONFLICT (account, name) DO UPDATE SET
             token = CASE WHEN leases.holder = $2 AND leases.expires_ms >= {DB_NOW_MS} AND NOT $4
                          THEN leases.token ELSE leases.token + 1 END,
             holder = $2, expires_ms = {DB_NOW_MS} + $3
         WHERE leases.holder = $2 OR leases.expires_ms < {DB_NOW_MS}
         RETURNING token"
    );
    let account = conn.account().to_string();
    let c = conn.client().await.ok()?;
    let answer = c
        .query_opt(&sql, &[&name, &holder, &len, &fresh, &account])
        .await;
    match answer {
        Ok(row) => row.map(|r| r.get::<_, i64>(0)),
        Err(e) => {
            tracing::warn!(error = %crate::server::store::postgres::explain(&e), "the work lease could not be taken or renewed");
            None
        }
    }
}

/// Renews the lease held (with the replica's other renewals in one statement when `renewals`
/// batches them), or takes it; answers the token held.
async fn take_or_renew(
    conn: &Arc<PgConn>,
    state: &Arc<LeaseState>,
    held: bool,
    renewals: Option<&Renewals>,
    taking: &tokio::sync::Semaphore,
) -> Option<i64> {
    let token = state.token.load(Ordering::SeqCst);
    if let Some(r) = renewals.filter(|_| held && token > 0) {
        match r
            .renew(conn.account(), &state.name, token, state.length)
            .await
        {
            Ok(true) => return Some(token),
            // Not held as it was: the one-lease path below tells what became of it.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(lease = %state.name, error = %e, "the work lease could not be renewed");
                return None;
            }
        }
    }
    // A replica starting thousands of accounts takes their leases a few at a time, not
    // thousands of blocked threads queueing on the lane's connections.
    let Ok(_permit) = taking.acquire().await else {
        return None;
    };
    acquire(conn, state, !held).await
}

/// How many accounts' leases this replica may hold, so that live replicas split the accounts
/// (a many-account deployment sets it from the accounts and the live replicas; one account:
/// no limit).
#[derive(Debug)]
pub(crate) struct Share {
    /// The most leases to hold: the accounts over the live replicas, rounded up.
    pub(crate) max_held: AtomicUsize,
    /// Leases held now.
    pub(crate) held: AtomicUsize,
    /// Free leases being taken now: counted against the share before the attempt, so that
    /// keepers trying at once never take more than it together.
    pending: AtomicUsize,
    /// Leases above the share that may still be let go after this accounts reading: all of
    /// them at once (with thousands of accounts, one per reading would take an hour to give a
    /// replica that just started its part); each keeper lets go at most one.
    pub(crate) shed: AtomicUsize,
    /// Leases taken (or renewed one by one) at once.
    taking: tokio::sync::Semaphore,
}

/// Room for one lease being taken ([`Share::reserve`]).
struct Reservation<'a>(&'a Share);

impl Reservation<'_> {
    /// The lease was taken: counted as held before the reservation ends, so that the two
    /// together never dip and let another keeper past the share.
    fn taken(self) {
        self.0.held.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// Leases taken one by one at once by a replica.
const TAKING_AT_ONCE: usize = 2;

impl Default for Share {
    fn default() -> Self {
        Share {
            max_held: AtomicUsize::new(usize::MAX),
            held: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            shed: AtomicUsize::new(0),
            taking: tokio::sync::Semaphore::new(TAKING_AT_ONCE),
        }
    }
}

impl Share {
    /// Reserves room for one more lease when the leases held and being taken are below the
    /// share; the reservation ends when dropped (also when its keeper is aborted mid-take).
    fn reserve(&self) -> Option<Reservation<'_>> {
        let max = self.max_held.load(Ordering::SeqCst);
        self.pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| {
                (self.held.load(Ordering::SeqCst).saturating_add(p) < max).then_some(p + 1)
            })
            .ok()
            .map(|_| Reservation(self))
    }

    /// This keeper's lease may go now: the replica still holds more than its share, and this
    /// reading's count of leases to let go is not used up.
    fn may_shed(&self) -> bool {
        self.held.load(Ordering::SeqCst) > self.max_held.load(Ordering::SeqCst)
            && self
                .shed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// Keeps taking or renewing the lease every third of its length (on a grid shared by the
/// replica's keepers) until the process ends;
/// `changed` is told whenever it is gained or lost. A free lease is taken only while the
/// replica holds less than its `share`; one above the share is let go now and then.
pub(crate) async fn keep(
    conn: Arc<PgConn>,
    state: Arc<LeaseState>,
    changed: Arc<tokio::sync::Notify>,
    metrics: crate::server::http::metrics::Metrics,
    share: Arc<Share>,
    renewals: Option<Renewals>,
) {
    let mut held = false;
    loop {
        let sent = Instant::now();
        let token = if held && share.may_shed() {
            release(&conn, &state).await;
            tracing::info!(lease = %state.name, "let go to share the accounts with another replica");
            None
        } else if held {
            take_or_renew(&conn, &state, held, renewals.as_ref(), &share.taking).await
        } else if state.free.load(Ordering::SeqCst)
            && let Some(room) = share.reserve()
        {
            let token = take_or_renew(&conn, &state, held, renewals.as_ref(), &share.taking).await;
            if token.is_some() {
                room.taken();
            }
            token
        } else {
            None
        };
        state.set(token, token.map(|_| sent + state.length));
        if token.is_some() != held {
            held = token.is_some();
            if !held {
                let _ = share
                    .held
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            }
            metrics.lease_held.set(i64::from(held));
            if held {
                metrics.lease_gained.inc();
            }
            tracing::info!(
                holder = %state.holder,
                token = token.unwrap_or(0),
                "{}",
                if held { "this replica holds the work lease" } else { "this replica does not hold the work lease" }
            );
            changed.notify_waiters();
        }
        // A lease held is renewed every third of its length; one not held is looked at every
        // second (a look costs nothing unless it was seen free), so that a free lease is taken
        // soon after it is found, not a third of a lease later.
        let period = if held {
            state.length / 3
        } else {
            (state.length / 3).min(Duration::from_secs(1))
        };
        tokio::time::sleep_until(next_tick(period)).await;
    }
}

/// The next instant of a grid of `period` shared by every keeper of the process: the leases a
/// replica holds come due together and are renewed in a few statements, not one each.
fn next_tick(period: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let period_ns = period.as_nanos().max(1);
    let since = tokio::time::Instant::now().duration_since(epoch).as_nanos();
    let ticks = u32::try_from(since / period_ns + 1).unwrap_or(u32::MAX);
    epoch + period.saturating_mul(ticks)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::Share;

    /// A worker standing by is woken the moment its replica takes the lease, not at its next
    /// look (thousands of standing-by workers no longer poll the lease five times a second).
    #[tokio::test(start_paused = true)]
    async fn a_worker_standing_by_is_woken_when_the_lease_is_taken() {
        let state = super::LeaseState::new(
            "amocrm:x",
            "r1",
            Duration::from_secs(30),
            Duration::from_secs(11),
        );
        let start = tokio::time::Instant::now();
        let waiter = tokio::spawn({
            let state = state.clone();
            async move {
                state.held().await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(2_300)).await;
        assert!(!waiter.is_finished(), "not held yet");
        let until = std::time::Instant::now() + Duration::from_secs(30);
        state.set(Some(7), Some(until));
        let woken = waiter.await.unwrap();
        assert_eq!(
            woken,
            Duration::from_millis(2_300),
            "woken when taken, not at a look"
        );
    }

    /// Keepers of a starting replica try their free leases at once: reserved before the
    /// attempt, together they never take more than the share (before, each looked at the
    /// leases held, all saw room, and a replica of a three-way split took 336 of 334).
    #[test]
    fn keepers_trying_at_once_never_take_more_than_the_share() {
        let share = std::sync::Arc::new(Share::default());
        share.max_held.store(334, Ordering::SeqCst);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let share = share.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        if let Some(room) = share.reserve() {
                            std::thread::yield_now();
                            if i % 5 != 0 {
                                room.taken();
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(share.held.load(Ordering::SeqCst), 334);
        assert_eq!(share.pending.load(Ordering::SeqCst), 0);
        assert!(share.reserve().is_none(), "no room left");
    }

    #[tokio::test]
    async fn keepers_tick_on_one_grid_within_a_period() {
        let period = Duration::from_millis(50);
        let a = super::next_tick(period);
        tokio::time::sleep(Duration::from_millis(7)).await;
        let b = super::next_tick(period);
        let now = tokio::time::Instant::now();
        assert!(b > now && b <= now + period);
        // Two keepers asking within one period get the same instant, or instants a period apart.
        let apart = b.duration_since(a).as_millis();
        assert!(apart == 0 || apart == 50, "{apart}");
    }
}
