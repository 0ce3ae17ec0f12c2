//! The WebSocket benchmark's load generator: a raw mio client on one
//! thread, the same for every server.
//!
//!     ws_load --port P --conns N --size S [--warmup-ms W] [--secs T]
//!             [--server-pid PID]
//!
//! Opens N WebSocket connections to 127.0.0.1:P (path `/`, no
//! compression); each keeps one binary message of S bytes in flight: send
//! it (masked, as a client must), wait for the whole echo, check its
//! length, send the next. After W ms of warm-up it counts the echoes
//! during T seconds, and with `--server-pid` reads the server's CPU time
//! (`/proc/<pid>/task/*/schedstat`) at the start and end of that window.
//!
//! Prints `result msgs=.. secs=.. msgs_per_sec=.. server_cpu_ns=..
//! cpu_ns_per_msg=..` and exits 0; any error exits 1.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// No echo for this long is an error (a stuck server).
const STALL: Duration = Duration::from_secs(5);

struct Args {
    port: u16,
    conns: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
    server_pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: ws_load --port P --conns N --size S [--warmup-ms W] [--secs T] [--server-pid PID]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        port: 0,
        conns: 10,
        size: 64,
        warmup: Duration::from_millis(500),
        window: Duration::from_secs(2),
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| v.parse::<f64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--port" => a.port = num(&v) as u16,
            "--conns" => a.conns = num(&v) as usize,
            "--size" => a.size = num(&v) as usize,
            "--warmup-ms" => a.warmup = Duration::from_millis(num(&v) as u64),
            "--secs" => a.window = Duration::from_secs_f64(num(&v)),
            "--server-pid" => a.server_pid = Some(num(&v) as u32),
            _ => usage(),
        }
    }
    if a.port == 0 || a.conns == 0 {
        usage();
    }
    a
}

/// One connection: the frame it sends, and how much of the echo came.
struct Conn {
    stream: TcpStream,
    /// The masked frame to send, and how much of it went.
    frame: Vec<u8>,
    sent: usize,
    /// Bytes of the echo frame expected (header + payload) and received.
    expect: usize,
    got: usize,
}

/// A client frame: FIN + binary, masked with a fixed key (the server
/// cannot tell; masking protects proxies, not benchmarks).
fn client_frame(size: usize) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x82];
    if size < 126 {
        f.push(0x80 | size as u8);
    } else if size <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(size as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(size as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend((0..size).map(|i| (i as u8) ^ key[i % 4]));
    f
}

/// The server's unmasked echo: header length + payload.
fn echo_len(size: usize) -> usize {
    size + if size < 126 {
        2
    } else if size <= 0xffff {
        4
    } else {
        10
    }
}

/// A blocking handshake on a std socket, then handed to mio.
fn open(port: u16) -> io::Result<TcpStream> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(format!(
            "handshake refused: {}",
            String::from_utf8_lossy(&head)
        )));
    }
    s.set_nonblocking(true)?;
    Ok(TcpStream::from_std(s))
}

fn server_ns(pid: Option<u32>) -> u64 {
    pid.and_then(|p| tornado_bench::proc_sched_ns(p).ok())
        .unwrap_or(0)
}

fn main() {
    let a = parse_args();
    if let Err(e) = run(&a) {
        eprintln!("ws_load: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(a.conns);
    for i in 0..a.conns {
        let mut stream = open(a.port)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            frame: client_frame(a.size),
            sent: 0,
            expect: echo_len(a.size),
            got: 0,
        });
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let (mut counting, mut count, mut window_start, mut cpu_start) = (false, 0u64, start, 0);
    let mut last_progress = Instant::now();
    // Kick every connection off.
    for c in conns.iter_mut() {
        pump(c, &mut buf, &mut 0)?;
    }
    loop {
        let now = Instant::now();
        if !counting && now - start >= a.warmup {
            counting = true;
            count = 0;
            window_start = now;
            cpu_start = server_ns(a.server_pid);
        }
        if counting && now - window_start >= a.window {
            let cpu = server_ns(a.server_pid) - cpu_start;
            let secs = (now - window_start).as_secs_f64();
            println!(
                "result msgs={count} secs={secs:.3} msgs_per_sec={:.0} server_cpu_ns={cpu} cpu_ns_per_msg={:.0}",
                count as f64 / secs,
                cpu as f64 / count.max(1) as f64
            );
            return Ok(());
        }
        if now - last_progress > STALL {
            return Err(io::Error::other("no echo for 5 s"));
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            let mut done = 0;
            pump(c, &mut buf, &mut done)?;
            if done > 0 {
                last_progress = Instant::now();
                count += done;
            }
        }
    }
}

/// Sends what is left of the frame, reads what came; counts whole echoes
/// into `done` and starts the next message after each.
fn pump(c: &mut Conn, buf: &mut [u8], done: &mut u64) -> io::Result<()> {
    loop {
        while c.sent < c.frame.len() {
            match c.stream.write(&c.frame[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        match c.stream.read(buf) {
            Ok(0) => return Err(io::Error::other("server closed a connection")),
            Ok(n) => {
                c.got += n;
                if c.got > c.expect {
                    return Err(io::Error::other("echo longer than the message"));
                }
                if c.got == c.expect {
                    *done += 1;
                    c.got = 0;
                    c.sent = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
