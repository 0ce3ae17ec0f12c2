//! The loop's typed errors.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Everything an [`IOLoop`](crate::IOLoop) operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `start` or `run_sync` on a loop that is already running.
    #[error("the IOLoop is already running")]
    AlreadyRunning,
    /// The loop was closed; it can no longer run or watch fds.
    #[error("the IOLoop is closed")]
    Closed,
    /// `run_sync`'s timeout expired before the future finished.
    #[error("operation timed out after {0:?}")]
    Timeout(Duration),
    /// `run_sync`'s loop was stopped (by someone else) before its future
    /// finished.
    #[error("the IOLoop stopped before the future completed")]
    StoppedBeforeComplete,
    /// The future given to `run_sync` failed.
    #[error("{0}")]
    Future(tornado_concurrent::Error),
    /// `add_handler` for an fd that already has a handler.
    #[error("fd {0} is already registered with the IOLoop")]
    AlreadyRegistered(RawFd),
    /// `update_handler`/`remove_handler` for an fd without a handler.
    #[error("fd {0} is not registered with the IOLoop")]
    NotRegistered(RawFd),
    /// The fd was closed without first being removed from the loop.
    #[error("fd {0} was closed behind the IOLoop's back")]
    FdClosed(RawFd),
    /// `select(2)` cannot watch fds at or above `FD_SETSIZE`.
    #[error("fd {fd} is not below FD_SETSIZE ({limit}); the select backend cannot watch it")]
    FdTooLarge {
        /// The fd that was refused.
        fd: RawFd,
        /// `FD_SETSIZE` on this platform.
        limit: usize,
    },
    /// `TORNADO_IOLOOP_BACKEND` named no known backend.
    #[error("unknown IOLoop backend {0:?} (expected one of: epoll, kqueue, select)")]
    UnknownBackend(String),
    /// The backend exists but not on this operating system.
    #[error("the {0} IOLoop backend is not available on this operating system")]
    BackendUnavailable(&'static str),
    /// The operating system refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}
