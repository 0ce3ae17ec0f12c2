//! Level-triggered delivery on edge-triggered backends.
//!
//! After a level-triggered handler ran, its fd may still be ready (the
//! handler read only part of the data, accepted only one connection). An
//! edge-triggered backend would not say so again, so the loop asks `poll(2)`,
//! without waiting, about every such fd at the start of the next iteration:
//! one system call for all of them, and only when there are any.

use std::io;
use std::os::fd::RawFd;

use crate::events::Events;
use crate::syscall;

/// Appends to `ready` the fds among `fds` that are ready now for the events
/// they watch; a closed fd is reported as `INVALID`. `scratch` is reused.
pub(crate) fn poll_ready(
    fds: &[(RawFd, Events)],
    scratch: &mut Vec<libc::pollfd>,
    ready: &mut Vec<(RawFd, Events)>,
) -> io::Result<usize> {
    scratch.clear();
    scratch.extend(fds.iter().map(|&(fd, ev)| libc::pollfd {
        fd,
        events: (if ev.contains(Events::READ) {
            libc::POLLIN
        } else {
            0
        }) | (if ev.contains(Events::WRITE) {
            libc::POLLOUT
        } else {
            0
        }),
        revents: 0,
    }));
    // SAFETY: `scratch` holds `len` initialised pollfd structs and outlives the call.
    let n = match syscall!(poll(scratch.as_mut_ptr(), scratch.len() as libc::nfds_t, 0)) {
        Ok(n) => n as usize,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok(0);
    }
    for p in scratch.iter().filter(|p| p.revents != 0) {
        let mut ev = Events::NONE;
        if p.revents & libc::POLLNVAL != 0 {
            ev |= Events::INVALID | Events::ERROR;
        }
        if p.revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            ev |= Events::READ;
        }
        if p.revents & libc::POLLOUT != 0 {
            ev |= Events::WRITE;
        }
        if p.revents & libc::POLLERR != 0 || p.revents & libc::POLLHUP != 0 {
            ev |= Events::ERROR;
        }
        ready.push((p.fd, ev));
    }
    Ok(n)
}
