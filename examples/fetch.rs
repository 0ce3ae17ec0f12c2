//! Fetches URLs with one `HttpClient` (Tornado's `AsyncHTTPClient`), all at
//! once up to `--max-clients`, each `--repeat` times, and prints a line per
//! response (`status bytes ms`) and a last line `fetched N in T ms`.
//! `--stream` takes bodies through `streaming_callback` and keeps none.
//! Connections are kept alive: with `--max-clients 1` every request to one
//! server goes over a single TCP connection.
//!
//! Run: `cargo run --example fetch -- [--max-clients N] [--repeat K]
//! [--stream] URL...`; `--self-test` serves on an ephemeral port (a server
//! counting its connections), fetches from it 1,000 times with
//! `--max-clients 1`, and checks that one connection carried them all.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use tornado::concurrent::Future;
use tornado::r#gen::{coroutine, multi};
use tornado::http::{HttpClient, HttpClientOptions, HttpRequest};
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::{TcpHandler, TcpServer};

/// What the command line asks for.
struct Args {
    max_clients: usize,
    repeat: usize,
    stream: bool,
    quiet: bool,
    urls: Vec<String>,
    self_test: bool,
}

fn parse(args: Vec<String>) -> Result<Args, Box<dyn std::error::Error>> {
    let mut out = Args {
        max_clients: 10,
        repeat: 1,
        stream: false,
        quiet: false,
        urls: Vec::new(),
        self_test: false,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--max-clients" => out.max_clients = value("--max-clients")?.parse()?,
            "--repeat" => out.repeat = value("--repeat")?.parse()?,
            "--stream" => out.stream = true,
            "--quiet" => out.quiet = true,
            "--self-test" => out.self_test = true,
            s if s.starts_with("--") => return Err(format!("unknown option {s}").into()),
            url => out.urls.push(url.to_owned()),
        }
    }
    if out.max_clients == 0 || out.repeat == 0 {
        return Err("--max-clients and --repeat must be at least 1".into());
    }
    if out.urls.is_empty() && !out.self_test {
        return Err("usage: fetch [--max-clients N] [--repeat K] [--stream] URL...".into());
    }
    Ok(out)
}

/// The outcome of a run: responses, bytes, connections the client opened.
struct Summary {
    fetched: usize,
    bytes: u64,
    connections: u64,
}

/// Fetches every URL `repeat` times through one client.
fn fetch_all(args: &Args) -> Future<Summary> {
    let client = HttpClient::new(HttpClientOptions::new().max_clients(args.max_clients));
    let start = Instant::now();
    let mut fetches = Vec::new();
    for url in &args.urls {
        for _ in 0..args.repeat {
            let streamed = Rc::new(Cell::new(0u64));
            let mut request = HttpRequest::with_url(url.clone());
            if args.stream {
                let s = streamed.clone();
                request =
                    request.streaming_callback(move |piece| s.set(s.get() + piece.len() as u64));
            }
            let f = client.fetch_request(request);
            let quiet = args.quiet;
            fetches.push(coroutine(async move {
                let r = f.await?;
                let bytes = r.body.len() as u64 + streamed.get();
                if !quiet {
                    println!("{} {} {}", r.code, bytes, r.request_time.as_millis());
                }
                Ok(bytes)
            }));
        }
    }
    coroutine(async move {
        let sizes = multi(fetches).await?;
        let fetched = sizes.len();
        println!("fetched {fetched} in {} ms", start.elapsed().as_millis());
        let connections = client.connections_opened();
        client.close();
        Ok(Summary {
            fetched,
            bytes: sizes.iter().sum(),
            connections,
        })
    })
}

/// A keep-alive server answering "hello" to every request, counting the
/// connections it accepts.
struct Hello {
    connections: Rc<Cell<usize>>,
}

impl TcpHandler for Hello {
    async fn handle_stream(&self, stream: IOStream, _addr: SocketAddr) {
        self.connections.set(self.connections.get() + 1);
        while stream.read_until(b"\r\n\r\n", Some(65536)).await.is_ok() {
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
            if stream.write(reply).await.is_err() {
                break;
            }
        }
    }
}

fn self_test(stream: bool) -> Result<(), Box<dyn std::error::Error>> {
    let connections = Rc::new(Cell::new(0));
    let server = TcpServer::new(Hello {
        connections: connections.clone(),
    });
    let addr = server.listen_on(0, Some("127.0.0.1"))?[0];
    let args = Args {
        max_clients: 1,
        repeat: 1000,
        stream,
        quiet: true,
        urls: vec![format!("http://{addr}/")],
        self_test: true,
    };
    let summary = IOLoop::current().run_sync(move || fetch_all(&args), None)?;
    if summary.fetched != 1000 || summary.bytes != 5000 {
        return Err(format!("fetched {} ({} bytes)", summary.fetched, summary.bytes).into());
    }
    if connections.get() != 1 || summary.connections != 1 {
        return Err(format!(
            "1000 requests with --max-clients 1 used {} connections (client opened {})",
            connections.get(),
            summary.connections
        )
        .into());
    }
    println!("self-test ok: 1000 requests over 1 connection");
    Ok(())
}

#[path = "common/logging.rs"]
mod logging;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    run(std::env::args().skip(1).collect())
}

/// The program, given its arguments (also called by the tests with
/// `--self-test`).
pub fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let args = parse(args)?;
    if args.self_test {
        return self_test(args.stream);
    }
    IOLoop::current()
        .run_sync(move || fetch_all(&args), None)
        .map_err(|e| e.to_string())?;
    Ok(())
}
