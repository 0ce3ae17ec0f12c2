//! Pre-fork serving (Tornado's `fork_processes` and `task_id`): the parent
//! forks n children, which return to serve, and then only supervises them.
//!
//! The parent runs no loop and no thread. It blocks `SIGCHLD`, `SIGTERM`
//! and `SIGINT` before forking and waits for them synchronously
//! (`sigwaitinfo`), so no signal handler runs and nothing is inherited by
//! the children but the mask, which each child restores at once. A child
//! that dies by a signal or a non-zero status is forked again with the same
//! task id (up to `max_restarts` times in all); `SIGTERM` or `SIGINT` is
//! forwarded to every child and the parent exits once they have all ended.

use std::collections::HashMap;
use std::io;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tornado_ioloop::IOLoop;

use crate::sys;

/// Tornado's default for `max_restarts`.
pub const DEFAULT_MAX_RESTARTS: u32 = 100;

/// How long the parent waits for the other children to stop after giving
/// up, before killing them.
const GIVE_UP_GRACE: Duration = Duration::from_secs(10);

/// `usize::MAX` until this process is a forked child.
static TASK_ID: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Set once `fork_processes` runs, in the parent and so in every child.
static FORKING: AtomicBool = AtomicBool::new(false);

/// Signals the supervising parent waits for.
const SUPERVISED: [libc::c_int; 3] = [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT];

/// The task id of this process: `Some(i)` in the i-th child of
/// [`fork_processes`] (also after a restart), `None` in a process that did
/// not fork.
pub fn task_id() -> Option<usize> {
    match TASK_ID.load(Ordering::Relaxed) {
        usize::MAX => None,
        id => Some(id),
    }
}

/// Why [`fork_processes`] did not fork, or why the supervising parent gave
/// up.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The process already runs other threads: after `fork` the child would
    /// hold only the calling one, with any lock the others held stuck.
    #[error(
        "cannot fork: this process runs {0} threads; call fork_processes before starting any thread or thread pool"
    )]
    Threads(usize),
    /// An `IOLoop` exists: parent and children would share its selector.
    #[error(
        "cannot fork: an IOLoop was already created; call fork_processes before creating any loop, server or stream"
    )]
    LoopExists,
    /// `fork_processes` was already called in this process (or its parent).
    #[error("fork_processes was already called in this process")]
    AlreadyForked,
    /// A system call failed while forking or supervising.
    #[error("fork_processes failed: {0}")]
    Os(#[from] io::Error),
    /// Children kept failing: the last one is named with its cause.
    #[error(
        "too many child restarts ({restarts}), giving up: child {task_id} (pid {pid}) {}",
        sys::describe(*status)
    )]
    TooManyRestarts {
        /// Restarts done before giving up.
        restarts: u32,
        /// Task id of the child whose failure was one too many.
        task_id: usize,
        /// Its pid.
        pid: i32,
        /// How it ended.
        status: ExitStatus,
    },
}

impl From<ForkError> for io::Error {
    fn from(e: ForkError) -> io::Error {
        match e {
            ForkError::Os(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// Checks that forking is safe here: one thread, no loop, not forked yet.
/// Threads are counted from `/proc/self/task` and loop descriptors (epoll,
/// eventfd) found in `/proc/self/fd`, on Linux; elsewhere only the current
/// and global loops are checked.
pub fn check_can_fork() -> Result<(), ForkError> {
    if FORKING.load(Ordering::Relaxed) || task_id().is_some() {
        return Err(ForkError::AlreadyForked);
    }
    if let Some(n) = sys::thread_count().filter(|&n| n > 1) {
        return Err(ForkError::Threads(n));
    }
    if IOLoop::try_current().is_some() || IOLoop::initialized() || sys::has_loop_fd() {
        return Err(ForkError::LoopExists);
    }
    Ok(())
}

/// Forks `num_processes` children (one per core for 0) and returns, in each
/// child, its task id (0 to n-1). In the parent it never returns normally:
/// it supervises the children, restarting any that dies by a signal or
/// with a non-zero status (at most `max_restarts` restarts in all, default
/// [`DEFAULT_MAX_RESTARTS`]), forwards `SIGTERM` and `SIGINT` to them, and
/// exits the process once all have ended: with 0 if each exited with 0 (or
/// by the forwarded signal), else 1. After one restart too many it stops
/// the other children and returns [`ForkError::TooManyRestarts`].
///
/// Call it before any thread or loop exists (bind listening sockets first,
/// so that the children share them); otherwise it fails without forking.
/// Children are sent `SIGTERM` if the parent dies (Linux).
///
/// ```no_run
/// use tornado_process::{fork_processes, task_id};
///
/// let id = fork_processes(2, None)?; // from here on, in a child
/// assert_eq!(task_id(), Some(id));
/// # Ok::<(), tornado_process::ForkError>(())
/// ```
pub fn fork_processes(num_processes: usize, max_restarts: Option<u32>) -> Result<usize, ForkError> {
    check_can_fork()?;
    let n = match num_processes {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    log::info!(target: "tornado.general", "Starting {n} processes");
    let watched = sys::sigset(&SUPERVISED)?;
    sys::default_action(libc::SIGCHLD)?;
    let old_mask = sys::sigprocmask(libc::SIG_BLOCK, &watched)?;
    FORKING.store(true, Ordering::Relaxed);
    let mut sup = Supervisor {
        parent: sys::getpid(),
        old_mask,
        children: HashMap::new(),
    };
    let outcome = sup.run(n, &watched, max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS));
    match outcome {
        Ok(Outcome::Child(id)) => Ok(id),
        Ok(Outcome::Exit(code)) => std::process::exit(code),
        Err(e) => {
            sup.stop_all();
            // Leave the caller a process it can go on with (and exit).
            let _ = sys::sigprocmask(libc::SIG_SETMASK, &sup.old_mask);
            FORKING.store(false, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// Where `Supervisor::run` ends.
enum Outcome {
    /// In a (re)started child, with its task id.
    Child(usize),
    /// In the parent, all children gone: the exit code.
    Exit(i32),
}

/// The parent's state.
struct Supervisor {
    /// The parent's pid, for the children's orphan check.
    parent: libc::pid_t,
    /// The mask before blocking; children restore it.
    old_mask: libc::sigset_t,
    /// Running children: pid to task id.
    children: HashMap<libc::pid_t, usize>,
}

impl Supervisor {
    /// Forks the n children, then supervises them.
    fn run(&mut self, n: usize, watched: &libc::sigset_t, max: u32) -> Result<Outcome, ForkError> {
        for id in 0..n {
            if self.start_child(id)? {
                return Ok(Outcome::Child(id));
            }
        }
        self.supervise(watched, max)
    }

    /// Forks child `id`: true in the child.
    fn start_child(&mut self, id: usize) -> Result<bool, ForkError> {
        // Checked by `check_can_fork` (one thread); the parent starts none.
        debug_assert!(sys::thread_count().is_none_or(|n| n == 1));
        // SAFETY: the process has one thread (checked before the first
        // fork, and the supervising parent starts none).
        let pid = unsafe { sys::fork() }?;
        if pid == 0 {
            // Not this child's to supervise: an error below must not make
            // `fork_processes` stop its siblings.
            self.children.clear();
            TASK_ID.store(id, Ordering::Relaxed);
            sys::sigprocmask(libc::SIG_SETMASK, &self.old_mask)?;
            sys::set_parent_death_signal(libc::SIGTERM)?;
            // The parent may have died before the line above took effect.
            if sys::getppid() != self.parent {
                sys::kill(sys::getpid(), libc::SIGTERM)?;
            }
            return Ok(true);
        }
        self.children.insert(pid, id);
        Ok(false)
    }

    /// Waits for signals until every child is gone (or one restart too
    /// many), restarting failed children.
    fn supervise(&mut self, watched: &libc::sigset_t, max: u32) -> Result<Outcome, ForkError> {
        let mut restarts = 0u32;
        let mut stopping: Option<libc::c_int> = None;
        let mut failures = 0usize;
        loop {
            if self.children.is_empty() {
                return Ok(Outcome::Exit(if failures == 0 { 0 } else { 1 }));
            }
            let sig = sys::sigwait(watched)?;
            if sig == libc::SIGTERM || sig == libc::SIGINT {
                log::info!(
                    target: "tornado.general",
                    "got {}: stopping {} child process(es)",
                    sys::signal_name(sig),
                    self.children.len()
                );
                stopping = Some(sig);
                for &pid in self.children.keys() {
                    // A child that just died is reaped below.
                    let _ = sys::kill(pid, sig);
                }
            }
            // Several exits may have been merged into one SIGCHLD.
            while let Some((pid, status)) = self.reap_one()? {
                let Some(id) = self.children.remove(&pid) else {
                    continue;
                };
                let how = sys::describe(status);
                if let Some(sig) = stopping {
                    if status.success() || status_signal(status) == Some(sig) {
                        log::info!(target: "tornado.general", "child {id} (pid {pid}) {how}");
                    } else {
                        log::error!(
                            target: "tornado.general",
                            "child {id} (pid {pid}) {how} while stopping"
                        );
                        failures += 1;
                    }
                    continue;
                }
                if status.success() {
                    log::info!(target: "tornado.general", "child {id} (pid {pid}) exited normally");
                    continue;
                }
                restarts += 1;
                if restarts > max {
                    return Err(ForkError::TooManyRestarts {
                        restarts: max,
                        task_id: id,
                        pid,
                        status,
                    });
                }
                log::warn!(target: "tornado.general", "child {id} (pid {pid}) {how}, restarting");
                if self.start_child(id)? {
                    return Ok(Outcome::Child(id));
                }
            }
        }
    }

    /// One ended child, without blocking; `None` when no more have ended.
    fn reap_one(&self) -> io::Result<Option<(libc::pid_t, ExitStatus)>> {
        match sys::waitpid(-1, true) {
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(None),
            other => other,
        }
    }

    /// Stops the remaining children: `SIGTERM`, then `SIGKILL` for those
    /// still running after a grace period; reaps them all.
    fn stop_all(&mut self) {
        for &pid in self.children.keys() {
            let _ = sys::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + GIVE_UP_GRACE;
        while !self.children.is_empty() {
            match self.reap_one() {
                Ok(Some((pid, _))) => {
                    self.children.remove(&pid);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    for (pid, _) in self.children.drain() {
                        let _ = sys::kill(pid, libc::SIGKILL);
                        let _ = sys::waitpid(pid, false);
                    }
                }
            }
        }
    }
}

/// The signal that ended a process, if one did.
fn status_signal(status: ExitStatus) -> Option<libc::c_int> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}
