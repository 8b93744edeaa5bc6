//! Why `sipamo serve` could not start or keep running: each error names the file, address or
//! part that failed, and what to do. Secrets never appear in them.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure of the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file given on the command line could not be read.
    #[error("cannot read the {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file given on the command line was read but is wrong.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// Options that contradict each other, or the machine's limits.
    #[error("{0}")]
    Options(String),
    #[error("the database {db}: {source}")]
    Database {
        db: String,
        source: super::store::StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The amoCRM client could not be built, or the account refused the settings (R-CFG-2).
    #[error("{0}")]
    Engine(Box<crate::engine::EngineError>),
    #[error("cannot build the amoCRM client: {0}")]
    Client(String),
    /// The inbox writer thread is gone or could not start; events cannot be stored.
    #[error("the inbox writer: {0}")]
    Inbox(String),
    /// The receiver or the worker stopped with an error.
    #[error("{0}")]
    Stopped(String),
}

impl From<crate::engine::EngineError> for ServeError {
    fn from(e: crate::engine::EngineError) -> Self {
        ServeError::Engine(Box::new(e))
    }
}
