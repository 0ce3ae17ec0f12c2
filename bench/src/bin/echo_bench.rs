//! The echo benchmark's driver: the `echo_server` example against a raw mio
//! echo server and a tokio current_thread one (`echo_peer`), under the same
//! load generator (`echo_load`).
//!
//!     cargo build --release --example echo_server
//!     cargo build --release -p tornado-bench --bin echo_peer --bin echo_load --bin echo_bench
//!     target/release/echo_bench [--rounds R] [--secs T] [--no-memory] ...
//!
//! It builds nothing: it runs the release binaries found next to itself.
//! Every server runs pinned to the first allowed CPU, the load generator
//! (and this driver) to the second. See bench/README.md for what each
//! number means.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The three servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The `echo_server` example: TcpServer + IOStream on our IOLoop.
    Ours,
    /// `echo_peer --kind mio`.
    Mio,
    /// `echo_peer --kind tokio`.
    Tokio,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Ours, Kind::Mio, Kind::Tokio];

    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Mio => "mio",
            Kind::Tokio => "tokio",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn index(self) -> u16 {
        match self {
            Kind::Ours => 0,
            Kind::Mio => 1,
            Kind::Tokio => 2,
        }
    }
}

struct Opts {
    rounds: usize,
    secs: f64,
    warmup_ms: u64,
    conns: Vec<usize>,
    sizes: Vec<usize>,
    kinds: Vec<Kind>,
    idle: usize,
    throughput: bool,
    memory: bool,
    port_base: u16,
    bin_dir: PathBuf,
    /// Longest wait for quiet CPUs before a run, seconds.
    quiet_wait: f64,
    /// Most time spent waiting for quiet CPUs in the whole benchmark, s.
    quiet_budget: f64,
    /// Most attempts of a run disturbed by other processes.
    attempts: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_bench [--rounds R (5)] [--secs T (2)] [--warmup-ms W (500)]\n\
         \x20                 [--conns 10,100] [--sizes 64,16384] [--kinds ours,mio,tokio]\n\
         \x20                 [--idle N (10000)] [--no-throughput] [--no-memory]\n\
         \x20                 [--port-base P (19100)] [--bin-dir DIR (this binary's dir)]\n\
         \x20                 [--quiet-wait SECS (120)] [--quiet-budget SECS (900)] [--attempts N (3)]"
    );
    std::process::exit(2)
}

fn list<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',')
        .map(|x| x.trim().parse().unwrap_or_else(|_| usage()))
        .collect()
}

fn parse_args() -> Opts {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let mut o = Opts {
        rounds: 5,
        secs: 2.0,
        warmup_ms: 500,
        conns: vec![10, 100],
        sizes: vec![64, 16384],
        kinds: Kind::ALL.to_vec(),
        idle: 10_000,
        throughput: true,
        memory: true,
        port_base: 19100,
        bin_dir: exe_dir,
        quiet_wait: 120.0,
        quiet_budget: 900.0,
        attempts: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--rounds" => o.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = value().parse().unwrap_or_else(|_| usage()),
            "--warmup-ms" => o.warmup_ms = value().parse().unwrap_or_else(|_| usage()),
            "--conns" => o.conns = list(&value()),
            "--sizes" => o.sizes = list(&value()),
            "--kinds" => {
                o.kinds = value()
                    .split(',')
                    .map(|k| Kind::parse(k.trim()).unwrap_or_else(|| usage()))
                    .collect()
            }
            "--idle" => o.idle = value().parse().unwrap_or_else(|_| usage()),
            "--no-throughput" => o.throughput = false,
            "--no-memory" => o.memory = false,
            "--port-base" => o.port_base = value().parse().unwrap_or_else(|_| usage()),
            "--bin-dir" => o.bin_dir = PathBuf::from(value()),
            "--quiet-wait" => o.quiet_wait = value().parse().unwrap_or_else(|_| usage()),
            "--quiet-budget" => o.quiet_budget = value().parse().unwrap_or_else(|_| usage()),
            "--attempts" => o.attempts = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.rounds == 0 || o.secs <= 0.0 || o.kinds.is_empty() || o.attempts == 0 {
        usage();
    }
    o
}

/// Where the servers and the load generator run.
#[derive(Clone, Copy)]
struct Cpus {
    server: Option<usize>,
    load: Option<usize>,
}

/// The binaries run.
struct Bins {
    echo_server: PathBuf,
    echo_peer: PathBuf,
    echo_load: PathBuf,
}

impl Bins {
    fn find(dir: &Path) -> Result<Bins, String> {
        let bins = Bins {
            echo_server: dir.join("examples").join("echo_server"),
            echo_peer: dir.join("echo_peer"),
            echo_load: dir.join("echo_load"),
        };
        for p in [&bins.echo_server, &bins.echo_peer, &bins.echo_load] {
            if !p.is_file() {
                return Err(format!(
                    "{} is missing; build the release binaries first:\n  \
                     cargo build --release --example echo_server\n  \
                     cargo build --release -p tornado-bench --bin echo_peer --bin echo_load --bin echo_bench",
                    p.display()
                ));
            }
        }
        Ok(bins)
    }
}

/// Puts the child on `cpu` (if any), raises its fd limit, and has it killed
/// if this driver dies; all before exec, so the pid is the server's own.
fn child_setup(cmd: &mut Command, cpu: Option<usize>) {
    // SAFETY: the hook makes only system calls (sched_setaffinity,
    // getrlimit/setrlimit, prctl): async-signal-safe, no allocation.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(c) = cpu {
                tornado_bench::pin_to(c)?;
            }
            tornado_bench::raise_nofile()?;
            tornado_bench::die_with_parent()
        });
    }
}

/// A running server; killed (and reaped) when dropped, also on panic.
struct Server {
    child: Child,
    kind: Kind,
}

impl Server {
    fn start(bins: &Bins, kind: Kind, port: u16, cpu: Option<usize>) -> Result<Server, String> {
        if TcpStream::connect_timeout(&tornado_bench::loopback(port), Duration::from_millis(200))
            .is_ok()
        {
            return Err(format!(
                "127.0.0.1:{port} already has a listener; pick another --port-base"
            ));
        }
        let p = port.to_string();
        let mut cmd = match kind {
            Kind::Ours => {
                let mut c = Command::new(&bins.echo_server);
                c.args(["--port", &p, "--address", "127.0.0.1"]);
                c
            }
            Kind::Mio | Kind::Tokio => {
                let mut c = Command::new(&bins.echo_peer);
                c.args(["--kind", kind.name(), "--port", &p]);
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        child_setup(&mut cmd, cpu);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the {} server: {e}", kind.name()))?;
        let mut server = Server { child, kind };
        server.wait_for_port(port)?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_for_port(&mut self, port: u16) -> Result<(), String> {
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the {} server exited: {status}", self.kind.name()));
            }
            if TcpStream::connect_timeout(
                &tornado_bench::loopback(port),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > give_up {
                return Err(format!(
                    "the {} server is not listening on port {port} after 10 s",
                    self.kind.name()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured run.
#[derive(Clone, Copy, Debug)]
struct Run {
    msgs_per_s: f64,
    /// Server utime + stime per message, µs (`/proc/<pid>/stat`).
    cpu_us: f64,
    /// The same from schedstat (ns resolution), µs.
    sched_us: f64,
    /// Server CPU time / window.
    util: f64,
    /// The server CPU's time (busy + irq) not spent in the server, /
    /// window: other processes disturbing the run. (Softirq work done in the
    /// server's context is in its own CPU time: the kernel has no
    /// CONFIG_IRQ_TIME_ACCOUNTING here; where it has, this overstates.)
    other: f64,
    /// The same on the load generator's CPU, beyond echo_load itself.
    load_other: f64,
    /// The server CPU's irq + softirq time / window (mostly the loopback
    /// delivery of what the server sends; charged to no process).
    irq: f64,
    /// The server CPU's steal time / window.
    steal: f64,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "{:>10.0} msgs/s {:>7.3} µs/msg (sched {:>7.3})  util {:>3.0}%  softirq {:>3.0}%  \
             other {:>3.0}%/{:>2.0}%  steal {:>2.0}%",
            self.msgs_per_s,
            self.cpu_us,
            self.sched_us,
            self.util * 100.0,
            self.irq * 100.0,
            self.other * 100.0,
            self.load_other * 100.0,
            self.steal * 100.0
        )
    }

    /// The larger disturbance, on the server's CPU or the load's.
    fn disturbance(&self) -> f64 {
        self.other.max(self.load_other)
    }
}

fn run_load(
    bins: &Bins,
    opts: &Opts,
    port: u16,
    conns: usize,
    size: usize,
    server: &Server,
    cpus: Cpus,
) -> Result<Run, String> {
    let mut cmd = Command::new(&bins.echo_load);
    cmd.args([
        "--port",
        &port.to_string(),
        "--conns",
        &conns.to_string(),
        "--size",
        &size.to_string(),
        "--warmup-ms",
        &opts.warmup_ms.to_string(),
        "--secs",
        &opts.secs.to_string(),
        "--server-pid",
        &server.pid().to_string(),
    ]);
    if let Some(c) = cpus.server {
        cmd.args(["--server-cpu", &c.to_string()]);
    }
    if let Some(c) = cpus.load {
        cmd.args(["--load-cpu", &c.to_string()]);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    child_setup(&mut cmd, cpus.load);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start echo_load: {e}"))?;
    let deadline =
        Instant::now() + Duration::from_secs_f64(opts.secs + opts.warmup_ms as f64 / 1e3 + 30.0);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("echo_load did not finish in time".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for echo_load: {e}")),
        }
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("echo_load failed ({status})"));
    }
    let line = out
        .lines()
        .find(|l| l.starts_with("result "))
        .ok_or_else(|| format!("no result from echo_load: {out:?}"))?;
    let kv: HashMap<&str, f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| {
            let (k, v) = f.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let get = |k: &str| {
        kv.get(k)
            .copied()
            .ok_or_else(|| format!("echo_load printed no {k}: {line}"))
    };
    let msgs = get("msgs")?;
    let window = get("window_s")?;
    let cpu = get("server_cpu_s")?;
    let sched = kv.get("server_sched_s").copied().unwrap_or(f64::NAN);
    if msgs == 0.0 {
        return Err("no message echoed in the window".into());
    }
    let busy = kv.get("cpu_busy_s").copied().unwrap_or(f64::NAN);
    let irq = kv.get("cpu_irq_s").copied().unwrap_or(f64::NAN);
    let steal = kv.get("cpu_steal_s").copied().unwrap_or(f64::NAN);
    Ok(Run {
        msgs_per_s: get("msgs_per_s")?,
        cpu_us: cpu / msgs * 1e6,
        sched_us: sched / msgs * 1e6,
        util: cpu / window,
        other: ((busy + irq - sched) / window).max(0.0),
        load_other: match (
            kv.get("load_cpu_busy_s"),
            kv.get("load_cpu_irq_s"),
            kv.get("load_self_s"),
        ) {
            (Some(b), Some(i), Some(me)) => ((b + i - me) / window).max(0.0),
            _ => 0.0,
        },
        irq: irq / window,
        steal: steal / window,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn port_for(opts: &Opts, kind: Kind, memory: bool) -> u16 {
    opts.port_base + kind.index() + if memory { 10 } else { 0 }
}

/// Busiest of `cpus` over `d`: (busy + irq + steal) / all time.
fn busiest(cpus: &[usize], d: Duration) -> f64 {
    let read = || {
        cpus.iter()
            .map(|&c| tornado_bench::cpu_ticks(c).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let a = read();
    std::thread::sleep(d);
    let b = read();
    a.iter()
        .zip(&b)
        .map(|(a, b)| {
            let total = b.total().saturating_sub(a.total()).max(1) as f64;
            let busy = (b.busy + b.irq + b.steal).saturating_sub(a.busy + a.irq + a.steal);
            busy as f64 / total
        })
        .fold(0.0, f64::max)
}

/// Milliseconds spent in `wait_quiet` so far, against `--quiet-budget`.
static QUIET_WAITED_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Waits (up to `--quiet-wait`, and while the whole run's `--quiet-budget`
/// lasts) until both CPUs are idle, so that a run does not start in the
/// middle of somebody else's build. Returns false if they never were.
fn wait_quiet(opts: &Opts, cpus: Cpus) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let which: Vec<usize> = [cpus.server, cpus.load].into_iter().flatten().collect();
    let left = (opts.quiet_budget - QUIET_WAITED_MS.load(Relaxed) as f64 / 1e3).max(0.0);
    let start = Instant::now();
    let give_up = start + Duration::from_secs_f64(opts.quiet_wait.min(left));
    let _account = Defer(move || {
        QUIET_WAITED_MS.fetch_add(start.elapsed().as_millis() as u64, Relaxed);
    });
    let mut said = false;
    loop {
        let busy = busiest(&which, Duration::from_millis(500));
        if busy < QUIET {
            if said {
                println!(" quiet again");
            }
            return true;
        }
        if Instant::now() > give_up {
            if said {
                println!(" still busy; going on");
            }
            return false;
        }
        if !said {
            print!(
                "  (cpus busy with other work, {:.0}%: waiting",
                busy * 100.0
            );
            said = true;
        } else {
            print!(".");
        }
        let _ = io::stdout().flush();
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs its closure when dropped.
struct Defer<F: FnMut()>(F);

impl<F: FnMut()> Drop for Defer<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Both CPUs below this busy share count as quiet before a run.
const QUIET: f64 = 0.15;
/// A run in which something else took more than this share of the
/// server's or the load generator's CPU is disturbed, and tried again (up to
/// `--attempts`). Tick-based counters make a few % of noise.
const MAX_OTHER: f64 = 0.08;

/// Throughput: each configuration, `rounds` rounds, the kinds interleaved
/// (rotated each round) so that drift in the machine's load hits them alike.
/// Before each run, waits for quiet CPUs; a run that other processes
/// disturbed anyway is repeated, and the least disturbed attempt kept.
/// Per configuration and server, the run of each round (`None`: failed).
type Results = Vec<(usize, usize, Kind, Vec<Option<Run>>)>;

fn throughput(opts: &Opts, bins: &Bins, cpus: Cpus) -> Results {
    let mut results = Vec::new();
    println!(
        "\nthroughput: {} round(s) per configuration, {} ms warm-up + {} s measured each; \
         raw runs (util = server CPU time / window; softirq = the server CPU's \
         irq+softirq time / window; other = time the server's / the load's CPU spent \
         on anything else, / window; over {:.0}% means disturbed, and the run is repeated):",
        opts.rounds,
        opts.warmup_ms,
        opts.secs,
        MAX_OTHER * 100.0
    );
    for &conns in &opts.conns {
        for &size in &opts.sizes {
            let mut runs: Vec<Vec<Option<Run>>> = vec![Vec::new(); opts.kinds.len()];
            for round in 0..opts.rounds {
                for i in 0..opts.kinds.len() {
                    let k = (i + round) % opts.kinds.len();
                    let kind = opts.kinds[k];
                    let port = port_for(opts, kind, false);
                    let mut best: Option<Run> = None;
                    for attempt in 1..=opts.attempts {
                        wait_quiet(opts, cpus);
                        let result =
                            Server::start(bins, kind, port, cpus.server).and_then(|server| {
                                let r = run_load(bins, opts, port, conns, size, &server, cpus);
                                drop(server);
                                r
                            });
                        let label = format!(
                            "  {conns:>3} x {size:>5} B  round {} try {attempt}  {:<5}",
                            round + 1,
                            kind.name()
                        );
                        match result {
                            Ok(r) => {
                                let disturbed = r.disturbance() > MAX_OTHER;
                                println!(
                                    "{label} {}{}",
                                    r.show(),
                                    if disturbed { "  DISTURBED" } else { "" }
                                );
                                if best.is_none_or(|b| r.disturbance() < b.disturbance()) {
                                    best = Some(r);
                                }
                                if !disturbed {
                                    break;
                                }
                            }
                            Err(e) => {
                                println!("{label} FAILED: {e}");
                                break;
                            }
                        }
                        let _ = io::stdout().flush();
                    }
                    runs[k].push(best);
                }
            }
            for (k, r) in runs.into_iter().enumerate() {
                results.push((conns, size, opts.kinds[k], r));
            }
        }
    }
    results
}

struct Verdict {
    what: String,
    met: bool,
}

fn print_throughput(results: &Results, opts: &Opts, verdicts: &mut Vec<Verdict>) {
    println!(
        "\n{:<14} {:<6} {:>9} {:>8} {:>8} {:>5}   {:<30} {:<30}",
        "config",
        "server",
        "msgs/s",
        "CPU µs",
        "sched µs",
        "util",
        "ours/x CPU per msg",
        "ours/x msgs/s"
    );
    println!("{}", "-".repeat(118));
    for &conns in &opts.conns {
        for &size in &opts.sizes {
            let cell = |kind: Kind| {
                results
                    .iter()
                    .find(|(c, s, k, _)| *c == conns && *s == size && *k == kind)
                    .map(|(_, _, _, runs)| runs.as_slice())
            };
            let ours = cell(Kind::Ours);
            let config = format!("{conns} x {size} B");
            for &kind in &opts.kinds {
                let runs: Vec<Run> = cell(kind)
                    .unwrap_or(&[])
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                if runs.is_empty() {
                    println!("{config:<14} {:<6} {:>9}", kind.name(), "failed");
                    continue;
                }
                let med = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
                let (rc, rm) = match (kind, ours) {
                    (Kind::Ours, _) | (_, None) => (None, None),
                    (_, Some(o)) => {
                        let x = cell(kind).unwrap_or(&[]);
                        (
                            Some(Ratio::of(o, x, |r| r.cpu_us)),
                            Some(Ratio::of(o, x, |r| r.msgs_per_s)),
                        )
                    }
                };
                let show = |r: &Option<Ratio>| r.as_ref().map_or(String::new(), Ratio::show);
                println!(
                    "{config:<14} {:<6} {:>9.0} {:>8.3} {:>8.3} {:>4.0}%   {:<30} {:<30}",
                    kind.name(),
                    med(|r| r.msgs_per_s),
                    med(|r| r.cpu_us),
                    med(|r| r.sched_us),
                    med(|r| r.util) * 100.0,
                    show(&rc),
                    show(&rm),
                );
                let Some(ratio) = rc.filter(|r| r.pairs > 0) else {
                    continue;
                };
                let (peer, limit) = match kind {
                    Kind::Mio => ("mio", 1.03),
                    Kind::Tokio => ("tokio", 1.0),
                    Kind::Ours => continue,
                };
                verdicts.push(Verdict {
                    what: format!(
                        "{config}: server CPU per message ours/{peer} {:.3}x <= {limit:.2}x \
                         (median of {} rounds' ratios; range {:.3}..{:.3})",
                        ratio.median, ratio.pairs, ratio.min, ratio.max
                    ),
                    met: ratio.median <= limit,
                });
            }
        }
    }
    println!(
        "(medians over {} rounds; ours/x: the median of each round's ratio ours/that server, \
         [min..max] over rounds, n = rounds where both ran)",
        opts.rounds
    );
}

/// ours/x over rounds: each round's ratio of the two runs of that round,
/// which saw the same state of the machine.
struct Ratio {
    median: f64,
    min: f64,
    max: f64,
    pairs: usize,
}

impl Ratio {
    fn of(ours: &[Option<Run>], other: &[Option<Run>], f: fn(&Run) -> f64) -> Ratio {
        let v: Vec<f64> = ours
            .iter()
            .zip(other)
            .filter_map(|(o, x)| Some(f(o.as_ref()?) / f(x.as_ref()?)))
            .collect();
        Ratio {
            median: median(v.clone()),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            pairs: v.len(),
        }
    }

    fn show(&self) -> String {
        if self.pairs == 0 {
            return "-".to_owned();
        }
        format!(
            "{:.3}x [{:.3}..{:.3}] n={}",
            self.median, self.min, self.max, self.pairs
        )
    }
}

/// Memory: RSS growth of the server for `n` idle connections, each having
/// echoed one 64-byte message.
struct Mem {
    kind: Kind,
    n: usize,
    before: u64,
    half: u64,
    after: u64,
}

fn memory(opts: &Opts, bins: &Bins, cpus: Cpus, kind: Kind, n: usize) -> Result<Mem, String> {
    let port = port_for(opts, kind, true);
    let server = Server::start(bins, kind, port, cpus.server)?;
    let pid = server.pid();
    let rss =
        || server_rss(pid).map_err(|e| format!("reading the {} server's VmRSS: {e}", kind.name()));
    std::thread::sleep(Duration::from_millis(300));
    let before = rss()?;
    let addr = tornado_bench::loopback(port);
    let mut conns = Vec::with_capacity(n);
    let mut half = before;
    for i in 0..n {
        let err = |e: io::Error| format!("idle connection {i} to the {} server: {e}", kind.name());
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(err)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(err)?;
        s.set_nodelay(true).map_err(err)?;
        let msg = [(i % 251) as u8; 64];
        s.write_all(&msg).map_err(err)?;
        let mut back = [0u8; 64];
        s.read_exact(&mut back).map_err(err)?;
        if back != msg {
            return Err(format!("connection {i}: corrupt echo"));
        }
        conns.push(s);
        if i + 1 == n / 2 {
            std::thread::sleep(Duration::from_millis(300));
            half = rss()?;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss()?;
    // Server first: its sockets close with it, then ours.
    drop(server);
    drop(conns);
    Ok(Mem {
        kind,
        n,
        before,
        half,
        after,
    })
}

fn server_rss(pid: u32) -> io::Result<u64> {
    tornado_bench::proc_status_bytes(pid, "VmRSS")
}

fn print_memory(mems: &[Mem], verdicts: &mut Vec<Verdict>) {
    println!(
        "\n{:<6} {:>7} {:>12} {:>12} {:>14} {:>16}",
        "server", "conns", "RSS before", "RSS after", "bytes/conn", "second half/conn"
    );
    println!("{}", "-".repeat(72));
    for m in mems {
        let per = (m.after as f64 - m.before as f64) / m.n as f64;
        let marginal = (m.after as f64 - m.half as f64) / (m.n - m.n / 2) as f64;
        println!(
            "{:<6} {:>7} {:>10} K {:>10} K {:>14.0} {:>16.0}",
            m.kind.name(),
            m.n,
            m.before / 1024,
            m.after / 1024,
            per,
            marginal
        );
        if m.kind == Kind::Ours {
            verdicts.push(Verdict {
                what: format!(
                    "{} idle connections: ours {per:.0} B/conn of RSS <= 1024",
                    m.n
                ),
                met: per <= 1024.0,
            });
        }
    }
    println!(
        "(VmRSS of the server process, user space only: kernel socket buffers are not in it; \
         second half/conn = growth from n/2 to n connections over n/2, without one-off costs)"
    );
}

/// The version of `name` in the workspace's Cargo.lock, as built.
fn locked_version(name: &str) -> &'static str {
    const LOCK: &str = include_str!("../../../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.find(&needle)
        .and_then(|i| LOCK[i + needle.len()..].split('"').next())
        .unwrap_or("?")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn main() {
    let opts = parse_args();
    let bins = Bins::find(&opts.bin_dir).unwrap_or_else(|e| {
        eprintln!("echo_bench: {e}");
        std::process::exit(1)
    });
    let allowed = tornado_bench::allowed_cpus();
    let cpus = Cpus {
        server: allowed.first().copied(),
        load: allowed.get(1).or(allowed.first()).copied(),
    };
    if let Some(c) = cpus.load {
        // The driver mostly sleeps; keep it off the server's CPU anyway.
        let _ = tornado_bench::pin_to(c);
    }
    let limits = tornado_bench::raise_nofile();
    println!(
        "echo_bench: echo_server example vs raw mio {} vs tokio {} current_thread",
        locked_version("mio"),
        locked_version("tokio")
    );
    println!(
        "  cpus: allowed {allowed:?}, {}; kernel {}",
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    );
    println!(
        "  pinning: servers on cpu {}, echo_load and this driver on cpu {}",
        cpus.server.map_or("-".into(), |c| c.to_string()),
        cpus.load.map_or("-".into(), |c| c.to_string())
    );
    if cpus.server == cpus.load {
        println!("  WARNING: fewer than two CPUs allowed: server and load share one");
    }
    println!(
        "  RLIMIT_NOFILE (soft, hard) after raising: {limits:?}; clock ticks/s {}",
        tornado_bench::clock_ticks_per_sec()
    );
    println!("  loadavg at start: {}", tornado_bench::loadavg());

    let mut verdicts = Vec::new();
    if opts.throughput {
        let results = throughput(&opts, &bins, cpus);
        print_throughput(&results, &opts, &mut verdicts);
    }
    if opts.memory {
        let mut n = opts.idle;
        if let Ok((soft, _)) = limits {
            // Room for the driver's own fds, and the server needs as many.
            let room = (soft as usize).saturating_sub(64);
            if n > room {
                println!("\nWARNING: RLIMIT_NOFILE {soft} allows {room} idle connections, not {n}");
                n = room;
            }
        }
        println!("\nmemory: {n} idle connections per server, each after one 64-byte echo");
        let mut mems = Vec::new();
        for &kind in &opts.kinds {
            match memory(&opts, &bins, cpus, kind, n) {
                Ok(m) => mems.push(m),
                Err(e) => println!("  {} FAILED: {e}", kind.name()),
            }
        }
        print_memory(&mems, &mut verdicts);
    }
    println!("\n  loadavg at end: {}", tornado_bench::loadavg());
    if !verdicts.is_empty() {
        println!("\ntargets:");
        for v in &verdicts {
            println!("  {:<7} {}", if v.met { "met" } else { "MISSED" }, v.what);
        }
    }
}
