//! The soak test's pieces (the `soak` binary drives them): the load
//! ([`load`]), the protocols it checks ([`proto`]), and here the server
//! under test and its samples.

pub mod load;
pub mod proto;

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{clock_ticks_per_sec, die_with_parent, proc_cpu_ticks, proc_status_bytes};

/// A server process under test, killed when dropped.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `program --port PORT args...` with its fd soft limit set to
    /// `nofile` (`None`: as inherited), output to `log`, and waits until
    /// it accepts connections. Its log level is `warn` (`RUST_LOG`): at
    /// info the examples log every request, gigabytes over a soak.
    pub fn start(
        program: &Path,
        port: u16,
        args: &[String],
        nofile: Option<u64>,
        log: &Path,
    ) -> io::Result<Server> {
        let out = File::create(log)?;
        let mut cmd = Command::new(program);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: the hook makes system calls only (setrlimit, prctl).
        unsafe {
            cmd.pre_exec(move || {
                if let Some(n) = nofile {
                    set_nofile(n)?;
                }
                die_with_parent()
            });
        }
        let child = cmd.spawn()?;
        let server = Server { child };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{program:?} does not listen on {addr}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets the fd soft limit (and the hard one if lower). System calls only:
/// safe in a `pre_exec` hook.
pub fn set_nofile(n: u64) -> io::Result<()> {
    // SAFETY: `lim` is a valid in/out parameter.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = n as libc::rlim_t;
        if lim.rlim_max < lim.rlim_cur {
            lim.rlim_max = lim.rlim_cur;
        }
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Open fds of `pid` (entries of `/proc/PID/fd`).
pub fn proc_fds(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// One sample of the server (and of the load at that moment).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Open fds.
    pub fds: usize,
    /// CPU use since the previous sample, % of one core.
    pub cpu_pct: f64,
    /// Client connections established.
    pub conns: usize,
    /// Right answers so far.
    pub answers: u64,
    /// Wrong answers and failures so far.
    pub errors: u64,
}

/// Samples a server every `every`, measuring CPU between samples.
pub struct Sampler {
    pid: u32,
    start: Instant,
    last: (Instant, u64),
    /// The samples taken.
    pub samples: Vec<Sample>,
}

impl Sampler {
    /// A sampler of `pid` whose time 0 is now.
    pub fn new(pid: u32) -> Sampler {
        let now = Instant::now();
        Sampler {
            pid,
            start: now,
            last: (now, proc_cpu_ticks(pid).unwrap_or(0)),
            samples: Vec::new(),
        }
    }

    /// Takes a sample now and returns it.
    pub fn sample(&mut self, conns: usize, answers: u64, errors: u64) -> io::Result<Sample> {
        let now = Instant::now();
        let ticks = proc_cpu_ticks(self.pid)?;
        let dt = now.duration_since(self.last.0).as_secs_f64();
        let cpu = if dt > 0.0 {
            (ticks - self.last.1) as f64 / clock_ticks_per_sec() as f64 / dt * 100.0
        } else {
            0.0
        };
        self.last = (now, ticks);
        let s = Sample {
            t: now.duration_since(self.start).as_secs_f64(),
            rss_kib: proc_status_bytes(self.pid, "VmRSS")? / 1024,
            fds: proc_fds(self.pid)?,
            cpu_pct: cpu,
            conns,
            answers,
            errors,
        };
        self.samples.push(s);
        Ok(s)
    }

    /// Writes the samples as CSV.
    pub fn write_csv(&self, path: &Path) -> io::Result<()> {
        let mut f = File::create(path)?;
        writeln!(f, "t_s,rss_kib,fds,cpu_pct,client_conns,answers,errors")?;
        for s in &self.samples {
            writeln!(
                f,
                "{:.1},{},{},{:.1},{},{},{}",
                s.t, s.rss_kib, s.fds, s.cpu_pct, s.conns, s.answers, s.errors
            )?;
        }
        Ok(())
    }
}

/// The level of a series (its median) and the largest relative deviation
/// from it, in %.
pub fn level_and_deviation(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let level = v[v.len() / 2];
    let dev = values
        .iter()
        .map(|x| (x - level).abs() / level.max(1.0) * 100.0)
        .fold(0.0, f64::max);
    (level, dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_is_the_median_and_deviation_the_largest() {
        let (level, dev) = level_and_deviation(&[100.0, 102.0, 96.0, 101.0, 100.0]);
        assert_eq!(level, 100.0);
        assert!((dev - 4.0).abs() < 1e-9);
    }
}
