//! Backend choice (process-wide, so this file holds a single test): the
//! environment variable, `configure`, unknown and unavailable backends, a
//! user-supplied selector, and select's FD_SETSIZE limit.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tornado::ioloop::sys::{FD_SETSIZE, SelectSelector};
use tornado::ioloop::{BACKEND_ENV, Backend, Error, Events, IOLoop, Selector, Trigger};

/// Wraps select and counts waits, to show a user backend is really used.
struct Counting {
    inner: SelectSelector,
    selects: Arc<AtomicUsize>,
}

impl Selector for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn trigger(&self) -> Trigger {
        Trigger::Level
    }
    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        self.inner.register(fd, events)
    }
    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        self.inner.modify(fd, events)
    }
    fn unregister(&mut self, fd: RawFd) -> Result<(), Error> {
        self.inner.unregister(fd)
    }
    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), Error> {
        self.selects.fetch_add(1, Ordering::SeqCst);
        self.inner.select(timeout, ready)
    }
}

fn set_env(value: Option<&str>) {
    // SAFETY: this test binary has one test, so no other thread reads the
    // environment concurrently.
    unsafe {
        match value {
            Some(v) => std::env::set_var(BACKEND_ENV, v),
            None => std::env::remove_var(BACKEND_ENV),
        }
    }
}

#[test]
fn backend_selection() {
    let original = std::env::var(BACKEND_ENV).ok();

    // Names.
    assert!(matches!(Backend::from_name("bogus"), Err(Error::UnknownBackend(n)) if n == "bogus"));
    assert_eq!(Backend::from_name(" Select ").unwrap().name(), "select");
    assert!(Backend::available().iter().any(|b| b.name() == "select"));

    // The environment overrides the default; a bad value is a clear error.
    set_env(Some("select"));
    assert_eq!(IOLoop::configured_backend().unwrap().name(), "select");
    assert_eq!(IOLoop::new().unwrap().backend_name(), "select");
    set_env(Some("bogus"));
    let err = IOLoop::new().unwrap_err();
    assert!(
        err.to_string().contains("unknown IOLoop backend \"bogus\""),
        "{err}"
    );

    // configure() wins over the environment.
    IOLoop::configure(Backend::Select);
    assert_eq!(IOLoop::new().unwrap().backend_name(), "select");
    IOLoop::reset_configuration();
    set_env(None);
    assert_eq!(
        IOLoop::configured_backend().unwrap().name(),
        Backend::platform_default().name()
    );

    // A backend this OS lacks.
    let missing = if cfg!(target_os = "linux") {
        Backend::Kqueue
    } else {
        Backend::Epoll
    };
    assert!(matches!(
        IOLoop::with_backend(&missing),
        Err(Error::BackendUnavailable(_))
    ));

    // A user-supplied backend runs callbacks, timeouts and handlers.
    let selects = Arc::new(AtomicUsize::new(0));
    let s = selects.clone();
    IOLoop::configure(Backend::custom("counting", move || {
        Ok(Counting {
            inner: SelectSelector::new(),
            selects: s.clone(),
        })
    }));
    let l = IOLoop::new().unwrap();
    IOLoop::reset_configuration();
    assert_eq!(l.backend_name(), "counting");
    let fired = Rc::new(Cell::new(false));
    let (f, m) = (fired.clone(), l.clone());
    l.call_later(Duration::from_millis(5), move || {
        f.set(true);
        m.stop();
    });
    l.start().unwrap();
    assert!(fired.get());
    assert!(selects.load(Ordering::SeqCst) >= 1);

    // select refuses fds at or above FD_SETSIZE with a typed error.
    let sel = IOLoop::with_backend(&Backend::Select).unwrap();
    let big = high_fd();
    let err = sel.add_handler(big, Events::READ, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, Error::FdTooLarge { fd, limit } if fd == big && limit == FD_SETSIZE),
        "{err}"
    );
    // SAFETY: closing the fd `high_fd` created, if it created one.
    unsafe { libc::close(big) };

    match original {
        Some(v) => set_env(Some(&v)),
        None => set_env(None),
    }
}

/// A real open fd at or above FD_SETSIZE when the fd limit allows one,
/// otherwise just the number (the check happens before any system call).
fn high_fd() -> RawFd {
    let target = FD_SETSIZE as RawFd + 7;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if (lim.rlim_cur as i64) <= target as i64 && (lim.rlim_max as i64) > target as i64 {
        lim.rlim_cur = target as libc::rlim_t + 1;
        // SAFETY: raising the soft limit within the hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    // SAFETY: dup2 of stdin's fd onto an unused high number.
    let fd = unsafe { libc::dup2(0, target) };
    if fd == target { fd } else { target }
}
