//! The one way this crate calls libc: [`syscall!`] turns the C convention
//! (`-1` and `errno`) into `io::Result`, so no call site checks a return
//! value by hand. (The same shape as `tornado_ioloop`'s `sys::syscall`.)

/// Calls `libc::$fn($args)`; `-1` becomes `Err(io::Error::last_os_error())`,
/// any other value `Ok(value)`. Each call site puts a `// SAFETY:` note
/// before it saying why its arguments are valid for `$fn`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller's note says why the arguments are valid for
        // `$fn`; the macro adds nothing but the error check.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

#[cfg(test)]
mod tests {
    #[test]
    fn minus_one_is_the_errno() {
        // SAFETY: F_GETFL on an fd that is not open only sets errno.
        let e = syscall!(fcntl(-1, libc::F_GETFL)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        // SAFETY: getpid has no arguments and cannot fail.
        assert!(syscall!(getpid()).unwrap() > 0);
    }
}
