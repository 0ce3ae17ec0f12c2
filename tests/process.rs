//! Pre-fork serving, tested from outside: forking inside the (threaded)
//! test harness is unsafe, so this test has no harness. Run plainly, it
//! runs each test below; each starts this same binary again as a child
//! with `TORNADO_PROCESS_SCENARIO` set, which makes `main` play that
//! scenario (fork, crash, serve, ...) in a fresh single-threaded process,
//! and asserts on what the child does: its output, its answers, its exit.
//! `hello` plays the hello example itself (`--processes`, `--threads`).
//!
//! Usage as any test: `cargo test --test process [NAME-FILTER]`.

#![allow(clippy::duplicate_mod)]

#[path = "../examples/common/logging.rs"]
mod logging;

#[allow(dead_code)]
#[path = "../examples/hello.rs"]
mod hello;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::process::{ForkError, fork_processes, task_id};
use tornado::tcp::{Processes, TcpHandler, TcpServer};

const SCENARIO: &str = "TORNADO_PROCESS_SCENARIO";

// ---------------------------------------------------------------- scenarios
// Each runs in a child process started by a test; it prints what the test
// checks on stdout (one line each, flushed by `println!`).

/// Plays scenario `name` with `args`; returns the exit code.
fn play(name: &str, args: Vec<String>) -> i32 {
    logging::enable_pretty_logging();
    let outcome: Result<(), Box<dyn std::error::Error>> = match name {
        "hello" => hello::run(args),
        "crash" => crash(),
        "sigkill_once" => sigkill_once(&args[0]),
        "graceful" => graceful(),
        "fail_on_stop" => fail_on_stop(),
        "refusals" => refusals(),
        other => Err(format!("no scenario {other}").into()),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            println!("error: {e}");
            2
        }
    }
}

/// Two workers that always fail with status 3; at most 3 restarts.
fn crash() -> Result<(), Box<dyn std::error::Error>> {
    let id = fork_processes(2, Some(3))?;
    println!("started {id} {}", std::process::id());
    std::thread::sleep(Duration::from_millis(20));
    std::process::exit(3);
}

/// One worker that kills itself with SIGKILL the first time (noted in the
/// file `marker`), and exits normally once restarted.
fn sigkill_once(marker: &str) -> Result<(), Box<dyn std::error::Error>> {
    let id = fork_processes(1, Some(5))?;
    println!("started {id} {}", std::process::id());
    if !std::path::Path::new(marker).exists() {
        std::fs::write(marker, b"killed once")?;
        // SAFETY: sending ourselves a signal.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    Ok(())
}

/// Answers "busy" at once, then "done" 300 ms later.
struct Slow;

impl TcpHandler for Slow {
    async fn handle_stream(&self, stream: IOStream, _addr: SocketAddr) {
        if stream.read_until(b"\n", Some(100)).await.is_ok() {
            let _ = stream.write(b"busy\n".to_vec()).await;
            tornado::r#gen::sleep(Duration::from_millis(300)).await;
            let _ = stream.write(b"done\n".to_vec()).await;
        }
    }
}

/// Two TCP workers with slow answers, stopping gracefully on SIGTERM.
fn graceful() -> Result<(), Box<dyn std::error::Error>> {
    let server = TcpServer::new(Slow);
    let addr = server.bind(0, Some("127.0.0.1"))?[0];
    let id = server.start_processes(&Processes::new(2).grace(Duration::from_secs(5)))?;
    println!("listening {id} {} {addr}", std::process::id());
    IOLoop::current().start()?;
    println!("stopped cleanly {id}");
    Ok(())
}

/// Two workers; worker 1 exits with status 5 when told to stop.
fn fail_on_stop() -> Result<(), Box<dyn std::error::Error>> {
    let id = fork_processes(2, None)?;
    let ioloop = IOLoop::current();
    let stop = tornado::tcp::signals::wait_for_signal(&[libc::SIGTERM, libc::SIGINT])?;
    println!("waiting {id} {}", std::process::id());
    ioloop.run_sync(move || stop, None)?;
    std::process::exit(if id == 1 { 5 } else { 0 });
}

/// What fork_processes refuses: threads, an existing loop, twice.
fn refusals() -> Result<(), Box<dyn std::error::Error>> {
    println!("task_id before: {:?}", task_id());
    let (tx, rx) = channel::<()>();
    let t = std::thread::spawn(move || rx.recv());
    match fork_processes(2, None) {
        Err(e @ ForkError::Threads(_)) => println!("refused: {e}"),
        other => return Err(format!("threads: expected a refusal, got {other:?}").into()),
    }
    drop(tx);
    let _ = t.join();
    // The thread has ended (the kernel may take a moment to drop it).
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::fs::read_dir("/proc/self/task")?.count() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let ioloop = IOLoop::new()?;
    match fork_processes(2, None) {
        Err(e @ ForkError::LoopExists) => println!("refused: {e}"),
        other => return Err(format!("loop: expected a refusal, got {other:?}").into()),
    }
    ioloop.close(true)?;
    drop(ioloop);
    let id = fork_processes(1, None)?;
    match fork_processes(1, None) {
        Err(e @ ForkError::AlreadyForked) => println!("refused: {e} (task {id:?})"),
        other => return Err(format!("twice: expected a refusal, got {other:?}").into()),
    }
    Ok(())
}

// ------------------------------------------------------------------ runner

/// A scenario running as a child of the test, killed if the test fails.
struct Scenario {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Scenario {
    fn start(name: &str, args: &[&str]) -> Scenario {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SCENARIO, name)
            .env("RUST_LOG", "info")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Scenario {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next line (of stdout or stderr) starting with `prefix`.
    fn expect(&mut self, prefix: &str) -> String {
        self.next_line(|line| line.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no line starting with {prefix:?}; got:\n{}",
                    self.seen.join("\n")
                )
            })
    }

    /// Waits for a line containing `text`, unless one was seen already:
    /// the parent's log (stderr) and a worker's output (stdout) come
    /// through two pipes, so their order is not the order they were
    /// written in.
    fn expect_seen(&mut self, text: &str) {
        if self.seen.iter().any(|l| l.contains(text)) {
            return;
        }
        if self.next_line(|line| line.contains(text)).is_none() {
            panic!("no line with {text:?}; got:\n{}", self.seen.join("\n"));
        }
    }

    /// Reads lines (keeping them) until one passes `wanted`, for at most
    /// 20 s.
    fn next_line(&mut self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(_) => break,
            }
        }
        None
    }

    /// Waits for the exit; collects the remaining output.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        // Its workers get SIGTERM from the kernel when it dies.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: sending a signal to a process of this test.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid}");
}

/// True while `pid` exists (zombie included).
fn exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while exists(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still exists");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `GET path` on a new connection; the body.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// `"key":value` out of a flat JSON object (no parser needed here).
fn field(json: &str, key: &str) -> String {
    let start = json.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    json[start..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

/// Requests `/worker` on new connections until `n` distinct values of
/// `key` answered (the kernel spreads connections by a hash).
fn distinct(addr: &str, key: &str, n: usize) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        seen.insert(field(&get(addr, "/worker"), key));
        if seen.len() >= n {
            return seen;
        }
    }
    panic!("only {seen:?} answered in 200 connections");
}

// ------------------------------------------------------------------- tests

fn hello_processes_serve_restart_and_stop_gracefully() {
    let mut s = Scenario::start("hello", &["--processes", "2", "--port", "0"]);
    let mut workers = Vec::new();
    let mut addr = String::new();
    for _ in 0..2 {
        // "hello worker 0 (pid 123) listening on http://127.0.0.1:4567/"
        let line = s.expect("hello worker ");
        let pid: i32 = line
            .split("(pid ")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        addr = line
            .split("http://")
            .nth(1)
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        workers.push(pid);
    }
    let pids = distinct(&addr, "pid", 2);
    let expected: BTreeSet<String> = workers.iter().map(|p| p.to_string()).collect();
    assert_eq!(pids, expected, "both workers serve");
    // A worker killed: the parent reaps it and forks a new one.
    signal(workers[0], libc::SIGKILL);
    let line = s.expect("hello worker ");
    let new_pid: i32 = line
        .split("(pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(!workers.contains(&new_pid));
    wait_gone(workers[0]);
    s.expect_seen("killed by SIGKILL, restarting");
    let pids = distinct(&addr, "pid", 2);
    assert!(
        pids.contains(&new_pid.to_string()),
        "the new worker serves: {pids:?}"
    );
    // SIGTERM to the parent: forwarded, every worker stops, all exit 0.
    signal(s.pid(), libc::SIGTERM);
    let status = s.wait();
    assert_eq!(status.code(), Some(0), "{}", s.output());
    wait_gone(workers[1]);
    wait_gone(new_pid);
    assert_eq!(
        s.output().matches("exited with status 0").count(),
        2,
        "{}",
        s.output()
    );
}

fn hello_threads_serve_on_several_loops() {
    let mut s = Scenario::start("hello", &["--threads", "2", "--port", "0"]);
    let line = s.expect("hello: 2 threads listening on http://");
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let threads = distinct(&addr, "thread", 2);
    assert_eq!(threads.len(), 2);
    assert!(
        threads.iter().all(|t| t.starts_with("tornado-server-")),
        "{threads:?}"
    );
    let body = get(&addr, "/worker");
    assert_eq!(field(&body, "pid"), s.pid().to_string());
    assert_eq!(field(&body, "task_id"), "null");
    signal(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait().code(), Some(0), "{}", s.output());
}

fn crashing_workers_are_restarted_up_to_max_restarts_then_the_parent_fails() {
    let mut s = Scenario::start("crash", &[]);
    let status = s.wait();
    let out = s.output();
    assert_eq!(status.code(), Some(2), "{out}");
    // 2 first starts + 3 restarts; the 4th failure is one too many. (The
    // last one restarted may be stopped before it prints its line.)
    let starts = out.lines().filter(|l| l.starts_with("started ")).count();
    assert!((4..=5).contains(&starts), "{out}");
    assert_eq!(
        out.matches("exited with status 3, restarting").count(),
        3,
        "{out}"
    );
    assert!(
        out.contains("error: too many child restarts (3), giving up: child ")
            && out.contains(") exited with status 3"),
        "{out}"
    );
}

fn a_worker_killed_by_a_signal_is_restarted() {
    let marker = std::env::temp_dir().join(format!("tornado-sigkill-once-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut s = Scenario::start("sigkill_once", &[marker.to_str().unwrap()]);
    let status = s.wait();
    let _ = std::fs::remove_file(&marker);
    let out = s.output();
    // Restarted once, then it exits normally: so does the parent.
    assert_eq!(status.code(), Some(0), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("started 0 ")).count(),
        2,
        "{out}"
    );
    assert!(out.contains("killed by SIGKILL, restarting"), "{out}");
    assert!(out.contains("exited normally"), "{out}");
}

fn sigterm_is_forwarded_and_open_connections_finish() {
    forwarded_and_open_connections_finish(libc::SIGTERM);
}

fn sigint_is_forwarded_too() {
    forwarded_and_open_connections_finish(libc::SIGINT);
}

fn a_worker_failing_while_stopping_makes_the_parent_fail() {
    let mut s = Scenario::start("fail_on_stop", &[]);
    s.expect("waiting ");
    s.expect("waiting ");
    signal(s.pid(), libc::SIGTERM);
    let status = s.wait();
    let out = s.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("exited with status 5 while stopping"), "{out}");
    assert!(!out.contains("restarting"), "{out}");
}

fn forwarded_and_open_connections_finish(sig: i32) {
    let mut s = Scenario::start("graceful", &[]);
    let mut workers = Vec::new();
    let mut addr = String::new();
    for _ in 0..2 {
        let line = s.expect("listening ");
        let parts: Vec<&str> = line.split(' ').collect();
        workers.push(parts[2].parse::<i32>().unwrap());
        addr = parts[3].to_owned();
    }
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"go\n").unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "busy\n");
    // The request is in progress: stop everything.
    signal(s.pid(), sig);
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "done\n", "the open request finished");
    let status = s.wait();
    assert_eq!(status.code(), Some(0), "{}", s.output());
    assert_eq!(
        s.output().matches("stopped cleanly").count(),
        2,
        "{}",
        s.output()
    );
    for w in workers {
        wait_gone(w);
    }
    assert!(
        TcpStream::connect(&addr).is_err(),
        "nobody listens any more"
    );
}

fn forking_is_refused_with_threads_a_loop_or_twice() {
    let mut s = Scenario::start("refusals", &[]);
    let status = s.wait();
    let out = s.output();
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("task_id before: None"), "{out}");
    assert!(
        out.contains("refused: cannot fork: this process runs 2 threads"),
        "{out}"
    );
    assert!(
        out.contains("refused: cannot fork: an IOLoop was already created"),
        "{out}"
    );
    assert!(
        out.contains("refused: fork_processes was already called in this process (task 0)"),
        "{out}"
    );
}

fn main() {
    if let Ok(name) = std::env::var(SCENARIO) {
        std::process::exit(play(&name, std::env::args().skip(1).collect()));
    }
    let tests: &[(&str, fn())] = &[
        (
            "hello_processes_serve_restart_and_stop_gracefully",
            hello_processes_serve_restart_and_stop_gracefully,
        ),
        (
            "hello_threads_serve_on_several_loops",
            hello_threads_serve_on_several_loops,
        ),
        (
            "crashing_workers_are_restarted_up_to_max_restarts_then_the_parent_fails",
            crashing_workers_are_restarted_up_to_max_restarts_then_the_parent_fails,
        ),
        (
            "a_worker_killed_by_a_signal_is_restarted",
            a_worker_killed_by_a_signal_is_restarted,
        ),
        (
            "sigterm_is_forwarded_and_open_connections_finish",
            sigterm_is_forwarded_and_open_connections_finish,
        ),
        ("sigint_is_forwarded_too", sigint_is_forwarded_too),
        (
            "a_worker_failing_while_stopping_makes_the_parent_fail",
            a_worker_failing_while_stopping_makes_the_parent_fail,
        ),
        (
            "forking_is_refused_with_threads_a_loop_or_twice",
            forking_is_refused_with_threads_a_loop_or_twice,
        ),
    ];
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed",
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
