//! The process-wide choice of backend (Tornado's `Configurable`): the
//! built-in selectors, a user's own, `TORNADO_IOLOOP_BACKEND`.

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::Error;
use crate::selector::Selector;
use crate::sys;

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
