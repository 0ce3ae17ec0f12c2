//! Helpers shared by the echo benchmark's binaries (`echo_bench`,
//! `echo_load`, `echo_peer`): CPU pinning, the fd limit, loopback listening
//! sockets, and reading a process's CPU time and memory from `/proc`; the
//! HTTP hello peers' common part is in [`peer`], the soak's in [`soak`].
//!
//! The echo benchmark is Linux-only (it reads `/proc`); elsewhere these
//! helpers fail with `Unsupported` instead of failing to build.

pub mod peer;
pub mod soak;

use std::io;
use std::net::{SocketAddr, TcpListener};

/// The CPUs this process may run on (as set by taskset or a cpuset).
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, zero is its empty state, and
    // sched_getaffinity writes at most size_of::<cpu_set_t>() bytes.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Pins the calling thread (or, between fork and exec, the child) to `cpu`.
/// Only a system call: safe to use in a `pre_exec` hook.
#[cfg(target_os = "linux")]
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: as above; sched_setaffinity only reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn pin_to(_cpu: usize) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new
/// (soft, hard). Only system calls: safe to use in a `pre_exec` hook.
pub fn raise_nofile() -> io::Result<(u64, u64)> {
    // SAFETY: `lim` is a valid out-parameter; setrlimit only reads it.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
    }
}

/// Asks the kernel to SIGKILL the calling process when its parent dies, so
/// that a killed driver leaves no server behind. For `pre_exec` hooks.
#[cfg(target_os = "linux")]
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and nothing else.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn die_with_parent() -> io::Result<()> {
    Ok(())
}

/// A non-blocking listening socket on 127.0.0.1:`port` with `SO_REUSEADDR`
/// and the largest backlog the kernel allows (it clamps to somaxconn), as
/// the `echo_server` example's `bind_sockets` makes.
pub fn listen_loopback(port: u16) -> io::Result<TcpListener> {
    use std::os::fd::FromRawFd;

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }
    // SAFETY: plain socket calls on an fd we own; the sockaddr is a valid,
    // fully initialised sockaddr_in of the length passed.
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        // Owned from here on: closed on every error below.
        let listener = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        cvt(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        cvt(libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        cvt(libc::listen(fd, libc::c_int::MAX))?;
        Ok(listener)
    }
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// utime + stime of process `pid` (all its threads), in clock ticks, from
/// fields 14 and 15 of `/proc/<pid>/stat`.
pub fn proc_cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields after its closing parenthesis, which is field 3 (state).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))
    };
    Ok(field(14)? + field(15)?)
}

/// Time on CPU of every thread of `pid`, in ns, from
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution, where `stat` has
/// ticks); a cross-check of `proc_cpu_ticks`.
pub fn proc_sched_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread that just exited: skip it.
        let Ok(s) = std::fs::read_to_string(path) else {
            continue;
        };
        total += s
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// A `kB` line of `/proc/<pid>/status` (such as `VmRSS`), in bytes.
pub fn proc_status_bytes(pid: u32, key: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        })
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// One CPU's counters from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    /// user + nice + system: processes and kernel threads.
    pub busy: u64,
    /// irq + softirq. On loopback this is mostly the TCP receive path of
    /// what the processes on this CPU send; without
    /// CONFIG_IRQ_TIME_ACCOUNTING that time is also in their own CPU time.
    pub irq: u64,
    /// Time the hypervisor ran something else while this CPU wanted to run.
    pub steal: u64,
    /// idle + iowait.
    pub idle: u64,
}

/// The counters of CPU `cpu` in `/proc/stat`.
pub fn cpu_ticks(cpu: usize) -> io::Result<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .ok_or_else(|| io::Error::other(format!("no {name} in /proc/stat")))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    Ok(CpuTicks {
        busy: at(0) + at(1) + at(2),
        irq: at(5) + at(6),
        steal: at(7),
        idle: at(3) + at(4),
    })
}

impl CpuTicks {
    /// All time counted, busy or not.
    pub fn total(&self) -> u64 {
        self.busy + self.irq + self.steal + self.idle
    }
}

/// The first line of `/proc/loadavg` (three load averages, runnable/total
/// tasks, last pid), or "?".
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_proc_entries() {
        let pid = std::process::id();
        proc_cpu_ticks(pid).unwrap();
        assert!(proc_sched_ns(pid).unwrap() > 0);
        assert!(proc_status_bytes(pid, "VmRSS").unwrap() > 0);
        assert!(cpu_ticks(0).is_ok());
    }

    #[test]
    fn listens_on_loopback() {
        let l = listen_loopback(0).unwrap();
        let addr = l.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        std::net::TcpStream::connect(addr).unwrap();
    }
}
