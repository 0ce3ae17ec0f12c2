//! Wakes a loop blocked in `select` from another thread: an eventfd on
//! Linux, a self-pipe elsewhere. Its read end is watched like any other fd,
//! so user-supplied backends get cross-thread wake-ups for free.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::syscall;

/// The two ends of the wake-up channel (the same fd for an eventfd).
pub(crate) struct Waker {
    /// Watched by the loop for `READ`.
    read: OwnedFd,
    /// Written by `wake`; `None` when it is `read` itself (eventfd).
    write: Option<OwnedFd>,
}

impl Waker {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; flags are valid constants.
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker { read, write: None })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn new() -> io::Result<Waker> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe to fill.
        syscall!(pipe(fds.as_mut_ptr()))?;
        // SAFETY: both fds were just created by pipe and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in fds {
            // SAFETY: fcntl on fds we own, with valid commands.
            syscall!(fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK))?;
            // SAFETY: as above.
            syscall!(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
        }
        Ok(Waker {
            read,
            write: Some(write),
        })
    }

    /// True for an eventfd: each write is a new event on edge-triggered
    /// backends, so it never needs draining there.
    pub(crate) fn is_counter(&self) -> bool {
        self.write.is_none()
    }

    /// The fd the loop watches.
    pub(crate) fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the read end readable. A full pipe or a saturated counter means
    /// a wake-up is already pending, which is all that is needed.
    pub(crate) fn wake(&self) {
        let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
        let one: u64 = 1;
        // eventfd needs exactly 8 bytes; a pipe takes any amount.
        let len = if self.write.is_none() { 8 } else { 1 };
        // SAFETY: `one` outlives the call and holds at least `len` bytes.
        let _ = syscall!(write(fd, (&one as *const u64).cast(), len));
    }

    /// Empties the channel so that it stops being readable.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is valid for writes of its length.
        while let Ok(n) = syscall!(read(self.fd(), buf.as_mut_ptr().cast(), buf.len())) {
            // An eventfd is emptied by one read; a pipe may need more.
            if n == 0 || self.write.is_none() {
                break;
            }
        }
    }
}
