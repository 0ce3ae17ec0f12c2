//! Everything platform-specific: the backends and the waker.
//!
//! One file per backend (`mio_selector` serves both epoll and kqueue, which
//! mio picks by OS; `select` is ours), one for the waker, one for the
//! level-triggered re-check; every libc call goes through
//! `syscall!`, which turns the C convention (-1 and `errno`) into
//! `io::Result`.

mod mio_selector;
mod poll_check;
mod select;
mod waker;

pub(crate) use mio_selector::MioSelector;
pub(crate) use poll_check::poll_ready;
pub use select::{FD_SETSIZE, SelectSelector};
pub(crate) use waker::Waker;

/// Calls a libc function, turning a `-1` return into the thread's `errno`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each caller states why its arguments are valid for `$fn`.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// Whether the epoll backend exists on this OS.
pub(crate) const HAS_EPOLL: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Whether the kqueue backend exists on this OS.
pub(crate) const HAS_KQUEUE: bool = cfg!(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
));
