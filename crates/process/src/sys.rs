//! Every system call of this crate, each through the project's one libc
//! helper, `tornado_ioloop::syscall!`: `-1` becomes an `io::Error` (the
//! calls that return an error number instead say so where they are made).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tornado_ioloop::syscall;

/// The process's id.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// How many threads this process runs, where the OS says (`None`
/// elsewhere): the entries of `/proc/self/task` on Linux.
pub(crate) fn thread_count() -> Option<usize> {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
    } else {
        None
    }
}

/// True if an fd of this process is an epoll instance or an eventfd (Linux
/// only): an event loop's selector or waker, which a forked child would
/// share with its parent and its siblings.
pub(crate) fn has_loop_fd() -> bool {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|t| {
            t.as_os_str() == "anon_inode:[eventpoll]" || t.as_os_str() == "anon_inode:[eventfd]"
        })
    })
}

/// `fork(2)`: `Ok(0)` in the child, the child's pid in the parent.
///
/// # Safety
/// The process must have one thread: in the child only the calling thread
/// exists, and locks other threads held stay locked forever.
pub(crate) unsafe fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the caller guarantees a single-threaded process.
    syscall!(fork())
}

/// `waitpid(pid, WNOHANG or 0)`: the pid and status of a child that
/// ended, or `None` if none has (only with `nohang`).
pub(crate) fn waitpid(
    pid: libc::pid_t,
    nohang: bool,
) -> io::Result<Option<(libc::pid_t, ExitStatus)>> {
    let mut status: libc::c_int = 0;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a valid place for the kernel to write to.
    let got = syscall!(retry waitpid(pid, &mut status, flags))?;
    Ok((got != 0).then(|| (got, ExitStatus::from_raw(status))))
}

/// `kill(pid, signal)`.
pub(crate) fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: sending a signal has no memory-safety preconditions.
    syscall!(kill(pid, signal)).map(drop)
}

/// A signal set holding `signals`.
pub(crate) fn sigset(signals: &[libc::c_int]) -> io::Result<libc::sigset_t> {
    // SAFETY: an all-zero sigset_t is a valid value to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    syscall!(sigemptyset(&mut set))?;
    for &s in signals {
        // SAFETY: as above.
        syscall!(sigaddset(&mut set, s))?;
    }
    Ok(set)
}

/// `sigprocmask(how, set)`; returns the previous mask. Only called while
/// the process has one thread, where it is the thread's mask.
pub(crate) fn sigprocmask(how: libc::c_int, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    // SAFETY: an all-zero sigset_t is a valid value to be overwritten.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to valid sigset_t values.
    syscall!(sigprocmask(how, set, &mut old))?;
    Ok(old)
}

/// Sets `signal` back to its default action (a `SIG_IGN` inherited for
/// `SIGCHLD` would make the kernel reap children behind our back).
pub(crate) fn default_action(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is valid; we set its handler below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `action` is a valid sigaction; the old one is not wanted.
    syscall!(sigaction(signal, &action, std::ptr::null_mut())).map(drop)
}

/// Waits (blocking the process: only the supervising parent, which runs
/// no loop, calls this) for one of the blocked signals in `set`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn sigwait(set: &libc::sigset_t) -> io::Result<libc::c_int> {
    // SAFETY: `set` is valid; no siginfo is asked for.
    syscall!(retry sigwaitinfo(set, std::ptr::null_mut()))
}

/// As the Linux version; `sigwait` returns an error number, not `-1`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn sigwait(set: &libc::sigset_t) -> io::Result<libc::c_int> {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` and `sig` are valid.
    match unsafe { libc::sigwait(set, &mut sig) } {
        0 => Ok(sig),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Asks the kernel to send `signal` to this process when its parent dies,
/// so that killed supervisors leave no orphaned workers (Linux only).
pub(crate) fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let sig = signal as libc::c_ulong;
        // SAFETY: PR_SET_PDEATHSIG takes a signal number and nothing else.
        syscall!(prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0))?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = signal;
    Ok(())
}

/// The parent's pid.
pub(crate) fn getppid() -> libc::pid_t {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// `pidfd_open(pid)`: an fd that becomes readable when the process ends
/// (Linux 5.3 and later; `ENOSYS` before, `Unsupported` elsewhere).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: the syscall takes a pid and flags and returns a new fd.
        let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
        // SAFETY: the kernel just gave us this fd; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// The name of a signal, for messages (`SIGKILL`), or its number.
pub(crate) fn signal_name(signal: libc::c_int) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// "exited with status 3" or "killed by SIGKILL": how a process ended.
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by {}", signal_name(sig)),
        _ => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_one_is_the_os_error() {
        // SAFETY: closing an fd that cannot be open fails with EBADF.
        let e = syscall!(close(-1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn threads_are_counted() {
        let before = thread_count().unwrap();
        assert!(before >= 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv().ok());
        assert!(thread_count().unwrap() > before - 1);
        assert!(thread_count().unwrap() >= 2);
        drop(tx);
        t.join().unwrap();
    }

    #[test]
    fn statuses_are_described() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGKILL)),
            "killed by SIGKILL"
        );
        assert_eq!(signal_name(200), "signal 200");
    }

    #[test]
    fn waiting_for_no_child_is_an_error() {
        let e = waitpid(i32::MAX, true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECHILD));
    }
}
