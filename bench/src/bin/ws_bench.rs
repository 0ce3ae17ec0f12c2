//! The WebSocket echo benchmark's driver: the `websocket_echo` example
//! against tokio-tungstenite on tokio current_thread (`ws_peer`), under
//! the same load generator (`ws_load`).
//!
//!     cargo build --release --example websocket_echo
//!     cargo build --release -p tornado-bench --bin ws_peer --bin ws_load --bin ws_bench
//!     target/release/ws_bench [--rounds R (5)] [--secs T (2)] [--conns 10,100] [--sizes 64,16384]
//!
//! Each server runs pinned to the first allowed CPU, the load generator to
//! the second. Each round runs both servers back to back (in alternating
//! order) for every connection count and size; the table shows the median
//! over the rounds of messages/s and of server CPU per message (schedstat
//! ns of all the server's threads during the measured window), and the
//! ratio ours / tungstenite (CPU: lower is better). Messages are binary,
//! uncompressed, one in flight per connection.

use std::io;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    Tungstenite,
    /// Python Tornado 6 (`bench/tornado_ws_echo.py`), when installed.
    Tornado,
}

/// True if `python3` can import tornado.
fn tornado_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import tornado"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Opts {
    rounds: usize,
    secs: f64,
    conns: Vec<usize>,
    sizes: Vec<usize>,
    port: u16,
    bin_dir: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: ws_bench [--rounds R (5)] [--secs T (2)] [--conns 10,100] [--sizes 64,16384]\n\
         \x20               [--port P (19300)] [--bin-dir DIR (this binary's dir)]"
    );
    std::process::exit(2)
}

fn list(s: &str) -> Vec<usize> {
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
        conns: vec![10, 100],
        sizes: vec![64, 16384],
        port: 19300,
        bin_dir: exe_dir,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--rounds" => o.rounds = v.parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = v.parse().unwrap_or_else(|_| usage()),
            "--conns" => o.conns = list(&v),
            "--sizes" => o.sizes = list(&v),
            "--port" => o.port = v.parse().unwrap_or_else(|_| usage()),
            "--bin-dir" => o.bin_dir = PathBuf::from(v),
            _ => usage(),
        }
    }
    o
}

/// Runs `cmd` pinned to `cpu`, dying with this process.
fn pinned(cmd: &mut Command, cpu: Option<usize>) {
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe system calls (sched_setaffinity, setrlimit, prctl).
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

/// A running server, killed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(kind: Kind, o: &Opts, cpu: Option<usize>) -> io::Result<Server> {
    let port = o.port.to_string();
    let mut cmd = match kind {
        Kind::Ours => {
            let mut c = Command::new(o.bin_dir.join("examples/websocket_echo"));
            c.args(["--port", &port]);
            c
        }
        Kind::Tungstenite => {
            let mut c = Command::new(o.bin_dir.join("ws_peer"));
            c.args(["--port", &port]);
            c
        }
        Kind::Tornado => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tornado_ws_echo.py");
            let mut c = Command::new("python3");
            c.arg(script).args(["--port", &port]);
            c
        }
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    pinned(&mut cmd, cpu);
    let server = Server(cmd.spawn()?);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", o.port)).is_err() {
        if Instant::now() > deadline {
            return Err(io::Error::other("server did not start listening"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

/// One measured run: (messages/s, server CPU ns per message).
fn run_once(
    kind: Kind,
    conns: usize,
    size: usize,
    o: &Opts,
    cpus: (Option<usize>, Option<usize>),
) -> io::Result<(f64, f64)> {
    let server = start(kind, o, cpus.0)?;
    let mut cmd = Command::new(o.bin_dir.join("ws_load"));
    cmd.args([
        "--port",
        &o.port.to_string(),
        "--conns",
        &conns.to_string(),
        "--size",
        &size.to_string(),
        "--secs",
        &o.secs.to_string(),
        "--server-pid",
        &server.0.id().to_string(),
    ]);
    pinned(&mut cmd, cpus.1);
    let out = cmd.stderr(Stdio::inherit()).output()?;
    drop(server);
    if !out.status.success() {
        return Err(io::Error::other("ws_load failed"));
    }
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| -> io::Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {k} in {line:?}")))
    };
    Ok((field("msgs_per_sec")?, field("cpu_ns_per_msg")?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let o = parse_args();
    let cpus = tornado_bench::allowed_cpus();
    let pins = (cpus.first().copied(), cpus.get(1).copied());
    if pins.1.is_none() {
        eprintln!("ws_bench: fewer than two CPUs: server and load share one (figures are rough)");
    }
    let python = tornado_installed();
    if !python {
        eprintln!("(python3 with tornado not found: skipping Tornado; pip install tornado)");
    }
    println!(
        "ws_bench: websocket_echo example vs tokio-tungstenite (tokio current_thread){}; {} rounds of {} s",
        if python { " and Python Tornado" } else { "" },
        o.rounds,
        o.secs
    );
    print!(
        "| conns | size | ours msg/s | tungstenite msg/s | ours ns CPU/msg | tungstenite ns CPU/msg | CPU ratio |"
    );
    println!(
        "{}",
        if python {
            " tornado msg/s | tornado ns CPU/msg |"
        } else {
            ""
        }
    );
    println!(
        "|---|---|---|---|---|---|---|{}",
        if python { "---|---|" } else { "" }
    );
    for &conns in &o.conns {
        for &size in &o.sizes {
            let (mut ours, mut theirs, mut py) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..o.rounds {
                let mut order = if round % 2 == 0 {
                    vec![Kind::Ours, Kind::Tungstenite]
                } else {
                    vec![Kind::Tungstenite, Kind::Ours]
                };
                if python {
                    order.push(Kind::Tornado);
                }
                for kind in order {
                    let r = run_once(kind, conns, size, &o, pins).unwrap_or_else(|e| {
                        eprintln!("ws_bench: run failed: {e}");
                        std::process::exit(1);
                    });
                    match kind {
                        Kind::Ours => ours.push(r),
                        Kind::Tungstenite => theirs.push(r),
                        Kind::Tornado => py.push(r),
                    }
                }
            }
            let m = |v: &[(f64, f64)], i: usize| {
                median(v.iter().map(|r| if i == 0 { r.0 } else { r.1 }).collect())
            };
            let (orate, trate, ocpu, tcpu) =
                (m(&ours, 0), m(&theirs, 0), m(&ours, 1), m(&theirs, 1));
            print!(
                "| {conns} | {size} | {orate:.0} | {trate:.0} | {ocpu:.0} | {tcpu:.0} | {:.2} |",
                ocpu / tcpu
            );
            if python {
                print!(" {:.0} | {:.0} |", m(&py, 0), m(&py, 1));
            }
            println!();
        }
    }
}
