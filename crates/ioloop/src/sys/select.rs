//! POSIX `select(2)`: the portable, level-triggered backend (mio has none).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::Error;
use crate::events::Events;
use crate::selector::{Selector, Trigger};
use crate::syscall;

/// The size of `fd_set`: fds at or above it cannot be watched by select.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// A `select(2)` backend. It keeps the watched sets itself and copies them
/// into each call, since select overwrites its arguments.
pub struct SelectSelector {
    /// Interest per fd, indexed by fd; `NONE` for unwatched fds.
    interest: Vec<Events>,
    /// Bits set for fds watched for `READ`.
    read_set: libc::fd_set,
    /// Bits set for fds watched for `WRITE`.
    write_set: libc::fd_set,
    /// Number of fds registered, to skip scanning when there are none.
    count: usize,
}

fn empty_set() -> libc::fd_set {
    // SAFETY: fd_set is plain data; FD_ZERO then puts it in its defined empty state.
    unsafe {
        let mut set = std::mem::zeroed::<libc::fd_set>();
        libc::FD_ZERO(&mut set);
        set
    }
}

impl Default for SelectSelector {
    fn default() -> Self {
        Self::new()
    }
}

impl SelectSelector {
    /// An empty selector.
    pub fn new() -> SelectSelector {
        SelectSelector {
            interest: Vec::new(),
            read_set: empty_set(),
            write_set: empty_set(),
            count: 0,
        }
    }

    /// FD_SET on an fd beyond the set is undefined behaviour: refuse it.
    fn check(fd: RawFd) -> Result<(), Error> {
        if fd < 0 || fd as usize >= FD_SETSIZE {
            return Err(Error::FdTooLarge {
                fd,
                limit: FD_SETSIZE,
            });
        }
        Ok(())
    }

    fn set_bits(&mut self, fd: RawFd, events: Events) {
        // SAFETY: `check` ensured 0 <= fd < FD_SETSIZE; the sets are initialised.
        unsafe {
            libc::FD_CLR(fd, &mut self.read_set);
            libc::FD_CLR(fd, &mut self.write_set);
            if events.contains(Events::READ) {
                libc::FD_SET(fd, &mut self.read_set);
            }
            if events.contains(Events::WRITE) {
                libc::FD_SET(fd, &mut self.write_set);
            }
        }
        let i = fd as usize;
        if self.interest.len() <= i {
            self.interest.resize(i + 1, Events::NONE);
        }
        self.interest[i] = events;
        while self.interest.last() == Some(&Events::NONE) {
            self.interest.pop();
        }
    }

    /// After EBADF: which registered fds are closed.
    fn report_closed(&self, ready: &mut Vec<(RawFd, Events)>) -> usize {
        let mut found = 0;
        for (fd, ev) in self.interest.iter().enumerate() {
            // SAFETY: F_GETFD only inspects the descriptor table.
            if !ev.is_empty() && syscall!(fcntl(fd as RawFd, libc::F_GETFD)).is_err() {
                ready.push((fd as RawFd, Events::INVALID | Events::ERROR));
                found += 1;
            }
        }
        found
    }
}

/// Rounds up to whole microseconds so that a timer never fires early.
fn timeval(d: Duration) -> libc::timeval {
    let micros = d.as_nanos().div_ceil(1000);
    libc::timeval {
        tv_sec: (micros / 1_000_000).min(libc::time_t::MAX as u128) as libc::time_t,
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    }
}

impl Selector for SelectSelector {
    fn name(&self) -> &'static str {
        "select"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Level
    }

    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        Self::check(fd)?;
        if self
            .interest
            .get(fd as usize)
            .is_some_and(|e| !e.is_empty())
        {
            return Err(Error::AlreadyRegistered(fd));
        }
        // select only learns of a bad fd when it fails; check now instead.
        // SAFETY: F_GETFD only inspects the descriptor table.
        syscall!(fcntl(fd, libc::F_GETFD)).map_err(|_| Error::FdClosed(fd))?;
        self.set_bits(fd, events);
        self.count += 1;
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        Self::check(fd)?;
        if self.interest.get(fd as usize).is_none_or(|e| e.is_empty()) {
            return Err(Error::NotRegistered(fd));
        }
        self.set_bits(fd, events);
        Ok(())
    }

    fn unregister(&mut self, fd: RawFd) -> Result<(), Error> {
        Self::check(fd)?;
        if self.interest.get(fd as usize).is_none_or(|e| e.is_empty()) {
            return Err(Error::NotRegistered(fd));
        }
        self.set_bits(fd, Events::NONE);
        self.count -= 1;
        Ok(())
    }

    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), Error> {
        let mut read = self.read_set;
        let mut write = self.write_set;
        let nfds = self.interest.len() as libc::c_int;
        let mut tv = timeout.map(timeval);
        let tv_ptr = tv
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
        // SAFETY: the sets and timeval are valid for the call; nfds bounds the sets.
        let n = match syscall!(select(
            nfds,
            &mut read,
            &mut write,
            std::ptr::null_mut(),
            tv_ptr
        )) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                return if self.report_closed(ready) > 0 {
                    Ok(())
                } else {
                    Err(e.into())
                };
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 || self.count == 0 {
            return Ok(());
        }
        for fd in 0..nfds {
            let mut ev = Events::NONE;
            // SAFETY: 0 <= fd < nfds <= FD_SETSIZE and the sets are initialised.
            unsafe {
                if libc::FD_ISSET(fd, &read) {
                    ev |= Events::READ;
                }
                if libc::FD_ISSET(fd, &write) {
                    ev |= Events::WRITE;
                }
            }
            if !ev.is_empty() {
                ready.push((fd, ev));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fds_beyond_fd_setsize() {
        let mut s = SelectSelector::new();
        let err = s.register(FD_SETSIZE as RawFd, Events::READ).unwrap_err();
        assert!(matches!(err, Error::FdTooLarge { .. }), "{err}");
        assert!(matches!(
            s.register(-1, Events::READ),
            Err(Error::FdTooLarge { .. })
        ));
    }

    #[test]
    fn timeval_rounds_up() {
        let t = timeval(Duration::from_nanos(1));
        assert_eq!((t.tv_sec, t.tv_usec), (0, 1));
        let t = timeval(Duration::from_millis(1500));
        assert_eq!((t.tv_sec, t.tv_usec), (1, 500_000));
    }
}
