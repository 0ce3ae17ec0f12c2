//! An echo server: one coroutine per connection, echoing every byte until
//! the peer closes. A half-closed peer still gets its bytes back; resets and
//! garbage close that connection only. The listen backlog is the OS maximum,
//! so a burst of connections is not dropped.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it gracefully: it stops accepting,
//! gives open connections `--grace` seconds to finish, closes the rest and
//! exits. A second Ctrl-C during the grace period closes them at once.
//! With `--threads N` it serves on N threads, each with its own loop.
//! `--max-buffer-size N` caps each connection's read buffer at N bytes (the
//! soak test's memory-limited run): a read never takes more than that, the
//! rest waits in the kernel.
//!
//! Run: `cargo run --example echo_server -- --port 8888`, then talk to it
//! with `nc 127.0.0.1 8888`.

use std::net::SocketAddr;
use std::time::Duration;

use tornado::r#gen::{coroutine, spawn};
use tornado::ioloop::IOLoop;
use tornado::iostream::{IOStream, StreamOptions};
use tornado::tcp::signals::{SIGINT, SIGTERM, wait_for_signal};
use tornado::tcp::{TcpHandler, TcpServer, ThreadedServer};

#[path = "common/logging.rs"]
mod logging;

struct Echo;

impl TcpHandler for Echo {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        // `read_bytes(n, partial = true)` resolves with whatever arrived.
        while let Ok(data) = stream.read_bytes(64 * 1024, true).await {
            if stream.write(data).await.is_err() {
                break;
            }
        }
    }
}

/// The command line.
struct Args {
    /// Port to listen on (0: any free one).
    port: u16,
    /// Address to listen on.
    address: String,
    /// Serving threads; 1 serves on the main thread's loop.
    threads: usize,
    /// How long open connections get to finish after a stop signal.
    grace: Duration,
    /// Each connection's read buffer limit (`None`: the stream's default).
    max_buffer_size: Option<usize>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut a = Args {
        port: 8888,
        address: "127.0.0.1".into(),
        threads: 1,
        grace: Duration::from_secs(5),
        max_buffer_size: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} takes {what}"));
        match arg.as_str() {
            "--port" => a.port = value("a number")?.parse()?,
            "--address" => a.address = value("an address")?,
            "--threads" => a.threads = value("a number")?.parse()?,
            "--grace" => a.grace = Duration::from_secs_f64(value("seconds")?.parse()?),
            "--max-buffer-size" => a.max_buffer_size = Some(value("a byte count")?.parse()?),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: echo_server [--port P] [--address A] \
                     [--threads N] [--grace SECONDS] [--max-buffer-size BYTES]"
                )
                .into());
            }
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let args = parse_args()?;
    let ioloop = IOLoop::current();
    // Registered before serving, so that a signal is never missed.
    let stop_signal = wait_for_signal(&[SIGINT, SIGTERM])?;
    if args.threads > 1 {
        return serve_on_threads(&args, stop_signal);
    }
    let server = TcpServer::with_options(Echo, stream_options(&args));
    for addr in server.listen_on(args.port, Some(&args.address))? {
        println!(
            "echo server listening on {addr} ({} backend); Ctrl-C stops it",
            ioloop.backend_name()
        );
    }
    let grace = args.grace;
    ioloop.run_sync(
        move || {
            coroutine(async move {
                let sig = stop_signal.await?;
                println!(
                    "signal {sig}: not accepting any more; {} open connection(s) get {grace:?}",
                    server.connections()
                );
                let shutdown = server.shutdown(grace);
                // A second signal: no more waiting.
                let again = wait_for_signal(&[SIGINT, SIGTERM])?;
                let s = server.clone();
                again.add_done_callback(move |_| {
                    println!("second signal: closing every connection now");
                    spawn(s.shutdown(Duration::ZERO));
                });
                shutdown.await
            })
        },
        None,
    )?;
    println!("echo server stopped");
    Ok(())
}

/// The streams' options: the defaults, with `--max-buffer-size` applied.
fn stream_options(args: &Args) -> StreamOptions {
    let mut options = StreamOptions::default();
    if let Some(n) = args.max_buffer_size {
        options.max_buffer_size = n;
    }
    options
}

/// `--threads N`: N threads each with a loop and a server on the port
/// (`SO_REUSEPORT`); this thread's loop only waits for the signal.
fn serve_on_threads(
    args: &Args,
    stop_signal: tornado::concurrent::Future<i32>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = ThreadedServer::new(|| Echo).with_options(stream_options(args));
    for addr in server.bind(args.port, Some(&args.address))? {
        println!(
            "echo server listening on {addr} with {} threads; Ctrl-C stops it",
            args.threads
        );
    }
    let running = server.start(args.threads)?;
    let sig = IOLoop::current().run_sync(move || stop_signal, None)?;
    println!(
        "signal {sig}: stopping the threads; open connections get {:?}",
        args.grace
    );
    running.shutdown(args.grace);
    running.join()?;
    println!("echo server stopped");
    Ok::<(), Box<dyn std::error::Error>>(())
}
