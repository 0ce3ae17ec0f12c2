//! `Subprocess` (Tornado's `process.Subprocess`): a child program whose
//! pipes are `IOStream`s and whose exit is a loop event.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus};
use std::rc::Rc;

use tornado_concurrent::Future;
use tornado_ioloop::IOLoop;
use tornado_iostream::IOStream;

use crate::reap::{self, Method};
use crate::sys;

/// Why a [`Subprocess`] could not start, or how it failed.
#[derive(Debug, thiserror::Error)]
pub enum SubprocessError {
    /// The program does not exist (or is not on `PATH`).
    #[error("cannot run {program}: program not found")]
    NotFound {
        /// The program as given to the `Command`.
        program: String,
    },
    /// The program exists but could not be started (permissions, limits…).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program as given.
        program: String,
        /// The OS's reason.
        source: io::Error,
    },
    /// The child ended unsuccessfully (Tornado's `CalledProcessError`),
    /// from [`Subprocess::wait_for_exit`] with `raise_error`.
    #[error("{program} (pid {pid}) {}", sys::describe(*status))]
    Exit {
        /// The program.
        program: String,
        /// Its pid.
        pid: u32,
        /// How it ended: `code()` or `signal()` (`ExitStatusExt`).
        status: ExitStatus,
    },
    /// The loop could not watch or reap the child.
    #[error("cannot wait for {program} (pid {pid}): {source}")]
    Wait {
        /// The program.
        program: String,
        /// Its pid.
        pid: u32,
        /// The OS's reason.
        source: io::Error,
    },
}

/// Where the child is in its life, and who waits for its end.
enum Exit {
    /// Running: callbacks and `wait_for_exit` futures (with `raise_error`).
    Running(Vec<Waiter>),
    /// Reaped, with its status.
    Ended(ExitStatus),
    /// Could not be reaped by us (another `waitpid` took it).
    Lost(String),
}

/// Someone waiting for the exit.
enum Waiter {
    /// `set_exit_callback`.
    Callback(Box<dyn FnOnce(ExitStatus)>),
    /// `wait_for_exit(raise_error)`.
    Future(Future<ExitStatus>, bool),
}

/// Shared with the reaping watch.
struct Inner {
    pid: u32,
    program: String,
    exit: RefCell<Exit>,
}

/// A running child program (Tornado's `Subprocess`).
///
/// Configure a [`Command`] as usual; each of stdin, stdout and stderr set
/// to [`Stdio::piped()`](std::process::Stdio::piped) (Tornado's
/// `Subprocess.STREAM`) becomes an [`IOStream`] on the current loop, in
/// the public fields of the same names. The child is reaped by the loop
/// (a pidfd on Linux), never with a blocking wait; if the loop closes
/// first, a helper thread reaps it when it ends, so no zombie is left.
///
/// ```
/// use std::process::{Command, Stdio};
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_process::Subprocess;
///
/// let ioloop = IOLoop::new().unwrap();
/// let out = ioloop.run_sync(|| coroutine(async {
///     let mut cmd = Command::new("echo");
///     cmd.arg("hi").stdout(Stdio::piped());
///     let child = Subprocess::spawn(&mut cmd)?;
///     let out = child.stdout.as_ref().unwrap().read_until_close().await?;
///     child.wait_for_exit(true).await?;
///     Ok(out)
/// }), None).unwrap();
/// assert_eq!(out, b"hi\n");
/// ```
pub struct Subprocess {
    /// The child's stdin, if it was piped: write to it; `close` it to send
    /// end of file.
    pub stdin: Option<IOStream>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<IOStream>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<IOStream>,
    inner: Rc<Inner>,
}

impl Subprocess {
    /// Starts `command` on the current loop. A program that does not exist
    /// is [`SubprocessError::NotFound`], at once.
    pub fn spawn(command: &mut Command) -> Result<Subprocess, SubprocessError> {
        Self::spawn_with(command, Method::Best)
    }

    pub(crate) fn spawn_with(
        command: &mut Command,
        method: Method,
    ) -> Result<Subprocess, SubprocessError> {
        let program = command.get_program().to_string_lossy().into_owned();
        // std reports a failed exec through a close-on-exec pipe, so a
        // missing program is this call's error, not a strange exit status.
        let mut child = command.spawn().map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => SubprocessError::NotFound {
                program: program.clone(),
            },
            _ => SubprocessError::Spawn {
                program: program.clone(),
                source,
            },
        })?;
        let pid = child.id();
        let inner = Rc::new(Inner {
            pid,
            program: program.clone(),
            exit: RefCell::new(Exit::Running(Vec::new())),
        });
        let wait_error = |source| SubprocessError::Wait {
            program: program.clone(),
            pid,
            source,
        };
        let weak = Rc::downgrade(&inner);
        let on_exit = Box::new(move |outcome: io::Result<ExitStatus>| {
            if let Some(inner) = weak.upgrade() {
                inner.finish(outcome);
            }
        });
        // From here the watch (or its drop) reaps the child.
        if let Err(e) = reap::watch(pid as libc::pid_t, method, on_exit) {
            let _ = sys::kill(pid as libc::pid_t, libc::SIGKILL);
            let _ = sys::waitpid(pid as libc::pid_t, false);
            return Err(wait_error(e));
        }
        let stream = |fd: Option<OwnedFd>, reader: bool| -> Result<_, SubprocessError> {
            let Some(fd) = fd else { return Ok(None) };
            let s = if reader {
                IOStream::new(io::PipeReader::from(fd))
            } else {
                IOStream::new(io::PipeWriter::from(fd))
            };
            s.map(Some).map_err(wait_error)
        };
        Ok(Subprocess {
            stdin: stream(child.stdin.take().map(OwnedFd::from), false)?,
            stdout: stream(child.stdout.take().map(OwnedFd::from), true)?,
            stderr: stream(child.stderr.take().map(OwnedFd::from), true)?,
            inner,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// How the child ended, once the loop has reaped it (Tornado's
    /// `returncode`).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match &*self.inner.exit.borrow() {
            Exit::Ended(s) => Some(*s),
            _ => None,
        }
    }

    /// Sends `signal` to the child, unless it was already reaped (its pid
    /// may belong to another process by then).
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        match &*self.inner.exit.borrow() {
            Exit::Running(_) => sys::kill(self.inner.pid as libc::pid_t, signal),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("process {} has already ended", self.inner.pid),
            )),
        }
    }

    /// Runs `callback(status)` on the loop when the child ends (at the next
    /// iteration if it already has). Several callbacks run in order.
    pub fn set_exit_callback(&self, callback: impl FnOnce(ExitStatus) + 'static) {
        let mut exit = self.inner.exit.borrow_mut();
        match &mut *exit {
            Exit::Running(waiters) => waiters.push(Waiter::Callback(Box::new(callback))),
            Exit::Ended(status) => {
                let status = *status;
                IOLoop::current().add_callback(move || callback(status));
            }
            Exit::Lost(why) => log::error!(
                target: "tornado.general",
                "exit callback of {} (pid {}) will not run: {why}",
                self.inner.program,
                self.inner.pid
            ),
        }
    }

    /// A future of the child's exit status. With `raise_error`, a status
    /// other than success fails it with [`SubprocessError::Exit`].
    pub fn wait_for_exit(&self, raise_error: bool) -> Future<ExitStatus> {
        let future = Future::new();
        let mut exit = self.inner.exit.borrow_mut();
        match &mut *exit {
            Exit::Running(waiters) => waiters.push(Waiter::Future(future.clone(), raise_error)),
            Exit::Ended(status) => self.inner.resolve(&future, *status, raise_error),
            Exit::Lost(why) => self.inner.lose(&future, why),
        }
        future
    }
}

impl Inner {
    /// The watch saw the end: record it and tell every waiter.
    fn finish(&self, outcome: io::Result<ExitStatus>) {
        let new = match &outcome {
            Ok(status) => Exit::Ended(*status),
            Err(e) => Exit::Lost(e.to_string()),
        };
        let Exit::Running(waiters) = std::mem::replace(&mut *self.exit.borrow_mut(), new) else {
            return;
        };
        for w in waiters {
            match (w, &outcome) {
                (Waiter::Callback(cb), Ok(status)) => {
                    let status = *status;
                    // Through the loop, so a panic there is isolated.
                    IOLoop::current().add_callback(move || cb(status));
                }
                (Waiter::Future(f, raise), Ok(status)) => self.resolve(&f, *status, raise),
                (Waiter::Future(f, _), Err(e)) => self.lose(&f, &e.to_string()),
                (Waiter::Callback(_), Err(e)) => log::error!(
                    target: "tornado.general",
                    "cannot reap {} (pid {}): {e}",
                    self.program,
                    self.pid
                ),
            }
        }
    }

    fn resolve(&self, future: &Future<ExitStatus>, status: ExitStatus, raise_error: bool) {
        let _ = if raise_error && !status.success() {
            future.set_exception(SubprocessError::Exit {
                program: self.program.clone(),
                pid: self.pid,
                status,
            })
        } else {
            future.set_result(status)
        };
    }

    fn lose(&self, future: &Future<ExitStatus>, why: &str) {
        let _ = future.set_exception(SubprocessError::Wait {
            program: self.program.clone(),
            pid: self.pid,
            source: io::Error::other(why.to_owned()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_polling_fallback_reaps_too() {
        let ioloop = IOLoop::new().unwrap();
        ioloop.make_current();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 0.05; exit 4"]);
        let child = Subprocess::spawn_with(&mut cmd, Method::Poll).unwrap();
        let waiting = child.wait_for_exit(false);
        let status = ioloop
            .run_sync(move || waiting, Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(status.code(), Some(4));
        assert!(!std::path::Path::new(&format!("/proc/{}", child.pid())).exists());
        ioloop.close(false).unwrap();
    }
}
