//! The seed documents' client demo: ten concurrent requests to a slow
//! server. The server (on its own loop thread, local and ephemeral) answers
//! each request after a delay; the client makes all ten at once, first with
//! callbacks, then with coroutines, and prints the total time of each: about
//! one server delay, not ten.
//!
//! Run: `cargo run --example slow_server_clients -- [--delay-ms 200] [--port 0]`;
//! `--self-test` also checks every reply and the timing (the tests run it).

use std::cell::{Cell, RefCell};
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

/// One request, callback style (Tornado's `add_future` on each step):
/// connect, write, read, then `done(reply)`. Only the futures hold the
/// stream between steps; its pending read keeps it alive.
fn fetch_with_callbacks(
    addr: SocketAddr,
    n: usize,
    done: impl FnOnce(Result<Vec<u8>, Error>) + 'static,
) {
    let ioloop = IOLoop::current();
    ioloop.add_future(&IOStream::connect(&addr.to_string()), move |f| {
        let stream = match f.take_result() {
            Ok(s) => s,
            Err(e) => return done(Err(e)),
        };
        let written = stream.write(format!("request {n}\n").into_bytes());
        IOLoop::current().add_future(&written, move |w| {
            if let Err(e) = w.take_result() {
                return done(Err(e));
            }
            let reading = stream.read_until(b"\n", None);
            // The last handle goes here; the pending read keeps the stream.
            drop(stream);
            IOLoop::current().add_future(&reading, move |r| done(r.take_result()));
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
    run(std::env::args().skip(1).collect())
}

/// The replies expected from the ten requests, in order.
fn expected() -> Vec<Vec<u8>> {
    (0..10)
        .map(|n| format!("done request {n}\n").into_bytes())
        .collect()
}

/// The whole program (also what the tests run, with `--self-test`: both
/// halves must get every reply, concurrently: in well under ten delays).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut delay = Duration::from_millis(200);
    let mut port = 0u16;
    let mut test = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => {
                delay =
                    Duration::from_millis(args.next().ok_or("--delay-ms takes a number")?.parse()?)
            }
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: slow_server_clients [--delay-ms MS] \
                     [--port P] [--self-test]"
                )
                .into());
            }
        }
    }

    // The slow server runs on a loop of its own, in another thread.
    let (tx, rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        let ioloop = IOLoop::new().expect("server loop");
        ioloop.make_current();
        let server = TcpServer::new(Slow { delay });
        let bound = server.listen_on(port, Some("127.0.0.1")).map(|a| a[0]);
        let ok = bound.is_ok();
        tx.send(
            bound
                .map(|a| (a, ioloop.remote()))
                .map_err(|e| e.to_string()),
        )
        .expect("main thread waits");
        if ok {
            ioloop.start().expect("server loop");
        }
        drop(server);
        let _ = ioloop.close(false);
    });
    let (addr, server_loop) = rx.recv()??;
    // Stops the server's loop however this function returns.
    struct StopOnDrop(Option<(tornado::ioloop::Remote, std::thread::JoinHandle<()>)>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            if let Some((remote, thread)) = self.0.take() {
                remote.stop();
                let _ = thread.join();
            }
        }
    }
    let _server = StopOnDrop(Some((server_loop, server_thread)));
    println!("slow server on {addr}, {delay:?} per request");

    let ioloop = IOLoop::current();

    // 1. Callbacks: ten requests started at once; stop when all answered.
    let started = Instant::now();
    let replies = Rc::new(RefCell::new(vec![None; 10]));
    let left = Rc::new(Cell::new(10));
    for n in 0..10 {
        let (left, replies) = (left.clone(), replies.clone());
        fetch_with_callbacks(addr, n, move |reply| {
            match &reply {
                Ok(r) => print!("{}", String::from_utf8_lossy(r)),
                Err(e) => println!("request {n} failed: {e}"),
            }
            replies.borrow_mut()[n] = Some(reply.map_err(|e| e.to_string()));
            left.set(left.get() - 1);
            if left.get() == 0 {
                IOLoop::current().stop();
            }
        });
    }
    // A guard so that a hang fails the self-test instead of blocking it.
    let guard = ioloop.call_later(delay * 10 + Duration::from_secs(10), || {
        IOLoop::current().stop()
    });
    ioloop.start()?;
    ioloop.remove_timeout(guard);
    let callbacks_took = started.elapsed();
    println!("callbacks:  10 requests in {callbacks_took:?}");

    // 2. Coroutines: the same, with gen::multi.
    let started = Instant::now();
    let coroutine_replies = ioloop.run_sync(
        move || multi((0..10).map(|n| fetch(addr, n)).collect::<Vec<_>>()),
        Some(delay * 10 + Duration::from_secs(10)),
    )?;
    for r in &coroutine_replies {
        print!("{}", String::from_utf8_lossy(r));
    }
    let coroutines_took = started.elapsed();
    println!("coroutines: 10 requests in {coroutines_took:?}");

    if test {
        let callback_replies: Vec<Vec<u8>> = replies
            .borrow_mut()
            .drain(..)
            .enumerate()
            .map(|(n, r)| match r {
                Some(Ok(r)) => Ok(r),
                Some(Err(e)) => Err(format!("callback request {n} failed: {e}")),
                None => Err(format!("callback request {n} never finished")),
            })
            .collect::<Result<_, _>>()?;
        if callback_replies != expected() {
            return Err("the callback half got wrong replies".into());
        }
        if coroutine_replies != expected() {
            return Err("the coroutine half got wrong replies".into());
        }
        // Concurrent: less than the ten delays of one-at-a-time (with room
        // for a loaded machine).
        for (half, took) in [
            ("callbacks", callbacks_took),
            ("coroutines", coroutines_took),
        ] {
            if took >= delay * 8 {
                return Err(format!("{half} took {took:?}: not concurrent").into());
            }
        }
        println!("slow_server_clients self-test ok");
    }
    Ok(())
}
