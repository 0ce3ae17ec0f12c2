//! Plugging in a backend of your own, as the seed documents' `ZmqSelector`
//! does for Tornado: here a selector on `poll(2)`, which the library does not
//! ship, used for a ping-pong over a socket pair.
//!
//! Run: `cargo run --example custom_selector`

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use tornado::ioloop::{Backend, Error, Events, IOLoop, Selector, Trigger};

#[path = "common/logging.rs"]
mod logging;

/// A level-triggered selector on `poll(2)`: no FD_SETSIZE limit, O(n) waits.
#[derive(Default)]
struct PollSelector {
    /// Interest per registered fd.
    fds: BTreeMap<RawFd, Events>,
    /// Rebuilt from `fds` before each wait.
    pollfds: Vec<libc::pollfd>,
}

impl Selector for PollSelector {
    fn name(&self) -> &'static str {
        "poll"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Level
    }

    fn register(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        if self.fds.insert(fd, events).is_some() {
            return Err(Error::AlreadyRegistered(fd));
        }
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, events: Events) -> Result<(), Error> {
        match self.fds.get_mut(&fd) {
            Some(e) => {
                *e = events;
                Ok(())
            }
            None => Err(Error::NotRegistered(fd)),
        }
    }

    fn unregister(&mut self, fd: RawFd) -> Result<(), Error> {
        self.fds
            .remove(&fd)
            .map(|_| ())
            .ok_or(Error::NotRegistered(fd))
    }

    fn select(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<(RawFd, Events)>,
    ) -> Result<(), Error> {
        self.pollfds.clear();
        for (&fd, &ev) in &self.fds {
            let mut events = 0;
            if ev.contains(Events::READ) {
                events |= libc::POLLIN;
            }
            if ev.contains(Events::WRITE) {
                events |= libc::POLLOUT;
            }
            self.pollfds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        // Round up so that a timer is never fired early.
        let ms = timeout.map_or(-1, |d| {
            d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
        });
        // SAFETY: `pollfds` holds `len` initialised structs for the call.
        let n = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                ms,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e.into())
            };
        }
        for p in self.pollfds.iter().filter(|p| p.revents != 0) {
            let mut ev = Events::NONE;
            if p.revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                ev |= Events::READ;
            }
            if p.revents & libc::POLLOUT != 0 {
                ev |= Events::WRITE;
            }
            if p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                ev |= Events::ERROR;
            }
            if p.revents & libc::POLLNVAL != 0 {
                ev |= Events::INVALID | Events::ERROR;
            }
            ready.push((p.fd, ev));
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    // Every loop created from now on uses the poll selector.
    IOLoop::configure(Backend::custom("poll", || Ok(PollSelector::default())));
    let ioloop = IOLoop::current();
    println!("backend: {}", ioloop.backend_name());

    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    // Each side answers a number with the next one, until 10.
    for (mut sock, name) in [(a.try_clone()?, "ping"), (b.try_clone()?, "pong")] {
        let l = ioloop.clone();
        let fd = sock.as_raw_fd();
        ioloop.add_handler(fd, Events::READ, move |_, _| {
            let mut buf = [0u8; 1];
            if let Ok(1) = sock.read(&mut buf) {
                println!("{name} got {}", buf[0]);
                if buf[0] >= 10 {
                    l.stop();
                } else {
                    sock.write_all(&[buf[0] + 1]).expect("socket pair write");
                }
            }
        })?;
    }
    (&a).write_all(&[1])?;
    ioloop.start()?;
    println!("metrics: {:?}", ioloop.metrics());
    Ok(())
}
