//! The echo benchmark's load generator: a raw mio client on one thread.
//!
//!     echo_load --port P --conns N --size S [--warmup-ms W] [--secs T]
//!               [--server-pid PID] [--server-cpu C] [--load-cpu C]
//!
//! Opens N connections to 127.0.0.1:P; each keeps exactly one message of S
//! bytes in flight: send it, wait for the whole echo, check its length and
//! content, send the next. After W ms of warm-up it counts the messages
//! echoed during T seconds. With `--server-pid` it reads the server's CPU
//! time (utime + stime of `/proc/<pid>/stat`, and the schedstat nanoseconds
//! as a cross-check) at the very start and end of that window, and with
//! `--server-cpu` that CPU's counters from `/proc/stat`, so that the window
//! of the counts and of the CPU times is the same. With `--load-cpu` (the
//! CPU it runs on) it also reports how much of that CPU other processes
//! took (a disturbed client makes a slower, more batched run).
//!
//! Prints one line, `result key=value ...`, and exits 0; any error (a short,
//! long or corrupt echo, a closed connection, no progress for 5 s) exits 1.
//! It does not pin itself: `echo_bench` starts it pinned.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// No echo completing for this long is an error (a stuck server).
const STALL: Duration = Duration::from_secs(5);

struct Args {
    port: u16,
    conns: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
    server_pid: Option<u32>,
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
}

fn parse_args() -> Args {
    let mut a = Args {
        port: 0,
        conns: 10,
        size: 64,
        warmup: Duration::from_millis(1000),
        window: Duration::from_secs(4),
        server_pid: None,
        server_cpu: None,
        load_cpu: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> String { it.next().unwrap_or_else(|| usage()) };
        match flag.as_str() {
            "--port" => a.port = num(&value()),
            "--conns" => a.conns = num(&value()),
            "--size" => a.size = num(&value()),
            "--warmup-ms" => a.warmup = Duration::from_millis(num(&value())),
            "--secs" => a.window = Duration::from_secs_f64(num(&value())),
            "--server-pid" => a.server_pid = Some(num(&value())),
            "--server-cpu" => a.server_cpu = Some(num(&value())),
            "--load-cpu" => a.load_cpu = Some(num(&value())),
            _ => usage(),
        }
    }
    if a.port == 0 || a.conns == 0 || a.size == 0 || a.window.is_zero() {
        usage();
    }
    a
}

fn num<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_load --port P --conns N --size S [--warmup-ms W] [--secs T] \
         [--server-pid PID] [--server-cpu C] [--load-cpu C]"
    );
    std::process::exit(2)
}

fn fail(msg: String) -> ! {
    eprintln!("echo_load: {msg}");
    std::process::exit(1)
}

/// One client connection with its message in flight.
struct Conn {
    stream: TcpStream,
    /// The message being echoed; its first 8 bytes are its sequence number
    /// (so a stale or repeated echo is caught), the rest a pattern that
    /// differs between connections.
    msg: Vec<u8>,
    sent: usize,
    received: usize,
    seq: u64,
    writable: bool,
    readable: bool,
}

impl Conn {
    fn new(stream: TcpStream, id: usize, size: usize) -> Conn {
        let msg = (0..size)
            .map(|i| (i.wrapping_mul(31) ^ id.wrapping_mul(7)) as u8)
            .collect();
        let mut c = Conn {
            stream,
            msg,
            sent: 0,
            received: 0,
            seq: 0,
            writable: true,
            readable: true,
        };
        c.stamp();
        c
    }

    /// Writes the sequence number into the message.
    fn stamp(&mut self) {
        let seq = self.seq.to_le_bytes();
        let n = seq.len().min(self.msg.len());
        self.msg[..n].copy_from_slice(&seq[..n]);
    }

    /// Sends what is left of the message.
    fn send(&mut self) -> io::Result<()> {
        while self.writable && self.sent < self.msg.len() {
            match self.stream.write(&self.msg[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until the socket is empty, checking the echo; returns how many
    /// whole messages completed (each completion sends the next).
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<u64> {
        let mut done = 0;
        while self.readable {
            match self.stream.read(buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => {
                    let got = &buf[..n];
                    let end = self.received + n;
                    if end > self.sent {
                        return Err(io::Error::other(format!(
                            "echo longer than the message: {end} bytes back, {} sent",
                            self.sent
                        )));
                    }
                    if got != &self.msg[self.received..end] {
                        return Err(io::Error::other(format!(
                            "corrupt echo of message {} at bytes {}..{end}",
                            self.seq, self.received
                        )));
                    }
                    self.received = end;
                    if self.received == self.msg.len() {
                        done += 1;
                        self.seq += 1;
                        self.stamp();
                        self.sent = 0;
                        self.received = 0;
                        self.send()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// What is read at both ends of the measured window.
struct Sample {
    at: Instant,
    server_ticks: Option<u64>,
    server_sched_ns: Option<u64>,
    cpu: Option<tornado_bench::CpuTicks>,
    load_cpu: Option<tornado_bench::CpuTicks>,
    /// This process's own CPU time (it runs on the load CPU), ns.
    own_ns: u64,
}

fn sample(args: &Args) -> Sample {
    let server_ticks = args
        .server_pid
        .map(|p| tornado_bench::proc_cpu_ticks(p).unwrap_or_else(|e| fail(format!("{e}"))));
    let server_sched_ns = args
        .server_pid
        .and_then(|p| tornado_bench::proc_sched_ns(p).ok());
    let cpu = args
        .server_cpu
        .and_then(|c| tornado_bench::cpu_ticks(c).ok());
    let load_cpu = args.load_cpu.and_then(|c| tornado_bench::cpu_ticks(c).ok());
    let own_ns = tornado_bench::proc_sched_ns(std::process::id()).unwrap_or(0);
    Sample {
        at: Instant::now(),
        server_ticks,
        server_sched_ns,
        cpu,
        load_cpu,
        own_ns,
    }
}

fn main() {
    let args = parse_args();
    if let Err(e) = tornado_bench::raise_nofile() {
        eprintln!("echo_load: cannot raise RLIMIT_NOFILE: {e}");
    }
    let addr = tornado_bench::loopback(args.port);
    let mut poll = Poll::new().unwrap_or_else(|e| fail(format!("poll: {e}")));
    let mut events = Events::with_capacity(1024);
    let mut conns = Vec::with_capacity(args.conns);
    for id in 0..args.conns {
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| fail(format!("connect to {addr}: {e}")));
        s.set_nodelay(true)
            .and_then(|()| s.set_nonblocking(true))
            .unwrap_or_else(|e| fail(format!("socket options: {e}")));
        let mut stream = TcpStream::from_std(s);
        poll.registry()
            .register(
                &mut stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap_or_else(|e| fail(format!("register: {e}")));
        conns.push(Conn::new(stream, id, args.size));
    }
    let mut buf = vec![0u8; args.size.max(64 * 1024)];
    for (id, c) in conns.iter_mut().enumerate() {
        c.send()
            .unwrap_or_else(|e| fail(format!("connection {id}: {e}")));
    }

    let start = Instant::now();
    let window_start = start + args.warmup;
    let window_end = window_start + args.window;
    let mut begin: Option<Sample> = None;
    let mut counted: u64 = 0;
    let mut total: u64 = 0;
    let mut last_progress = Instant::now();
    let end = loop {
        let now = Instant::now();
        if begin.is_none() && now >= window_start {
            begin = Some(sample(&args));
            counted = 0;
        }
        if now >= window_end {
            break sample(&args);
        }
        if now.duration_since(last_progress) > STALL {
            fail(format!(
                "no echo for {STALL:?} ({total} messages echoed so far)"
            ));
        }
        let next = if begin.is_none() {
            window_start
        } else {
            window_end
        };
        let timeout = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => fail(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let id = ev.token().0;
            let c = &mut conns[id];
            if ev.is_writable() || ev.is_error() {
                c.writable = true;
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                c.readable = true;
            }
            let done = c
                .send()
                .and_then(|()| c.receive(&mut buf))
                .unwrap_or_else(|e| fail(format!("connection {id}: {e}")));
            if done > 0 {
                counted += done;
                total += done;
                last_progress = Instant::now();
            }
        }
    };
    let begin = begin.expect("the window started before it ended");
    let secs = (end.at - begin.at).as_secs_f64();
    let ticks = clock_ticks();
    let mut line = format!(
        "result msgs={counted} window_s={secs:.4} msgs_per_s={:.1}",
        counted as f64 / secs
    );
    if let (Some(a), Some(b)) = (begin.server_ticks, end.server_ticks) {
        line += &format!(
            " server_cpu_ticks={} server_cpu_s={:.4}",
            b - a,
            (b - a) as f64 / ticks
        );
    }
    if let (Some(a), Some(b)) = (begin.server_sched_ns, end.server_sched_ns) {
        line += &format!(" server_sched_s={:.4}", (b - a) as f64 / 1e9);
    }
    if let (Some(a), Some(b)) = (begin.cpu, end.cpu) {
        line += &format!(
            " cpu_busy_s={:.4} cpu_irq_s={:.4} cpu_steal_s={:.4} cpu_idle_s={:.4}",
            (b.busy - a.busy) as f64 / ticks,
            (b.irq - a.irq) as f64 / ticks,
            (b.steal - a.steal) as f64 / ticks,
            (b.idle - a.idle) as f64 / ticks
        );
    }
    if let (Some(a), Some(b)) = (begin.load_cpu, end.load_cpu) {
        line += &format!(
            " load_cpu_busy_s={:.4} load_cpu_irq_s={:.4} load_self_s={:.4}",
            (b.busy - a.busy) as f64 / ticks,
            (b.irq - a.irq) as f64 / ticks,
            (end.own_ns - begin.own_ns) as f64 / 1e9
        );
    }
    println!("{line}");
}

fn clock_ticks() -> f64 {
    tornado_bench::clock_ticks_per_sec() as f64
}
