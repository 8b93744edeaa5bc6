//! Wake-ups across replicas: each commit that stores new events notifies `sipamo_inbox` with
//! its account's name, and every replica listens on one connection of its own, so that the worker of
//! the account gets to work at once whichever replica received the event, and idle accounts
//! need not poll the database.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::PgUrl;

/// The channel the inbox notifies.
pub(crate) const CHANNEL: &str = "sipamo_inbox";

/// The payload that wakes every account: sent after the listening connection was (re)made,
/// as notifications sent while it was down are lost.
pub(crate) const EVERYONE: &str = "*";

/// Listens on a thread of its own until `alive` turns false (checked every second), calling
/// `wake` with each notification's account; reconnects after a second when the connection
/// drops.
pub(crate) fn spawn(
    url: &PgUrl,
    alive: impl Fn() -> bool + Send + 'static,
    wake: impl Fn(&str) + Send + 'static,
) {
    let url = url.clone();
    let spawned = std::thread::Builder::new()
        .name("sipamo-pg-listen".into())
        .spawn(move || {
            while alive() {
                match super::pool::dedicated(&url) {
                    Ok(mut c) => {
                        if let Err(e) = c.batch_execute(&format!("LISTEN {CHANNEL}")) {
                            tracing::warn!(error = %super::explain(&e), "cannot listen for new events");
                        } else {
                            wake(EVERYONE);
                            relay(&mut c, &alive, &wake);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot connect to listen for new events"),
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the thread listening for new events");
    }
}

/// Passes notifications on until the connection drops or `alive` turns false.
fn relay(c: &mut postgres::Client, alive: &impl Fn() -> bool, wake: &impl Fn(&str)) {
    while alive() {
        let next = c
            .notifications()
            .timeout_iter(Duration::from_secs(1))
            .next();
        match next {
            Ok(Some(n)) => wake(n.payload()),
            Ok(None) if c.is_closed() => return,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %super::explain(&e), "the connection listening for new events dropped");
                return;
            }
        }
    }
}
