//! The "selector": the one trait every backend implements, and the
//! process-wide choice of backend (Tornado's `Configurable`).

use std::fmt;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::error::Error;
use crate::events::Events;
use crate::sys;

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

/// Makes a selector for a new loop.
pub type SelectorFactory = Arc<dyn Fn() -> Result<Box<dyn Selector>, Error> + Send + Sync>;

/// Which selector new loops use.
#[derive(Clone)]
pub enum Backend {
    /// Linux's epoll, through mio.
    Epoll,
    /// BSD and macOS kqueue, through mio.
    Kqueue,
    /// POSIX `select(2)`: everywhere, limited to fds below `FD_SETSIZE`.
    Select,
    /// A user-supplied selector.
    Custom {
        /// For logs and `configured_backend`.
        name: &'static str,
        /// Called once per new loop.
        factory: SelectorFactory,
    },
}

impl Backend {
    /// A user backend made by `factory`.
    pub fn custom<S, F>(name: &'static str, factory: F) -> Backend
    where
        S: Selector + 'static,
        F: Fn() -> Result<S, Error> + Send + Sync + 'static,
    {
        Backend::Custom {
            name,
            factory: Arc::new(move || Ok(Box::new(factory()?) as Box<dyn Selector>)),
        }
    }

    /// The backend's name: `epoll`, `kqueue`, `select`, or the custom name.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Select => "select",
            Backend::Custom { name, .. } => name,
        }
    }

    /// Parses `epoll`, `kqueue` or `select` (the values of
    /// `TORNADO_IOLOOP_BACKEND`).
    pub fn from_name(name: &str) -> Result<Backend, Error> {
        match name.trim().to_ascii_lowercase().as_str() {
            "epoll" => Ok(Backend::Epoll),
            "kqueue" => Ok(Backend::Kqueue),
            "select" => Ok(Backend::Select),
            _ => Err(Error::UnknownBackend(name.to_owned())),
        }
    }

    /// This platform's best backend: epoll on Linux, kqueue on BSD and
    /// macOS, select elsewhere.
    pub fn platform_default() -> Backend {
        if sys::HAS_EPOLL {
            Backend::Epoll
        } else if sys::HAS_KQUEUE {
            Backend::Kqueue
        } else {
            Backend::Select
        }
    }

    /// Every built-in backend this OS has (what a test runs once per).
    pub fn available() -> Vec<Backend> {
        let mut all = Vec::new();
        if sys::HAS_EPOLL {
            all.push(Backend::Epoll);
        }
        if sys::HAS_KQUEUE {
            all.push(Backend::Kqueue);
        }
        all.push(Backend::Select);
        all
    }

    /// Creates the selector; a backend this OS lacks is an error.
    pub fn create(&self) -> Result<Box<dyn Selector>, Error> {
        match self {
            Backend::Epoll if sys::HAS_EPOLL => Ok(Box::new(sys::MioSelector::new("epoll")?)),
            Backend::Kqueue if sys::HAS_KQUEUE => Ok(Box::new(sys::MioSelector::new("kqueue")?)),
            Backend::Epoll | Backend::Kqueue => Err(Error::BackendUnavailable(self.name())),
            Backend::Select => Ok(Box::new(sys::SelectSelector::new())),
            Backend::Custom { factory, .. } => factory(),
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Backend({})", self.name())
    }
}

/// The backend set by `IOLoop::configure`; `None` means "not configured".
static CONFIGURED: RwLock<Option<Backend>> = RwLock::new(None);

/// The environment variable that overrides the platform default.
pub const BACKEND_ENV: &str = "TORNADO_IOLOOP_BACKEND";

/// Sets the backend of loops created from now on, process-wide.
pub(crate) fn configure(backend: Option<Backend>) {
    *CONFIGURED.write() = backend;
}

/// The backend new loops get: the configured one, else the one named by
/// `TORNADO_IOLOOP_BACKEND`, else the platform default.
pub(crate) fn configured() -> Result<Backend, Error> {
    if let Some(b) = CONFIGURED.read().clone() {
        return Ok(b);
    }
    match std::env::var(BACKEND_ENV) {
        Ok(v) if !v.trim().is_empty() => Backend::from_name(&v),
        _ => Ok(Backend::platform_default()),
    }
}
