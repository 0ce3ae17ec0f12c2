//! Reaping children through the loop, never with a blocking `waitpid` on
//! it: a pidfd (Linux 5.3+) is watched for readability, which it gains
//! when the process ends; elsewhere the loop polls `waitpid(WNOHANG)`.
//! Whatever happens to the loop, the child is reaped: a watch dropped
//! before its child ended (the loop closed) hands the pid to a small
//! thread that waits for it, so no zombie is left behind.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::process::ExitStatus;
use std::rc::Rc;
use std::time::Duration;

use tornado_ioloop::{Events, IOLoop, Trigger};

use crate::sys;

/// How often the fallback polls.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Called once with how the child ended (an error if it could not be
/// reaped, e.g. someone else's `waitpid` took it).
pub(crate) type OnExit = Box<dyn FnOnce(io::Result<ExitStatus>)>;

/// How the loop learns of the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// A pidfd if the kernel has them, else polling.
    Best,
    /// Polling only (for tests of the fallback).
    #[cfg_attr(not(test), allow(dead_code))]
    Poll,
}

/// Owns the duty to reap `pid`: done by the watch, or on drop.
struct Reap {
    pid: libc::pid_t,
    /// True once reaped (or lost): nothing left to do on drop.
    done: bool,
}

impl Reap {
    /// Reaps the child if it ended; `Ok(None)` while it runs.
    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        match sys::waitpid(self.pid, true) {
            Ok(Some((_, status))) => {
                self.done = true;
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if self.done || !matches!(self.try_reap(), Ok(None)) {
            return;
        }
        // Still running, and no loop will watch it any more: wait for it
        // on a thread of its own (blocking there is harmless).
        let pid = self.pid;
        let spawned = std::thread::Builder::new()
            .name(format!("tornado-reap-{pid}"))
            .spawn(move || sys::waitpid(pid, false));
        if let Err(e) = spawned {
            log::error!(target: "tornado.general", "cannot reap child {pid}: {e}");
        }
    }
}

/// A watch's state, shared by its handler or timer.
type State = Rc<RefCell<Option<(Reap, OnExit)>>>;

/// Checks the child once: if it ended (or cannot be waited for), takes
/// the state and calls back. True when done.
fn check(state: &State) -> bool {
    let outcome = {
        let mut s = state.borrow_mut();
        let Some((reap, _)) = s.as_mut() else {
            return true;
        };
        match reap.try_reap() {
            Ok(None) => return false,
            Ok(Some(status)) => Ok(status),
            Err(e) => Err(e),
        }
    };
    let taken = state.borrow_mut().take();
    if let Some((_reap, on_exit)) = taken {
        on_exit(outcome);
    }
    true
}

/// Calls `on_exit` on the current loop once child `pid` ends, reaping it.
pub(crate) fn watch(pid: libc::pid_t, method: Method, on_exit: OnExit) -> io::Result<()> {
    let ioloop = IOLoop::current();
    let state: State = Rc::new(RefCell::new(Some((Reap { pid, done: false }, on_exit))));
    let pidfd = match method {
        Method::Best => match sys::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSYS)
                    || e.kind() == io::ErrorKind::Unsupported =>
            {
                None
            }
            Err(e) => return Err(e),
        },
        Method::Poll => None,
    };
    match pidfd {
        Some(pidfd) => {
            let fd = pidfd.as_raw_fd();
            // The handler owns the pidfd and closes it when dropped: after
            // removal, or when the loop closes.
            let mut pidfd = Some(pidfd);
            ioloop
                .add_handler_owned_elsewhere(fd, Events::READ, Trigger::Level, move |fd, _| {
                    if check(&state) {
                        let _ = IOLoop::current().remove_handler(fd);
                        pidfd.take();
                    }
                })
                .map_err(io::Error::from)?;
        }
        None => schedule_poll(&ioloop, state),
    }
    Ok(())
}

/// The fallback: check again after `POLL_INTERVAL` until the child ended.
fn schedule_poll(ioloop: &IOLoop, state: State) {
    ioloop.call_later(POLL_INTERVAL, move || {
        if !check(&state) {
            schedule_poll(&IOLoop::current(), state);
        }
    });
}
