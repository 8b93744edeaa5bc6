//! Wake-ups across replicas: each commit that stores new events notifies `sipamo_inbox` with
//! its account's name, and every replica listens on one connection of its own, so that the worker of
//! the account gets to work at once whichever replica received the event, and idle accounts
//! need not poll the database.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::PgUrl;

/// The channel the inbox notifies.
pub(crate) const CHANNEL: &str = "sipamo_inbox";

/// The payload that wakes every account: sent after the listening connection was (re)made,
/// as notifications sent while it was down are lost.
pub(crate) const EVERYONE: &str = "*";

/// Listens in a task of its own until `alive` turns false (checked every second), calling
/// `wake` with each notification's account; reconnects after a second when the connection
/// drops.
pub(crate) fn spawn(
    url: &PgUrl,
    alive: impl Fn() -> bool + Send + Sync + 'static,
    wake: impl Fn(&str) + Send + Sync + 'static,
) {
    let url = url.clone();
    tokio::spawn(async move {
        while alive() {
            match super::pool::dedicated(&url).await {
                Ok((client, connection)) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let driver = tokio::spawn(drive(connection, tx));
                    match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                        Ok(()) => {
                            wake(EVERYONE);
                            relay(rx, &alive, &wake).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %super::explain(&e), "cannot listen for new events");
                        }
                    }
                    driver.abort();
                }
                Err(e) => tracing::warn!(error = %e, "cannot connect to listen for new events"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// Drives the listening connection (its client works only while it is polled), passing each
/// notification's payload on; ends when the connection does.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: mpsc::UnboundedSender<String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) => {
                if tx.send(n.payload().to_string()).is_err() {
                    return;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %super::explain(&e), "the connection listening for new events dropped");
                return;
            }
            None => return,
        }
    }
}

/// Passes notifications on until the connection drops or `alive` turns false.
async fn relay(
    mut rx: mpsc::UnboundedReceiver<String>,
    alive: &impl Fn() -> bool,
    wake: &impl Fn(&str),
) {
    while alive() {
        match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            Ok(Some(account)) => wake(&account),
            Ok(None) => return,
            Err(_) => {}
        }
    }
}
