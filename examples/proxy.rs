//! The seed documents' TCP proxy: each accepted connection opens one to the
//! upstream server and bytes are piped both ways until both sides are done.
//!
//! Each direction reads a chunk and waits until it is written before
//! reading the next, so a slow reader slows its writer down instead of
//! filling memory. When one side's reads end (it closed, or half-closed),
//! the proxy half-closes the other side (`shutdown_write`: that side sees
//! EOF) and keeps piping the other direction: a client that sends its
//! request then shuts down its write side still gets the upstream's whole
//! answer. Both streams stay writable after their peer's EOF
//! (`set_keep_open_after_eof`); once both directions are done, both are
//! closed.
//!
//! Ctrl-C or SIGTERM stops accepting and gives open connections a few
//! seconds to finish. `--self-test` runs an echo upstream and a client in
//! the same process and checks that a half-closed client gets every byte
//! back (the tests run it).
//!
//! Run: `cargo run --example echo_server -- --port 8888` in one terminal,
//! `cargo run --example proxy -- --port 8000 --upstream 127.0.0.1:8888` in
//! another, then `nc 127.0.0.1 8000`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi, try_run_in_executor};
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

/// Copies `from` to `to` until `from`'s reads end, then half-closes `to`
/// (it sees EOF; the other direction goes on). Resolves with the bytes
/// copied.
fn pipe(from: IOStream, to: IOStream) -> Future<u64> {
    coroutine(async move {
        let mut copied = 0u64;
        while let Ok(data) = from.read_bytes(CHUNK, true).await {
            copied += data.len() as u64;
            if to.write(data).await.is_err() {
                // The writer side is gone: nobody will read the rest.
                from.close();
                return Ok(copied);
            }
        }
        // Every chunk was written before the next read, so the FIN goes
        // after the last byte. A `to` already closed has nothing to end.
        let _ = to.shutdown_write().await;
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
        // A half-closed side must still receive the other direction.
        downstream.set_keep_open_after_eof(true);
        upstream.set_keep_open_after_eof(true);
        let up = pipe(downstream.clone(), upstream.clone());
        let down = pipe(upstream.clone(), downstream.clone());
        match multi((up, down)).await {
            Ok((sent, received)) => {
                println!("{address}: done, {sent} bytes up, {received} bytes down")
            }
            Err(e) => eprintln!("{address}: {e}"),
        }
        upstream.close();
        downstream.close();
    }
}

/// The self-test's upstream: echoes every byte until its peer's EOF.
struct Echo;

impl TcpHandler for Echo {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        while let Ok(data) = stream.read_bytes(CHUNK, true).await {
            if stream.write(data).await.is_err() {
                break;
            }
        }
    }
}

/// A blocking client (on a pool thread): sends `data`, half-closes, and
/// reads everything until the proxy closes.
fn half_closing_client(proxy: SocketAddr, data: Vec<u8>) -> Future<Vec<u8>> {
    try_run_in_executor(move || -> Result<Vec<u8>, std::io::Error> {
        let mut conn = TcpStream::connect(proxy)?;
        conn.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut sending = conn.try_clone()?;
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            sending.write_all(&data)?;
            sending.shutdown(Shutdown::Write)
        });
        let mut back = Vec::new();
        conn.read_to_end(&mut back)?;
        writer.join().expect("writer thread")?;
        Ok(back)
    })
}

/// `--self-test`: an echo upstream and the proxy on ephemeral loopback
/// ports; a client sends 5 MB, half-closes, and must get all 5 MB back
/// followed by the proxy's close.
fn self_test() -> Result<(), Box<dyn std::error::Error>> {
    let echo = TcpServer::new(Echo);
    let echo_addr = echo.listen_on(0, Some("127.0.0.1"))?[0];
    let proxy = TcpServer::new(Proxy {
        upstream: ("127.0.0.1".into(), echo_addr.port()),
        client: TcpClient::new(),
    });
    let proxy_addr = proxy.listen_on(0, Some("127.0.0.1"))?[0];
    const SIZE: usize = 5 * 1000 * 1000;
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let back = IOLoop::current().run_sync(
        move || {
            coroutine(async move {
                let back = half_closing_client(proxy_addr, data).await?;
                // Every connection ends on both servers.
                proxy.shutdown(Duration::from_secs(5)).await?;
                echo.shutdown(Duration::from_secs(5)).await?;
                Ok::<_, Error>(back)
            })
        },
        Some(Duration::from_secs(60)),
    )?;
    if back.len() != expected.len() {
        return Err(format!("sent {} bytes, got {} back", expected.len(), back.len()).into());
    }
    if back != expected {
        return Err("the echoed bytes differ".into());
    }
    println!("proxy self-test ok: {SIZE} bytes through a half-closed connection");
    Ok(())
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
    run(std::env::args().skip(1).collect())
}

const USAGE: &str =
    "usage: proxy --upstream HOST:PORT [--port P] [--address A] | proxy --self-test";

/// The whole program (the tests run it with `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 8000;
    let mut address = String::from("127.0.0.1");
    let mut upstream = None;
    let mut test = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} takes a value"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--address" => address = value()?,
            "--upstream" => upstream = Some(parse_upstream(&value()?)?),
            "--self-test" => test = true,
            other => return Err(format!("unknown argument {other}; {USAGE}").into()),
        }
    }
    if test {
        return self_test();
    }
    let upstream = upstream.ok_or(USAGE)?;
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
