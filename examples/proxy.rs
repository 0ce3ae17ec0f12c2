//! The seed documents' TCP proxy: each accepted connection opens one to the
//! upstream server and bytes are piped both ways until either side is done.
//!
//! Each direction reads a chunk and waits until it is written before
//! reading the next, so a slow reader slows its writer down instead of
//! filling memory. When one side's reads end (it closed, or half-closed),
//! what it sent is written out to the other side, which is then closed;
//! that ends the other direction too. (The other direction cannot go on
//! after a half-close: an `IOStream` closes itself once its peer's EOF has
//! been seen and its pending writes are flushed.)
//!
//! Ctrl-C or SIGTERM stops accepting and gives open connections a few
//! seconds to finish.
//!
//! Run: `cargo run --example echo_server -- --port 8888` in one terminal,
//! `cargo run --example proxy -- --port 8000 --upstream 127.0.0.1:8888` in
//! another, then `nc 127.0.0.1 8000`.

use std::net::SocketAddr;
use std::time::Duration;

use tornado::concurrent::Future;
use tornado::r#gen::{coroutine, multi};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::signals::{SIGINT, SIGTERM, wait_for_signal};
use tornado::tcp::{TcpClient, TcpHandler, TcpServer};

#[path = "common/logging.rs"]
mod logging;

/// Largest chunk moved at once in each direction.
const CHUNK: usize = 64 * 1024;

struct Proxy {
    /// The upstream's host name (or literal) and port.
    upstream: (String, u16),
    client: TcpClient,
}

/// Copies `from` to `to` until `from`'s reads end, then closes `to` once
/// everything read has been written. Resolves with the bytes copied.
fn pipe(from: IOStream, to: IOStream) -> Future<u64> {
    coroutine(async move {
        let mut copied = 0u64;
        while let Ok(data) = from.read_bytes(CHUNK, true).await {
            copied += data.len() as u64;
            if to.write(data).await.is_err() {
                // The writer side is gone: nobody will read the rest.
                from.close();
                break;
            }
        }
        // Every chunk was written before the next read, so nothing is
        // left to flush: closing now loses no data.
        to.close();
        Ok(copied)
    })
}

impl TcpHandler for Proxy {
    async fn handle_stream(&self, downstream: IOStream, address: SocketAddr) {
        let (host, port) = &self.upstream;
        let upstream = match self
            .client
            .connect(host, *port, Some(Duration::from_secs(10)))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{address}: cannot reach the upstream: {e}");
                return;
            }
        };
        let up = pipe(downstream.clone(), upstream.clone());
        let down = pipe(upstream, downstream);
        match multi((up, down)).await {
            Ok((sent, received)) => {
                println!("{address}: done, {sent} bytes up, {received} bytes down")
            }
            Err(e) => eprintln!("{address}: {e}"),
        }
    }
}

/// Splits "host:port", "[v6]:port" or "v6-literal:port".
fn parse_upstream(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("--upstream wants HOST:PORT, got {s}"))?;
    let port = port.parse().map_err(|e| format!("bad port in {s}: {e}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_owned(), port))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let mut port: u16 = 8000;
    let mut address = String::from("127.0.0.1");
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} takes a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--address" => address = value()?,
            "--upstream" => upstream = Some(parse_upstream(&value()?)?),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: proxy --upstream HOST:PORT [--port P] \
                     [--address A]"
                )
                .into());
            }
        }
    }
    let upstream = upstream.ok_or("usage: proxy --upstream HOST:PORT [--port P] [--address A]")?;
    let stop_signal = wait_for_signal(&[SIGINT, SIGTERM])?;
    let server = TcpServer::new(Proxy {
        upstream: upstream.clone(),
        client: TcpClient::new(),
    });
    for addr in server.listen_on(port, Some(&address))? {
        println!(
            "proxy on {addr} to {}:{}; Ctrl-C stops it",
            upstream.0, upstream.1
        );
    }
    IOLoop::current().run_sync(
        move || {
            coroutine(async move {
                stop_signal.await?;
                println!(
                    "stopping; {} open connection(s) get 5 s",
                    server.connections()
                );
                server.shutdown(Duration::from_secs(5)).await
            })
        },
        None,
    )?;
    println!("proxy stopped");
    Ok(())
}
