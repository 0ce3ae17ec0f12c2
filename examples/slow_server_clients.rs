//! The seed documents' client demo: ten concurrent requests to a slow
//! server. The server (on its own loop thread, local and ephemeral) answers
//! each request after a delay; the client makes all ten at once, first with
//! callbacks, then with coroutines, and prints the total time of each: about
//! one server delay, not ten.
//!
//! Run: `cargo run --example slow_server_clients -- [--delay-ms 200] [--port 0]`

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, sleep};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::{TcpHandler, TcpServer};

#[path = "common/logging.rs"]
mod logging;

/// Answers one line with "done <line>" after `delay`.
struct Slow {
    delay: Duration,
}

impl TcpHandler for Slow {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        if let Ok(line) = stream.read_until(b"\n", Some(1024)).await {
            sleep(self.delay).await;
            let mut reply = b"done ".to_vec();
            reply.extend_from_slice(&line);
            let _ = stream.write(reply).await;
        }
    }
}

/// One request, callback style: connect, write, read, then `done(reply)`.
fn fetch_with_callbacks(
    addr: SocketAddr,
    n: usize,
    done: impl FnOnce(Result<Vec<u8>, Error>) + 'static,
) {
    let connecting = IOStream::connect(&addr.to_string());
    connecting.add_done_callback(move |f| {
        let stream = match f.take_result() {
            Ok(s) => s,
            Err(e) => return done(Err(e)),
        };
        let s2 = stream.clone();
        stream
            .write(format!("request {n}\n").into_bytes())
            .add_done_callback(move |w| {
                if let Err(e) = w.take_result() {
                    return done(Err(e));
                }
                s2.read_until(b"\n", None)
                    .add_done_callback(move |r| done(r.take_result()));
            });
    });
}

/// One request, coroutine style.
fn fetch(addr: SocketAddr, n: usize) -> Future<Vec<u8>> {
    coroutine(async move {
        let stream = IOStream::connect(&addr.to_string()).await?;
        stream.write(format!("request {n}\n").into_bytes()).await?;
        stream.read_until(b"\n", None).await
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let mut delay = Duration::from_millis(200);
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => {
                delay =
                    Duration::from_millis(args.next().ok_or("--delay-ms takes a number")?.parse()?)
            }
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }

    // The slow server runs on a loop of its own, in another thread.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ioloop = IOLoop::current();
        let server = TcpServer::new(Slow { delay });
        let bound = server.listen_on(port, Some("127.0.0.1")).map(|a| a[0]);
        tx.send(bound.map_err(|e| e.to_string()))
            .expect("main thread waits");
        ioloop.start().expect("server loop");
    });
    let addr = rx.recv()??;
    println!("slow server on {addr}, {delay:?} per request");

    let ioloop = IOLoop::current();

    // 1. Callbacks: ten requests started at once; stop when all answered.
    let started = Instant::now();
    let left = Rc::new(Cell::new(10));
    for n in 0..10 {
        let left = left.clone();
        fetch_with_callbacks(addr, n, move |reply| {
            match reply {
                Ok(r) => print!("{}", String::from_utf8_lossy(&r)),
                Err(e) => println!("request {n} failed: {e}"),
            }
            left.set(left.get() - 1);
            if left.get() == 0 {
                IOLoop::current().stop();
            }
        });
    }
    ioloop.start()?;
    println!("callbacks:  10 requests in {:?}", started.elapsed());

    // 2. Coroutines: the same, with gen::multi.
    let started = Instant::now();
    let replies = ioloop.run_sync(
        move || multi((0..10).map(|n| fetch(addr, n)).collect::<Vec<_>>()),
        Some(Duration::from_secs(30)),
    )?;
    for r in &replies {
        print!("{}", String::from_utf8_lossy(r));
    }
    println!("coroutines: 10 requests in {:?}", started.elapsed());
    Ok(())
}
