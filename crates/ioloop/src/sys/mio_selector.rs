//! epoll (Linux) and kqueue (BSD, macOS), both through mio.
//!
//! mio registers every fd edge-triggered; the loop adds level-triggered
//! delivery on top (see `poll_check`).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::error::Error;
use crate::events::Events;
use crate::selector::{Selector, Trigger};

/// How many events one `select` call can return; more wait for the next.
const EVENTS_CAPACITY: usize = 1024;

/// A mio `Poll`, which is epoll or kqueue depending on the OS.
pub(crate) struct MioSelector {
    /// The epoll/kqueue instance.
    poll: mio::Poll,
    /// Reused between calls so that waiting allocates nothing.
    events: mio::Events,
    /// "epoll" or "kqueue".
    name: &'static str,
}

impl MioSelector {
    pub(crate) fn new(name: &'static str) -> Result<MioSelector, Error> {
        Ok(MioSelector {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(EVENTS_CAPACITY),
            name,
        })
    }
}

/// mio refuses empty interests; the loop never asks for one.
fn interest(events: Events) -> Interest {
    match (
        events.contains(Events::READ),
        events.contains(Events::WRITE),
    ) {
        (true, true) => Interest::READABLE | Interest::WRITABLE,
        (false, true) => Interest::WRITABLE,
        _ => Interest::READABLE,
    }
}

/// EBADF or ENOENT from epoll_ctl/kevent: the fd is gone (closed behind the
/// loop's back, its number maybe reused).
fn map_err(fd: RawFd, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EBADF) | Some(libc::ENOENT) => Error::FdClosed(fd),
        _ => Error::Io(e),
    }
}

impl Selector for MioSelector {
    fn name(&self) -> &'static str {
        self.name
    }

    fn trigger(&self) -> Trigger {
        Trigger::Edge
    }

    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(fd as usize), interest(events))
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => Error::AlreadyRegistered(fd),
                _ => map_err(fd, e),
            })
    }

    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        self.poll
            .registry()
            .reregister(&mut SourceFd(&fd), Token(fd as usize), interest(events))
            .map_err(|e| map_err(fd, e))
    }

    fn unregister(&mut self, fd: RawFd) -> Result<(), Error> {
        self.poll
            .registry()
            .deregister(&mut SourceFd(&fd))
            .map_err(|e| map_err(fd, e))
    }

    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), Error> {
        // mio rounds a sub-millisecond timeout up, never down, so a timer is
        // never fired early by a short wait.
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for event in self.events.iter() {
            let mut ev = Events::NONE;
            if event.is_readable() {
                ev |= Events::READ;
            }
            if event.is_read_closed() {
                ev |= Events::READ | Events::READ_CLOSED;
            }
            if event.is_writable() {
                ev |= Events::WRITE;
            }
            if event.is_error() || (event.is_read_closed() && event.is_write_closed()) {
                ev |= Events::ERROR;
            }
            ready.push((event.token().0 as RawFd, ev));
        }
        Ok(())
    }
}
