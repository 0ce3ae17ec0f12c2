//! Behaviours of Tornado's `tcpserver_test.py` that apply, and the
//! server's own: handler panics, stop, several sockets, IPv6 and Unix
//! sockets, bind + start, graceful shutdown, multi-threaded serving, and
//! surviving fd exhaustion (in a child process with a low fd limit).

mod common;
mod net;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{capture_logs, fd_is_open, fresh_loop, logs_containing};
use net::{idle, ipv6_loopback, run};
use tornado::concurrent::Error;
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::{
    ConnectOptions, Family, TcpClient, TcpHandler, TcpServer, ThreadedServer, bind_sockets,
    bind_unix_socket,
};

/// Echoes until the peer closes.
struct Echo;

impl TcpHandler for Echo {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        while let Ok(data) = stream.read_bytes(64 * 1024, true).await {
            if stream.write(data).await.is_err() {
                break;
            }
        }
    }
}

/// Sends `msg` with a fresh loop-side client and reads the echo.
async fn echo_round_trip(addr: SocketAddr, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let client = IOStream::connect(&addr.to_string()).await?;
    client.write(msg.to_vec()).await?;
    client.read_bytes(msg.len(), false).await
}

#[test]
fn handler_panic_closes_that_connection_only() {
    capture_logs();
    let _l = fresh_loop();
    struct Faulty;
    impl TcpHandler for Faulty {
        async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
            let Ok(first) = stream.read_bytes(5, false).await else {
                return;
            };
            if first == b"crash" {
                panic!("handler exploded on purpose");
            }
            let _ = stream.write(first).await;
        }
    }
    let server = TcpServer::new(Faulty);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let (crashed, served) = run(move || {
        coroutine(async move {
            let doomed = IOStream::connect(&addr.to_string()).await?;
            doomed.write(b"crash".to_vec()).await?;
            // The panic closes this connection: the client sees EOF.
            let rest = doomed.read_until_close().await?;
            let served = echo_round_trip(addr, b"hello").await?;
            Ok((rest, served))
        })
    })
    .unwrap();
    assert_eq!(crashed, b"");
    assert_eq!(served, b"hello");
    let logged = logs_containing("handler exploded on purpose");
    assert!(
        logged.iter().any(
            |(target, level, _)| target == "tornado.application" && *level == log::Level::Error
        ),
        "{logged:?}"
    );
}

#[test]
fn handler_writes_and_closes() {
    // Tornado's native-coroutine case: write, close, the client reads it all.
    let _l = fresh_loop();
    struct WriteClose;
    impl TcpHandler for WriteClose {
        async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
            let _ = stream.write(b"data".to_vec()).await;
            stream.close();
        }
    }
    let server = TcpServer::new(WriteClose);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let got = run(move || {
        coroutine(async move {
            let client = IOStream::connect(&addr.to_string()).await?;
            client.read_until_close().await
        })
    })
    .unwrap();
    assert_eq!(got, b"data");
}

#[test]
fn stop_closes_the_listener_and_twice_is_fine() {
    let _l = fresh_loop();
    let server = TcpServer::new(Echo);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let s = server.clone();
    let (before, after) = run(move || {
        coroutine(async move {
            let before = echo_round_trip(addr, b"one").await?;
            s.stop();
            s.stop();
            let after = IOStream::connect(&addr.to_string()).await.is_err();
            Ok((before, after))
        })
    })
    .unwrap();
    assert_eq!(before, b"one");
    assert!(after, "connecting after stop should be refused");
}

#[test]
fn stop_inside_a_handler_with_connections_pending() {
    // Tornado issue #2069: stop() from a handler while the same accept
    // pass has more connections queued must not touch the closed socket.
    capture_logs();
    let _l = fresh_loop();
    struct StopOnFirst {
        server: RefCell<Option<TcpServer<StopOnFirst>>>,
        served: Rc<Cell<usize>>,
    }
    impl TcpHandler for StopOnFirst {
        async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
            self.served.set(self.served.get() + 1);
            if let Some(server) = self.server.borrow_mut().take() {
                server.stop();
            }
            let _ = stream.read_until_close().await;
        }
    }
    let served = Rc::new(Cell::new(0));
    let server = TcpServer::new(StopOnFirst {
        server: RefCell::new(None),
        served: served.clone(),
    });
    *server.handler().server.borrow_mut() = Some(server.clone());
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    // All queued in the kernel before the loop runs: one accept pass.
    let clients: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    idle(Duration::from_millis(50));
    assert_eq!(served.get(), 1, "nothing is served after stop");
    assert!(logs_containing("error accepting").is_empty());
    drop(clients);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn several_sockets_one_server() {
    let _l = fresh_loop();
    let server = TcpServer::new(Echo);
    let mut addrs = server.listen_on(0, Some("127.0.0.1")).unwrap();
    let more = bind_sockets(0, Some("127.0.0.1"), None, false).unwrap();
    addrs.push(more[0].local_addr().unwrap());
    server.add_sockets(more).unwrap();
    assert_ne!(addrs[0].port(), addrs[1].port());
    let got = run(move || {
        coroutine(async move {
            let mut replies = Vec::new();
            for a in addrs {
                replies.push(echo_round_trip(a, format!("to {}", a.port()).as_bytes()).await?);
            }
            Ok(replies)
        })
    })
    .unwrap();
    assert!(got[0].starts_with(b"to "));
    assert_ne!(got[0], got[1]);
}

#[test]
fn dual_stack_localhost_serves_both_families() {
    let _l = fresh_loop();
    let server = TcpServer::new(Echo);
    let addrs = server.listen_on(0, Some("localhost")).unwrap();
    // Every socket of a port-0 bind gets the same port.
    assert!(addrs.iter().all(|a| a.port() == addrs[0].port()));
    let got = run(move || {
        coroutine(async move {
            let mut replies = Vec::new();
            for a in addrs {
                replies.push(echo_round_trip(a, b"hi").await?);
            }
            Ok(replies)
        })
    })
    .unwrap();
    assert!(got.iter().all(|r| r == b"hi"));
}

#[test]
fn ipv6_server() {
    if !ipv6_loopback() {
        eprintln!("skipped: ::1 is not available");
        return;
    }
    let _l = fresh_loop();
    struct Peer;
    impl TcpHandler for Peer {
        async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
            let _ = stream.write(address.ip().to_string().into_bytes()).await;
        }
    }
    let server = TcpServer::new(Peer);
    let addr = server.listen_on(0, Some("::1")).unwrap()[0];
    assert!(addr.is_ipv6());
    let got = run(move || {
        coroutine(async move {
            let client = IOStream::connect(&addr.to_string()).await?;
            client.read_until_close().await
        })
    })
    .unwrap();
    assert_eq!(got, b"::1");
}

/// A path for a Unix socket, unique to this process and test.
fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tornado-{}-{name}.sock", std::process::id()))
}

#[test]
fn unix_socket_server() {
    let _l = fresh_loop();
    let path = socket_path("server");
    let server = TcpServer::new(Echo);
    server
        .add_unix_socket(bind_unix_socket(&path, 0o600, None).unwrap())
        .unwrap();
    let p = path.clone();
    let got = run(move || {
        coroutine(async move {
            let client = IOStream::new(UnixStream::connect(&p)?)?;
            client.write(b"over unix".to_vec()).await?;
            client.read_bytes(9, false).await
        })
    })
    .unwrap();
    assert_eq!(got, b"over unix");
    server.stop();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bind_then_start() {
    let _l = fresh_loop();
    let server = TcpServer::new(Echo);
    let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
    // Bound and listening: the kernel queues the connection, but nobody
    // serves it until start.
    let mut early = TcpStream::connect(addr).unwrap();
    early.write_all(b"early").unwrap();
    idle(Duration::from_millis(30));
    assert_eq!(server.connections(), 0);
    server.start().unwrap();
    idle(Duration::from_millis(30));
    assert_eq!(server.connections(), 1);
    early
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 5];
    // The loop must run for the echo to be written.
    let reader = std::thread::spawn(move || early.read_exact(&mut buf).map(|_| buf));
    idle(Duration::from_millis(100));
    assert_eq!(&reader.join().unwrap().unwrap(), b"early");
}

/// "slow": answers after 150 ms; "stuck": never answers.
struct SlowOrStuck;

impl TcpHandler for SlowOrStuck {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        let Ok(line) = stream.read_until(b"\n", Some(64)).await else {
            return;
        };
        if line == b"slow\n" {
            sleep(Duration::from_millis(150)).await;
            let _ = stream.write(b"done\n".to_vec()).await;
        } else {
            let _ = stream.read_until_close().await;
        }
    }
}

#[test]
fn graceful_shutdown_finishes_open_requests_and_closes_stragglers() {
    let _l = fresh_loop();
    let server = TcpServer::new(SlowOrStuck);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let s = server.clone();
    let (slow_reply, slow_at, stuck_at, shutdown_at, refused) = run(move || {
        coroutine(async move {
            let slow = IOStream::connect(&addr.to_string()).await?;
            let stuck = IOStream::connect(&addr.to_string()).await?;
            slow.write(b"slow\n".to_vec()).await?;
            stuck.write(b"stuck\n".to_vec()).await?;
            while s.connections() < 2 {
                sleep(Duration::from_millis(1)).await;
            }
            let start = IOLoop::current().time();
            let since = move || IOLoop::current().time() - start;
            let shutdown = s.shutdown(Duration::from_millis(400));
            let slow_reply = coroutine(async move {
                let r = slow.read_until(b"\n", None).await?;
                Ok((r, since()))
            });
            let stuck_closed = coroutine(async move {
                let _ = stuck.read_until_close().await;
                Ok(since())
            });
            // New connections are refused at once.
            let refused = IOStream::connect(&addr.to_string()).await.is_err();
            let ((reply, slow_at), stuck_at, ()) =
                multi((slow_reply, stuck_closed, shutdown)).await?;
            Ok((reply, slow_at, stuck_at, since(), refused))
        })
    })
    .unwrap();
    assert!(refused);
    assert_eq!(slow_reply, b"done\n");
    assert!(slow_at < Duration::from_millis(400), "{slow_at:?}");
    assert!(stuck_at >= Duration::from_millis(400), "{stuck_at:?}");
    assert!(shutdown_at >= stuck_at);
    assert_eq!(server.connections(), 0);
}

/// Answers each connection with the name of the thread that serves it.
struct ThreadName;

impl TcpHandler for ThreadName {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = stream.write(name.into_bytes()).await;
    }
}

fn ask_thread_names(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut name = String::new();
            s.read_to_string(&mut name).unwrap();
            name
        })
        .collect()
}

#[test]
fn threads_with_reuse_port_all_serve() {
    let mut server = ThreadedServer::new(|| ThreadName);
    let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
    let running = server.start(2).unwrap();
    assert_eq!(running.threads(), 2);
    assert_eq!(running.addresses(), &[addr]);
    let names = ask_thread_names(addr, 40);
    let mut distinct: Vec<&String> = names.iter().collect();
    distinct.sort();
    distinct.dedup();
    // The kernel hashes each connection to one of the two sockets: with 40
    // connections both threads answer (all on one: odds 2 in 2^40).
    assert_eq!(distinct, ["tornado-server-0", "tornado-server-1"]);
    running.stop();
    running.join().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "stopped threads close the port"
    );
}

#[test]
fn threads_with_a_shared_listener_serve() {
    let mut server = ThreadedServer::new(|| ThreadName).shared_listener(true);
    let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
    let running = server.start(3).unwrap();
    let names = ask_thread_names(addr, 20);
    assert!(
        names.iter().all(|n| n.starts_with("tornado-server-")),
        "{names:?}"
    );
    running.stop();
    running.join().unwrap();
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn threads_shut_down_gracefully() {
    let mut server = ThreadedServer::new(|| SlowOrStuck);
    let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
    let running = server.start(2).unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"slow\n").unwrap();
    let mut stuck = TcpStream::connect(addr).unwrap();
    stuck.write_all(b"stuck\n").unwrap();
    // Let the threads read the requests before the shutdown starts.
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    running.shutdown(Duration::from_millis(300));
    let mut reply = String::new();
    slow.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "done\n");
    let mut rest = Vec::new();
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stuck.read_to_end(&mut rest).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    running.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn threads_with_tls() {
    let (server_config, client_config) = net::tls_configs();
    let mut server = ThreadedServer::new(|| ThreadName).with_tls(server_config);
    let addr = server.bind(0, Some("127.0.0.1")).unwrap()[0];
    let running = server.start(2).unwrap();
    let _l = fresh_loop();
    let options = ConnectOptions::new().family(Family::V4).tls(client_config);
    let name = run(move || {
        coroutine(async move {
            let stream = TcpClient::new()
                .connect_with("localhost", addr.port(), &options)
                .await?;
            stream.read_until_close().await
        })
    })
    .unwrap();
    assert!(name.starts_with(b"tornado-server-"), "{name:?}");
    running.stop();
    running.join().unwrap();
}

#[test]
fn a_failing_handler_factory_fails_start() {
    let mut server = ThreadedServer::new(|| -> Echo {
        if std::thread::current().name() == Some("tornado-server-1") {
            panic!("no handler for this thread");
        }
        Echo
    });
    server.bind(0, Some("127.0.0.1")).unwrap();
    let e = server.start(2).err().expect("start fails");
    assert!(e.to_string().contains("ended before"), "{e}");
}

// ----- running out of file descriptors -------------------------------

/// Set in the child process of `emfile_pause_and_recover`.
const EMFILE_CHILD: &str = "TORNADO_TEST_EMFILE_CHILD";

/// Free fds the child leaves itself for connections.
const EMFILE_SPARE: usize = 6;

/// The child: an echo server under an fd limit just above what it has
/// open, so that its accept runs out of fds after a few connections.
/// Prints its port and spare capacity; exits when stdin closes.
fn emfile_child() -> ! {
    let ioloop = IOLoop::new().unwrap();
    ioloop.make_current();
    let server = TcpServer::new(Echo);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let highest = (0..4096).filter(|&fd| fd_is_open(fd)).max().unwrap();
    let limit = (highest + 1) as usize + EMFILE_SPARE;
    let open = (0..limit as i32).filter(|&fd| fd_is_open(fd)).count();
    // SAFETY: querying and setting this process's own limit.
    let spare = unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = limit as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        limit - open
    };
    println!("EMFILE-CHILD port {} spare {spare}", addr.port());
    ioloop.start().unwrap();
    unreachable!("the loop never stops");
}

/// Kills the child if the test fails half-way.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
            if !matches!(self.0.try_wait(), Ok(Some(_))) {
                let _ = self.0.kill();
            }
        }
        let _ = self.0.wait();
    }
}

/// utime + stime of process `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// A client that sent a byte; `echoed` tells whether it came back in time.
fn poke(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"x").unwrap();
    s
}

fn echoed(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(1))
}

#[test]
fn emfile_pause_and_recover() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        emfile_child();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["emfile_pause_and_recover", "--exact", "--nocapture"])
        .env(EMFILE_CHILD, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let pid = guard.0.id();
    let mut lines = BufReader::new(stdout).lines();
    let (port, spare) = loop {
        let line = lines.next().expect("child output").unwrap();
        if let Some(rest) = line.strip_prefix("EMFILE-CHILD port ") {
            let (p, s) = rest.split_once(" spare ").unwrap();
            break (p.parse::<u16>().unwrap(), s.parse::<usize>().unwrap());
        }
    };
    assert!(spare >= 4, "the child needs room for a few connections");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Fill the child's fd table: each of these is accepted and echoed.
    let mut served: Vec<TcpStream> = (0..spare).map(|_| poke(addr)).collect();
    for s in &mut served {
        assert!(echoed(s, Duration::from_secs(5)), "served while fds last");
    }
    // These wait in the kernel's queue: accept fails with EMFILE.
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| poke(addr)).collect();
    assert!(!echoed(&mut waiting[0], Duration::from_millis(100)));

    // Paused, not spinning: CPU time barely moves over half a second.
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_seconds(pid) - before;
    eprintln!("EMFILE: child CPU while paused at its fd limit: {used:.3} s in 0.5 s");
    assert!(used < 0.1, "the paused server used {used} s of CPU");

    // Free three fds: the waiting clients are accepted and served.
    served.truncate(served.len() - 3);
    for s in &mut waiting {
        assert!(echoed(s, Duration::from_secs(5)), "served after recovery");
    }
    // And the ones still connected are still served.
    served[0].write_all(b"y").unwrap();
    assert!(echoed(&mut served[0], Duration::from_secs(5)));
    drop(guard);
}
