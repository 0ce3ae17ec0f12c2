//! HTTP client benchmark: our `HttpClient` against reqwest (HTTP/1.1 only,
//! rustls, on a tokio `current_thread` runtime), both keeping connections
//! alive.
//!
//! 1. Throughput: `--concurrency` (50) requests in flight for `--seconds`
//!    (5) against `hyper_hello` (started here as a child process, pinned to
//!    the other CPU; this process is pinned to the first): requests/s,
//!    client CPU per request (this process's scheduler time, all threads),
//!    and the connections each client opened.
//! 2. Connection reuse: `--sequential` (1,000) requests one after the
//!    other against a small server in this process that counts the TCP
//!    connections it accepts.
//!
//! Run: `cargo run --release -p tornado-bench --bin client_bench`
//! (`-- --seconds 1 --sequential 100` for a quick look). Target: client CPU
//! per request at most reqwest's; one connection for the sequential run.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tornado_bench::{allowed_cpus, die_with_parent, pin_to, proc_sched_ns};
use tornado_gen::{coroutine, multi};
use tornado_http::httpclient::{HttpClient, HttpClientOptions, HttpRequest};
use tornado_ioloop::IOLoop;

struct Args {
    seconds: f64,
    concurrency: usize,
    sequential: usize,
}

fn parse() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        seconds: 5.0,
        concurrency: 50,
        sequential: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut v = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => a.seconds = v()?.parse()?,
            "--concurrency" => a.concurrency = v()?.parse()?,
            "--sequential" => a.sequential = v()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// One run's figures.
struct Figures {
    requests: u64,
    elapsed: Duration,
    cpu_ns: u64,
    connections: u64,
}

impl Figures {
    fn print(&self, name: &str) {
        let per_s = self.requests as f64 / self.elapsed.as_secs_f64();
        let cpu_us = self.cpu_ns as f64 / 1000.0 / self.requests.max(1) as f64;
        println!(
            "{name:<8} {:>10.0} req/s  {:>7.2} µs CPU/request  {:>4} connections  ({} requests)",
            per_s, cpu_us, self.connections, self.requests
        );
    }
}

fn cpu_now() -> u64 {
    proc_sched_ns(std::process::id()).unwrap_or(0)
}

/// Starts `hyper_hello` on an ephemeral port, pinned to `cpu`.
fn start_hyper(cpu: Option<usize>) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?.with_file_name("hyper_hello");
    let mut cmd = Command::new(&exe);
    cmd.args(["--port", "0"]).stdout(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (prctl, sched_setaffinity).
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent()?;
            if let Some(c) = cpu {
                pin_to(c)?;
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting {} (build it with --bins): {e}", exe.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .ok_or(format!("hyper_hello said {line:?}"))?
        .to_owned();
    Ok((child, url))
}

/// Ours: `concurrency` coroutines fetching in a loop until the deadline.
fn ours(url: &str, concurrency: usize, run_for: Duration, max_clients: usize) -> Figures {
    let ioloop = IOLoop::new().expect("loop");
    let url = url.to_owned();
    ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let client = HttpClient::new(HttpClientOptions::new().max_clients(max_clients));
                    let count = Rc::new(Cell::new(0u64));
                    let started = Instant::now();
                    let cpu = cpu_now();
                    let deadline = started + run_for;
                    let workers: Vec<_> = (0..concurrency)
                        .map(|_| {
                            let (client, url, count) = (client.clone(), url.clone(), count.clone());
                            coroutine(async move {
                                while Instant::now() < deadline {
                                    let r = client
                                        .fetch_request(HttpRequest::with_url(url.clone()))
                                        .await?;
                                    assert_eq!(r.code, 200);
                                    count.set(count.get() + 1);
                                }
                                Ok(())
                            })
                        })
                        .collect();
                    multi(workers).await?;
                    let figures = Figures {
                        requests: count.get(),
                        elapsed: started.elapsed(),
                        cpu_ns: cpu_now() - cpu,
                        connections: client.connections_opened(),
                    };
                    client.close();
                    Ok(figures)
                })
            },
            None,
        )
        .expect("our client run")
}

/// reqwest: `concurrency` tasks on a current_thread runtime.
fn reqwest_run(url: &str, concurrency: usize, run_for: Duration) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = url.to_owned();
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .expect("reqwest client");
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let cpu = cpu_now();
        let deadline = started + run_for;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, url, count) = (client.clone(), url.clone(), count.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let r = client.get(&url).send().await.expect("reqwest send");
                        assert_eq!(r.status(), 200);
                        r.bytes().await.expect("reqwest body");
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        Figures {
            requests: count.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            cpu_ns: cpu_now() - cpu,
            // reqwest does not say; the sequential run counts them.
            connections: 0,
        }
    })
}

/// A keep-alive server on a thread, counting the connections it accepts.
fn counting_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut w = conn;
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let reply =
                                b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello, world";
                            if w.write_all(reply).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (url, count)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let cpus = allowed_cpus();
    let (client_cpu, server_cpu) = match cpus.as_slice() {
        [a, b, ..] => (Some(*a), Some(*b)),
        [a] => (Some(*a), Some(*a)),
        [] => (None, None),
    };
    if let Some(c) = client_cpu {
        pin_to(c)?;
    }
    let (mut hyper, url) = start_hyper(server_cpu)?;
    println!(
        "client_bench: {} in flight for {} s against hyper_hello at {url} (client CPU {client_cpu:?}, server CPU {server_cpu:?})",
        args.concurrency, args.seconds
    );
    let run_for = Duration::from_secs_f64(args.seconds);
    let warm = Duration::from_millis(300);
    // Warm-ups, then alternate so that drift hits both alike.
    ours(&url, args.concurrency, warm, args.concurrency);
    reqwest_run(&url, args.concurrency, warm);
    let a = ours(&url, args.concurrency, run_for, args.concurrency);
    let b = reqwest_run(&url, args.concurrency, run_for);
    a.print("ours");
    b.print("reqwest");
    println!(
        "CPU/request ours/reqwest: {:.2}",
        (a.cpu_ns as f64 / a.requests.max(1) as f64) / (b.cpu_ns as f64 / b.requests.max(1) as f64)
    );
    let _ = hyper.kill();
    let _ = hyper.wait();

    let (url, count) = counting_server();
    let n = args.sequential;
    let before = count.load(Ordering::SeqCst);
    let seq = ours_sequential(&url, n);
    let ours_conns = count.load(Ordering::SeqCst) - before;
    let before = count.load(Ordering::SeqCst);
    reqwest_sequential(&url, n);
    let reqwest_conns = count.load(Ordering::SeqCst) - before;
    println!(
        "{n} sequential requests: ours opened {ours_conns} connection(s) (client says {seq}), reqwest {reqwest_conns}"
    );
    Ok(())
}

fn ours_sequential(url: &str, n: usize) -> u64 {
    let ioloop = IOLoop::new().expect("loop");
    let url = url.to_owned();
    ioloop
        .run_sync(
            move || {
                coroutine(async move {
                    let client = HttpClient::new(HttpClientOptions::new().max_clients(1));
                    for _ in 0..n {
                        client
                            .fetch_request(HttpRequest::with_url(url.clone()))
                            .await?;
                    }
                    let opened = client.connections_opened();
                    client.close();
                    Ok(opened)
                })
            },
            None,
        )
        .expect("sequential run")
}

fn reqwest_sequential(url: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..n {
            client
                .get(url)
                .send()
                .await
                .expect("send")
                .bytes()
                .await
                .expect("body");
        }
    });
}
