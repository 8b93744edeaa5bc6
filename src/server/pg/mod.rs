//! PostgreSQL for `serve --db postgres://…`: one connection owned by a thread of its own (the
//! synchronous client must never block inside the async runtime), its schema brought up to
//! date by versioned migrations (refinery) when it connects, and reconnected when it drops.

pub(crate) mod inbox;
mod memory;

use std::sync::mpsc;

pub(crate) use memory::PgMemory;

refinery::embed_migrations!("src/server/pg/migrations");

type Job = Box<dyn FnOnce(&mut Option<postgres::Client>, &str) + Send>;

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

/// The connection: jobs run in order on its thread.
pub(crate) struct PgConn {
    jobs: mpsc::Sender<Job>,
    target: String,
}

impl PgConn {
    /// Connects and migrates; the connection's thread lives as long as this.
    pub(crate) fn connect(url: &str) -> Result<Self, PgError> {
        let target = describe(url);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel();
        let (url, thread_target) = (url.to_string(), target.clone());
        std::thread::Builder::new()
            .name("sipamo-postgres".into())
            .spawn(move || {
                let mut client = match open(&url, &thread_target) {
                    Ok(c) => {
                        let _ = ready.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                for job in queue {
                    job(&mut client, &url);
                }
            })
            .map_err(|e| PgError::Connect {
                target: target.clone(),
                message: format!("cannot start its thread: {e}"),
            })?;
        started.recv().map_err(|_| PgError::Gone)??;
        Ok(PgConn { jobs, target })
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
        self.jobs
            .send(Box::new(move |client, url| {
                if client.as_ref().is_none_or(postgres::Client::is_closed) {
                    *client = if reconnect { connect(url).ok() } else { None };
                }
                let _ = tx.send(client.as_mut().map(f));
            }))
            .map_err(|_| PgError::Gone)?;
        rx.recv().map_err(|_| PgError::Gone)
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }
}

/// Session settings of every connection: no statement waits more than 5 s for a lock, and a
/// transaction left open (a process paused mid-step) is ended after 10 s, so that a stalled
/// replica can hold neither the lease row nor anything else for long.
const SESSION: &str = "SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '10s'";

/// Connects with the session settings.
fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(SESSION)?;
    Ok(client)
}

fn open(url: &str, target: &str) -> Result<postgres::Client, PgError> {
    let mut client = connect(url).map_err(|e| PgError::Connect {
        target: target.to_string(),
        message: e.to_string(),
    })?;
    migrations::runner()
        .run(&mut client)
        .map_err(|e| PgError::Migrate {
            target: target.to_string(),
            message: e.to_string(),
        })?;
    Ok(client)
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
