//! The errors of connecting, pooling and querying.

use std::io;

use tokio_postgres::error::SqlState;

/// Everything that can go wrong talking to PostgreSQL through this crate.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The configuration cannot be used by [`connect`](crate::connect)
    /// (no host, or TLS required: this helper speaks plain TCP and Unix
    /// sockets only).
    #[error("unusable PostgreSQL configuration: {0}")]
    Config(String),
    /// No server could be reached at any configured host.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// The last host and port (or socket path) tried.
        target: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The server or the protocol reported an error: a failed query, a
    /// failed login, or the connection ending (see [`PgError::is_closed`]).
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled connection came free within the pool's wait timeout.
    #[error("timed out after {0:?} waiting for a pooled PostgreSQL connection")]
    PoolTimeout(std::time::Duration),
    /// The wait for a pooled connection was cancelled.
    #[error("the wait for a pooled connection was cancelled: {0}")]
    PoolWait(tornado_concurrent::Error),
}

impl PgError {
    /// True when the error means the connection is gone: it closed, or the
    /// server is shutting the session down (terminated backend, server
    /// stopping). A pool drops such connections and opens new ones.
    pub fn is_closed(&self) -> bool {
        match self {
            PgError::Postgres(e) => {
                e.is_closed()
                    || matches!(
                        e.code(),
                        Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                            || *c == SqlState::CRASH_SHUTDOWN
                            || *c == SqlState::CANNOT_CONNECT_NOW
                    )
            }
            PgError::Connect { .. } => true,
            _ => false,
        }
    }

    /// The SQLSTATE of a server error, if this is one.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Postgres(e) => e.code(),
            _ => None,
        }
    }
}
