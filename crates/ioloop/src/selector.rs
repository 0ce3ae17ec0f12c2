//! The "selector": the one trait every backend implements (Tornado's
//! `select`-like `_impl`), and how a backend reports readiness.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::Error;
use crate::events::Events;

/// How a backend reports readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Reported at every `select` while the fd stays ready (select, poll).
    Level,
    /// Reported once per change of readiness (mio's epoll and kqueue). The
    /// loop re-checks level-triggered handlers itself on such backends.
    Edge,
}

/// One readiness-notification mechanism: epoll, kqueue, select, or one of the
/// user's own (the seed documents' `ZmqSelector`).
///
/// The loop guarantees that `register`/`modify` are only called with events
/// that include `READ` or `WRITE`, that an fd is registered at most once, and
/// that `unregister` is only called for registered fds. `ERROR` is always
/// reported, asked or not.
pub trait Selector {
    /// A short name for logs and metrics, e.g. `"epoll"`.
    fn name(&self) -> &'static str;

    /// Whether readiness is reported level- or edge-triggered.
    fn trigger(&self) -> Trigger;

    /// Starts watching `fd` for `events`.
    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), Error>;

    /// Changes the events watched on a registered `fd`.
    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), Error>;

    /// Stops watching `fd`.
    fn unregister(&mut self, fd: RawFd) -> Result<(), Error>;

    /// Waits up to `timeout` (forever if `None`) for readiness and appends
    /// `(fd, events)` pairs to `ready`. An interrupted wait (`EINTR`) returns
    /// `Ok` with nothing appended. A registered fd found closed is reported
    /// with [`Events::INVALID`] instead of failing the whole wait.
    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), Error>;
}
