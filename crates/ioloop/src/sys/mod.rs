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

/// The `libc` crate, for [`syscall!`](crate::syscall) expanded in other
/// crates (so they need not name the same libc themselves).
#[doc(hidden)]
pub use libc;

/// Calls `libc::$fn($args)`, turning the C convention (`-1` and `errno`)
/// into `io::Result`: the one helper every crate of the project calls
/// libc through. `syscall!(retry $fn(..))` calls again while the call is
/// interrupted by a signal (`EINTR`).
///
/// The call is `unsafe`: each call site puts a `// SAFETY:` note before
/// the macro saying why its arguments are valid for `$fn`.
///
/// ```
/// use tornado_ioloop::syscall;
/// // SAFETY: F_GETFL on an fd that is not open only sets errno.
/// let err = syscall!(fcntl(-1, libc::F_GETFL)).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
/// ```
// The arguments are expanded inside the `unsafe` block on purpose (the
// crate allows clippy's `macro_metavars_in_unsafe` for it): the macro is
// the project's way of making an unsafe libc call, and every call site
// carries its own `// SAFETY:` note.
#[macro_export]
macro_rules! syscall {
    (retry $fn:ident ( $($arg:expr),* $(,)? )) => {{
        loop {
            match $crate::syscall!($fn($($arg),*)) {
                Err(e) if e.kind() == ::std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
    }};
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller's note says why the arguments are valid for
        // `$fn`; the macro adds nothing but the error check.
        #[allow(unused_unsafe)]
        let res = unsafe { $crate::sys::libc::$fn($($arg),*) };
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn minus_one_is_the_errno_and_retry_passes_results_through() {
        // SAFETY: F_GETFL on an fd that is not open only sets errno.
        let e = crate::syscall!(fcntl(-1, libc::F_GETFL)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        // SAFETY: getpid has no arguments and cannot fail.
        assert!(crate::syscall!(retry getpid()).unwrap() > 0);
    }
}
