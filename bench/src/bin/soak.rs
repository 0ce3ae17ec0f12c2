//! `soak`: holds thousands of connections against one example server for
//! minutes, mixing idle, keep-alive, slow, reset and half-closed
//! connections, checks every answer, and samples the server's RSS, fds and
//! CPU (see bench/README.md, "Soak and faults"). With `--fault emfile` it
//! runs the server under an fd limit it exhausts instead, and checks that
//! the server keeps serving and recovers.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tornado_bench::soak::load::Load;
use tornado_bench::soak::proto::{self, Expect, Kind, Progress};
use tornado_bench::soak::{Sampler, Server, level_and_deviation, proc_fds};
use tornado_bench::{clock_ticks_per_sec, proc_cpu_ticks, proc_status_bytes, raise_nofile};

/// The command line.
struct Args {
    kind: Kind,
    server: Option<PathBuf>,
    server_args: Vec<String>,
    server_nofile: Option<u64>,
    port: u16,
    conns: usize,
    duration: Duration,
    warmup: Duration,
    sample: Duration,
    ramp: usize,
    out: PathBuf,
    tag: String,
    fault: Option<String>,
    /// Largest deviation of RSS and fds from their level that passes, %.
    max_dev: f64,
}

const USAGE: &str = "usage: soak --kind echo|hello|ws [--server PATH] [--server-arg ARG]... \
    [--server-nofile N] [--port P] [--conns N] [--duration 10m] [--warmup 60s] [--sample 10s] \
    [--ramp PER_SEC] [--out DIR] [--tag NAME] [--max-dev PCT] [--fault emfile]";

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        kind: Kind::Echo,
        server: None,
        server_args: Vec::new(),
        server_nofile: None,
        port: 19300,
        conns: 10_000,
        duration: Duration::from_secs(600),
        warmup: Duration::from_secs(60),
        sample: Duration::from_secs(10),
        ramp: 1000,
        out: PathBuf::from("bench/results"),
        tag: String::new(),
        fault: None,
        max_dev: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut v = || it.next().ok_or(format!("{arg} takes a value; {USAGE}"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--kind" => {
                let k = v()?;
                a.kind = Kind::parse(&k).ok_or(format!("unknown kind {k}; {USAGE}"))?;
            }
            "--server" => a.server = Some(v()?.into()),
            "--server-arg" => a.server_args.push(v()?),
            "--server-nofile" => a.server_nofile = Some(num(v()?)?),
            "--port" => a.port = num(v()?)? as u16,
            "--conns" => a.conns = num(v()?)? as usize,
            "--duration" => a.duration = parse_duration(&v()?)?,
            "--warmup" => a.warmup = parse_duration(&v()?)?,
            "--sample" => a.sample = parse_duration(&v()?)?,
            "--ramp" => a.ramp = num(v()?)? as usize,
            "--out" => a.out = v()?.into(),
            "--tag" => a.tag = v()?,
            "--fault" => a.fault = Some(v()?),
            "--max-dev" => a.max_dev = v()?.parse().map_err(|e| format!("--max-dev: {e}"))?,
            _ => return Err(format!("unknown argument {arg}; {USAGE}")),
        }
    }
    Ok(a)
}

/// The example binary next to this one: target/release/examples/NAME.
fn default_server(kind: Kind) -> PathBuf {
    let name = match kind {
        Kind::Echo => "echo_server",
        Kind::Http => "hello",
        Kind::Ws => "websocket_echo",
    };
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .unwrap_or(Path::new("."))
        .join("examples")
        .join(name)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.fault.as_deref() {
        None => soak(&args),
        Some("emfile") => emfile(&args),
        Some(f) => Err(io::Error::other(format!("unknown fault {f}; {USAGE}"))),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}

/// The base name of this run's files.
fn run_name(args: &Args) -> String {
    let mut name = format!("soak-{}", args.kind.name());
    if !args.tag.is_empty() {
        name.push('-');
        name.push_str(&args.tag);
    }
    name
}

/// Where the server's output goes.
fn server_log(args: &Args) -> PathBuf {
    std::env::temp_dir().join(format!("{}-server.log", run_name(args)))
}

fn start_server(args: &Args, nofile: Option<u64>) -> io::Result<Server> {
    let program = args
        .server
        .clone()
        .unwrap_or_else(|| default_server(args.kind));
    let log = server_log(args);
    println!("server: {} (log {})", program.display(), log.display());
    Server::start(&program, args.port, &args.server_args, nofile, &log)
}

/// The server's error and warning lines (`[E ...`, `[W ...`), and the
/// first few distinct messages (without their time stamps).
fn log_lines(args: &Args) -> (usize, usize, Vec<String>) {
    let text = std::fs::read_to_string(server_log(args)).unwrap_or_default();
    let (mut errors, mut warnings) = (0, 0);
    let mut seen: Vec<String> = Vec::new();
    for line in text.lines() {
        match line.get(..3) {
            Some("[E ") => errors += 1,
            Some("[W ") => warnings += 1,
            _ => continue,
        }
        // "[E 2026-12-01T16:57:52Z target] message": drop the time.
        let msg = match line.split_once("Z ") {
            Some((level, rest)) => format!("{} {rest}", &level[..2]),
            None => line.to_owned(),
        };
        if seen.len() < 5 && !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    (errors, warnings, seen)
}

/// Waits until the server's fd count is at most `level`; returns the last
/// count seen and how long it took.
fn wait_fds(pid: u32, level: usize, limit: Duration) -> (usize, Duration) {
    let start = Instant::now();
    loop {
        let fds = proc_fds(pid).unwrap_or(usize::MAX);
        if fds <= level || start.elapsed() > limit {
            return (fds, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The soak proper; true if it passed.
fn soak(args: &Args) -> io::Result<bool> {
    let (soft, _) = raise_nofile()?;
    if (soft as usize) < args.conns + 100 {
        return Err(io::Error::other(format!(
            "fd limit {soft} is too low for {} connections",
            args.conns
        )));
    }
    let mut server = start_server(args, args.server_nofile)?;
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(500));
    let idle_fds = proc_fds(pid)?;
    let idle_rss = proc_status_bytes(pid, "VmRSS")? / 1024;
    println!(
        "{}: pid {pid}, idle {idle_fds} fds, {idle_rss} KiB RSS; {} connections for {:?}",
        run_name(args),
        args.conns,
        args.duration
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut load = Load::new(args.kind, addr, args.conns, args.ramp)?;
    let mut sampler = Sampler::new(pid);
    let mut next = Instant::now();
    let end = Instant::now() + args.duration;
    let mut sample_error = None;
    load.run_until(end, |l| {
        if Instant::now() < next || sample_error.is_some() {
            return;
        }
        next += args.sample;
        let st = &l.stats;
        match sampler.sample(l.open(), st.answers, st.wrong + st.failures) {
            Ok(s) => println!(
                "t={:5.0}s rss={:7} KiB fds={:6} cpu={:5.1}% conns={:6} answers={:9} errors={} resets={} half-closes={}",
                s.t, s.rss_kib, s.fds, s.cpu_pct, s.conns, s.answers, s.errors, st.resets, st.half_closes
            ),
            Err(e) => sample_error = Some(e),
        }
    })?;
    if let Some(e) = sample_error {
        return Err(io::Error::other(format!(
            "sampling the server failed (did it die?): {e}"
        )));
    }
    let stats = load.stats.clone();
    load.close_all();
    drop(load);
    let fresh = fresh_exchange(args.kind, addr);
    let (end_fds, drain) = wait_fds(pid, idle_fds, Duration::from_secs(30));
    let alive = server.alive();
    drop(server);
    let (log_errors, log_warnings, log_seen) = log_lines(args);

    std::fs::create_dir_all(&args.out)?;
    let csv = args.out.join(format!("{}.csv", run_name(args)));
    sampler.write_csv(&csv)?;
    let after: Vec<_> = sampler
        .samples
        .iter()
        .filter(|s| s.t >= args.warmup.as_secs_f64())
        .collect();
    let rss: Vec<f64> = after.iter().map(|s| s.rss_kib as f64).collect();
    let fds: Vec<f64> = after.iter().map(|s| s.fds as f64).collect();
    let cpu: Vec<f64> = after.iter().map(|s| s.cpu_pct).collect();
    let (rss_level, rss_dev) = level_and_deviation(&rss);
    let (fds_level, fds_dev) = level_and_deviation(&fds);
    let cpu_mean = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
    let cpu_max = cpu.iter().copied().fold(0.0, f64::max);
    let open: Vec<usize> = after.iter().map(|s| s.conns).collect();
    let open_mean = open.iter().sum::<usize>() as f64 / open.len().max(1) as f64;
    let open_min = open.iter().copied().min().unwrap_or(0);
    let flat = !after.is_empty() && rss_dev <= args.max_dev && fds_dev <= args.max_dev;
    let errors = stats.wrong + stats.failures;
    let pass =
        flat && errors == 0 && fresh.is_ok() && end_fds <= idle_fds && alive && log_errors == 0;
    let report = format!(
        "{name}: {conns} connections, {dur:?}, samples every {every:?} ({n} after the first {warm:?})\n\
         idle before load: {idle_fds} fds, {idle_rss} KiB RSS\n\
         client connections open: mean {open_mean:.0}, min {open_min}\n\
         RSS level {rss_level:.0} KiB, max deviation {rss_dev:.2}% (bound {max_dev}%)\n\
         fds level {fds_level:.0}, max deviation {fds_dev:.2}%\n\
         server CPU: mean {cpu_mean:.1}%, max {cpu_max:.1}% of one core\n\
         answers checked: {answers}, wrong: {wrong}, failures: {failures}; connects {connects} \
         (errors {cerr}), resets sent {resets}, half-closes {hc}\n\
         fresh request at the end: {fresh}\n\
         fds after the load: {end_fds} after {drain:.1?} (idle level {idle_fds})\n\
         server alive: {alive}\n\
         server log: {log_errors} error line(s), {log_warnings} warning line(s) {log_seen:?}\n\
         RESULT: {verdict}\n",
        name = run_name(args),
        max_dev = args.max_dev,
        conns = args.conns,
        dur = args.duration,
        every = args.sample,
        n = after.len(),
        warm = args.warmup,
        answers = stats.answers,
        wrong = stats.wrong,
        failures = stats.failures,
        connects = stats.connects,
        cerr = stats.connect_errors,
        resets = stats.resets,
        hc = stats.half_closes,
        fresh = match &fresh {
            Ok(()) => "answered right".to_owned(),
            Err(e) => format!("FAILED: {e}"),
        },
        verdict = if pass { "PASS" } else { "FAIL" },
    );
    print!("{report}");
    for m in &stats.messages {
        println!("  error: {m}");
    }
    std::fs::write(args.out.join(format!("{}.txt", run_name(args))), &report)?;
    println!("samples: {}", csv.display());
    Ok(pass)
}

/// One exchange on a fresh blocking connection (after the WebSocket
/// upgrade for `ws`).
fn fresh_exchange(kind: Kind, addr: SocketAddr) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut steps = Vec::new();
    if kind == Kind::Ws {
        steps.push(proto::ws_upgrade(usize::MAX / 2, 1));
    }
    steps.push(proto::exchange(kind, usize::MAX / 2, 2, 1000));
    for (req, mut exp) in steps {
        s.write_all(&req).map_err(|e| e.to_string())?;
        read_answer(&mut s, &mut exp)?;
    }
    Ok(())
}

/// Reads until `exp` is complete (blocking, with the socket's timeout).
fn read_answer(s: &mut TcpStream, exp: &mut Expect) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed before answering".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        match exp.check(&buf).map_err(|m| m.0)? {
            Progress::Done(_) => return Ok(()),
            Progress::More(k) => {
                buf.drain(..k);
            }
        }
    }
}

/// One connection of the fd-exhaustion run: its answer is read without
/// blocking, so that unanswered ones can wait side by side.
struct Probe {
    s: TcpStream,
    exp: Option<Expect>,
    buf: Vec<u8>,
}

impl Probe {
    /// Reads what is there; true once the answer is complete.
    fn poll(&mut self) -> Result<bool, String> {
        let Some(exp) = self.exp.as_mut() else {
            return Ok(true);
        };
        let mut chunk = [0u8; 16384];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return Err("server closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        match exp.check(&self.buf).map_err(|m| m.0)? {
            Progress::Done(n) => {
                self.buf.drain(..n);
                self.exp = None;
                Ok(true)
            }
            Progress::More(n) => {
                self.buf.drain(..n);
                Ok(false)
            }
        }
    }

    fn send(&mut self, req: &[u8], exp: Expect) -> io::Result<()> {
        self.s.set_nonblocking(false)?;
        self.s.write_all(req)?;
        self.s.set_nonblocking(true)?;
        self.exp = Some(exp);
        Ok(())
    }
}

/// Polls `probes` until all are answered or `limit` passes; returns how
/// many are answered, and the errors.
fn wait_answers(probes: &mut [Probe], limit: Duration) -> (usize, Vec<String>) {
    let start = Instant::now();
    loop {
        let mut done = 0;
        let mut errors = Vec::new();
        for (i, p) in probes.iter_mut().enumerate() {
            match p.poll() {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => errors.push(format!("connection {i}: {e}")),
            }
        }
        if done + errors.len() == probes.len() || start.elapsed() > limit {
            return (done, errors);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first exchange of a connection: the upgrade for `ws`, else a message.
fn first_exchange(kind: Kind, i: usize) -> (Vec<u8>, Expect) {
    if kind == Kind::Ws {
        proto::ws_upgrade(i, 0)
    } else {
        proto::exchange(kind, i, 0, 64)
    }
}

/// The fd-exhaustion run; true if it passed.
fn emfile(args: &Args) -> io::Result<bool> {
    raise_nofile()?;
    let limit = args.server_nofile.unwrap_or(256);
    let conns = if args.conns == 10_000 {
        400
    } else {
        args.conns
    };
    let mut server = start_server(args, Some(limit))?;
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(500));
    let idle_fds = proc_fds(pid)?;
    println!(
        "{}: pid {pid}, fd limit {limit}, idle {idle_fds} fds; opening {conns} connections",
        run_name(args)
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut probes = Vec::with_capacity(conns);
    for i in 0..conns {
        // The kernel completes the handshake from its backlog even when
        // the server cannot accept: connect succeeds either way.
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        let mut p = Probe {
            s,
            exp: None,
            buf: Vec::new(),
        };
        let (req, exp) = first_exchange(args.kind, i);
        p.send(&req, exp)?;
        probes.push(p);
    }
    let (served, errs) = wait_answers(&mut probes, Duration::from_secs(5));
    let exhausted_fds = proc_fds(pid)?;
    println!(
        "answered {served} of {conns} ({} errors); server holds {exhausted_fds} fds",
        errs.len()
    );
    // While out of fds the server must not spin.
    let t0 = proc_cpu_ticks(pid)?;
    std::thread::sleep(Duration::from_secs(5));
    let cpu = (proc_cpu_ticks(pid)? - t0) as f64 / clock_ticks_per_sec() as f64 / 5.0 * 100.0;
    println!("server CPU while exhausted: {cpu:.1}%");
    // The connections it has are still served.
    let answered: Vec<usize> = (0..conns).filter(|&i| probes[i].exp.is_none()).collect();
    for (k, &i) in answered.iter().enumerate() {
        let (req, exp) = proto::exchange(args.kind, i, 1 + k as u64, 512);
        probes[i].send(&req, exp)?;
    }
    let mut again: Vec<Probe> = Vec::new();
    let mut waiting: Vec<Probe> = Vec::new();
    for (i, p) in probes.into_iter().enumerate() {
        if answered.contains(&i) {
            again.push(p);
        } else {
            waiting.push(p);
        }
    }
    let (kept, kept_errs) = wait_answers(&mut again, Duration::from_secs(10));
    println!(
        "connections it had, asked again: {kept} of {} answered ({} errors)",
        again.len(),
        kept_errs.len()
    );
    // Free fds: close enough served connections for every waiting one.
    let free = (waiting.len() + 20).min(again.len());
    again.truncate(again.len() - free);
    let t_free = Instant::now();
    let (recovered, rec_errs) = wait_answers(&mut waiting, Duration::from_secs(15));
    let recovery = t_free.elapsed();
    println!(
        "closed {free}: {recovered} of {} waiting connections answered in {recovery:.2?} ({} errors)",
        waiting.len(),
        rec_errs.len()
    );
    let fresh = fresh_exchange(args.kind, addr);
    drop(again);
    drop(waiting);
    let (end_fds, drain) = wait_fds(pid, idle_fds, Duration::from_secs(15));
    let alive = server.alive();
    drop(server);
    let (log_errors, log_warnings, log_seen) = log_lines(args);
    let exhausted = served < conns;
    let pass = exhausted
        && errs.is_empty()
        && cpu < 20.0
        && kept == answered.len()
        && kept_errs.is_empty()
        && recovered == conns - answered.len()
        && rec_errs.is_empty()
        && fresh.is_ok()
        && end_fds <= idle_fds
        && alive
        && log_errors == 0;
    let report = format!(
        "{name}: fd limit {limit}, {conns} connections\n\
         answered while exhausted: {served} (limit reached: {exhausted}), server fds {exhausted_fds}\n\
         server CPU while exhausted: {cpu:.1}% of one core\n\
         served connections asked again: {kept} of {n_again} answered\n\
         after closing {free}: {recovered} of {n_wait} waiting answered in {recovery:.2?}\n\
         fresh request: {fresh:?}\n\
         fds after: {end_fds} after {drain:.1?} (idle level {idle_fds}); server alive: {alive}\n\
         errors: {all_errs:?}\n\
         server log: {log_errors} error line(s), {log_warnings} warning line(s) {log_seen:?}\n\
         RESULT: {verdict}\n",
        name = run_name(args),
        n_again = answered.len(),
        n_wait = conns - answered.len(),
        all_errs = errs
            .iter()
            .chain(&kept_errs)
            .chain(&rec_errs)
            .take(10)
            .collect::<Vec<_>>(),
        verdict = if pass { "PASS" } else { "FAIL" },
    );
    print!("{report}");
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join(format!("{}.txt", run_name(args))), &report)?;
    Ok(pass)
}
