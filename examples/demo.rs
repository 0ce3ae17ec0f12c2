//! A tour of the event loop: callbacks, timeouts, a periodic callback, an
//! fd handler, a callback from another thread, and `run_sync`.
//!
//! Run: `cargo run --example demo` (add `TORNADO_IOLOOP_BACKEND=select` to
//! try the select backend).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tornado::concurrent::Future;
use tornado::ioloop::{Events, IOLoop, PeriodicCallback};

#[path = "common/logging.rs"]
mod logging;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let ioloop = IOLoop::current();
    let t0 = Instant::now();
    println!("backend: {}", ioloop.backend_name());

    ioloop.add_callback(move || println!("[{:>5.1?}] callback: next iteration", t0.elapsed()));
    let h = ioloop.call_later(Duration::from_millis(50), || {
        println!("never printed: removed")
    });
    ioloop.remove_timeout(h);

    let tick = PeriodicCallback::new(
        move || println!("[{:>5.1?}] periodic tick", t0.elapsed()),
        Duration::from_millis(20),
    );
    tick.start();

    // An fd handler: a socket pair, one end written by another thread.
    let (ours, mut theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let mut reader = ours.try_clone()?;
    let l = ioloop.clone();
    ioloop.add_handler(ours.as_raw_fd(), Events::READ, move |fd, _| {
        let mut buf = [0u8; 64];
        match reader.read(&mut buf) {
            Ok(0) => {
                println!("[{:>5.1?}] handler: peer closed", t0.elapsed());
                l.remove_handler(fd).expect("registered");
            }
            Ok(n) => println!(
                "[{:>5.1?}] handler: read {:?}",
                t0.elapsed(),
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => println!("read error: {e}"),
        }
    })?;

    // Another thread reaches the loop only through its remote handle.
    let remote = ioloop.remote();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        theirs.write_all(b"hello from a thread").expect("write");
        remote.add_callback(move || {
            println!(
                "[{:>5.1?}] remote callback ran on the loop thread",
                t0.elapsed()
            )
        });
    });

    // run_sync: start the loop until a future is done.
    let answer = ioloop.run_sync(
        move || {
            let f = Future::new();
            let g = f.clone();
            IOLoop::current().call_later(Duration::from_millis(100), move || {
                g.set_result(42).expect("pending");
            });
            f
        },
        Some(Duration::from_secs(1)),
    )?;
    tick.stop();
    println!("[{:>5.1?}] run_sync returned {answer}", t0.elapsed());
    println!("metrics: {:?}", ioloop.metrics());
    Ok(())
}
