//! Tornado's web-spider demo: N worker coroutines crawl a site over a
//! `Queue`, each fetching a page, queueing the links it finds on the same
//! site, and marking the task done; `join` tells when the crawl is over.
//!
//! The site is the example's own: a small tree of linked pages (plus a
//! broken link and a link off-site, which is not followed) served on
//! 127.0.0.1 by a thread, with a delay per page so that the workers'
//! concurrency shows in the total time. Nothing leaves this machine.
//!
//! Run: `cargo run --example web_spider -- [--port 0] [--concurrency 10]
//! [--delay-ms 20]` (port 0 picks a free one).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tornado::concurrent::{Error, Future};
use tornado::r#gen::{coroutine, multi};
use tornado::ioloop::{Events, IOLoop};
use tornado::queues::Queue;

#[path = "common/logging.rs"]
mod logging;

/// Depth and fan-out of the served tree: 1 + 3 + 9 + 27 = 40 pages.
const DEPTH: usize = 3;
const FANOUT: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::enable_pretty_logging();
    let options = Options::parse()?;
    let server = Server::start(options.port, Duration::from_millis(options.delay_ms))?;
    let base_url = format!("http://{}/", server.addr);
    println!(
        "crawling {base_url} with {} workers ({} ms per page)",
        options.concurrency, options.delay_ms
    );
    let ioloop = IOLoop::current();
    let concurrency = options.concurrency;
    let crawled = ioloop.run_sync(move || coroutine(crawl(base_url, concurrency)), None);
    server.stop();
    let (fetched, dead) = crawled?;
    // The tree's pages, all found; the broken link is the one dead URL.
    assert_eq!(
        fetched,
        (0..=DEPTH).map(|d| FANOUT.pow(d as u32)).sum::<usize>()
    );
    assert_eq!(dead, 1);
    Ok(())
}

// ----- the spider -----------------------------------------------------

/// What the workers share.
#[derive(Default)]
struct Crawl {
    /// URLs a worker started on (each is fetched once).
    fetching: BTreeSet<String>,
    /// URLs fetched.
    fetched: BTreeSet<String>,
    /// URLs that could not be fetched.
    dead: BTreeSet<String>,
}

/// Crawls everything under `base_url`; returns (fetched, dead) counts.
async fn crawl(base_url: String, concurrency: usize) -> Result<(usize, usize), Error> {
    let q: Queue<Option<String>> = Queue::new(0);
    let state = Rc::new(RefCell::new(Crawl::default()));
    let start = Instant::now();
    let workers: Vec<Future<()>> = (0..concurrency)
        .map(|_| coroutine(worker(q.clone(), state.clone(), base_url.clone())))
        .collect();
    q.put(Some(base_url.clone())).await?;
    q.join_timeout(Duration::from_secs(300)).await?;
    let counts = {
        let s = state.borrow();
        assert_eq!(s.fetching, &s.fetched | &s.dead);
        println!(
            "Done in {:.2?}, fetched {} URLs.",
            start.elapsed(),
            s.fetched.len()
        );
        println!("Unable to fetch {} URLs.", s.dead.len());
        (s.fetched.len(), s.dead.len())
    };
    // A `None` stops one worker.
    for _ in 0..concurrency {
        q.put(None).await?;
    }
    multi(workers).await?;
    Ok(counts)
}

async fn worker(
    q: Queue<Option<String>>,
    state: Rc<RefCell<Crawl>>,
    base_url: String,
) -> Result<(), Error> {
    while let Some(url) = q.get().await? {
        if let Err(e) = fetch_url(&url, &q, &state, &base_url).await {
            println!("Exception: {e} {url}");
            state.borrow_mut().dead.insert(url);
        }
        q.task_done()?;
    }
    Ok(())
}

async fn fetch_url(
    url: &str,
    q: &Queue<Option<String>>,
    state: &Rc<RefCell<Crawl>>,
    base_url: &str,
) -> Result<(), Error> {
    if !state.borrow_mut().fetching.insert(url.to_owned()) {
        return Ok(());
    }
    println!("fetching {url}");
    let links = get_links_from_url(url).await?;
    state.borrow_mut().fetched.insert(url.to_owned());
    for link in links {
        if link.starts_with(base_url) {
            q.put(Some(link)).await?;
        }
    }
    Ok(())
}

/// Fetches `url` and returns the absolute URLs it links to.
async fn get_links_from_url(url: &str) -> Result<Vec<String>, Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::msg("only http:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = authority.parse()?;
    let response = fetch(addr, if path.is_empty() { "/" } else { path }).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::msg("malformed response"))?;
    let status = head.split(' ').nth(1).unwrap_or("?");
    if status != "200" {
        return Err(Error::msg(format!("HTTP {status}")));
    }
    let origin = format!("http://{authority}");
    Ok(body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|href| {
            let href = href.split('#').next().unwrap_or(href);
            if href.starts_with('/') {
                format!("{origin}{href}")
            } else {
                href.to_owned()
            }
        })
        .collect())
}

// ----- a tiny HTTP/1.0 client on the loop -----------------------------

/// A request in flight: written when the socket is writable, then read
/// until the server closes the connection.
struct Exchange {
    /// Non-blocking, registered with the loop while the exchange lasts.
    stream: TcpStream,
    /// The whole request, sent first.
    request: Vec<u8>,
    /// Bytes of `request` sent; reading starts once it is all sent.
    written: usize,
    /// Bytes received so far; complete when the server closes.
    response: Vec<u8>,
}

/// What a readiness event led to.
enum Progress {
    /// Waiting for the socket again.
    Pending,
    /// The request is sent: wait for reads now.
    Sent,
    /// The response, or the error that ended the exchange.
    Done(io::Result<Vec<u8>>),
}

impl Exchange {
    fn on_ready(&mut self) -> Progress {
        if self.written < self.request.len() {
            loop {
                match self.stream.write(&self.request[self.written..]) {
                    Ok(n) => {
                        self.written += n;
                        if self.written == self.request.len() {
                            return Progress::Sent;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Pending,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Progress::Done(Err(e)),
                }
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Progress::Done(Ok(std::mem::take(&mut self.response))),
                Ok(n) => self.response.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Pending,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Progress::Done(Err(e)),
            }
        }
    }
}

/// `GET path` from `addr`: the raw response, read by fd handlers on the
/// current loop.
fn fetch(addr: SocketAddr, path: &str) -> Future<Vec<u8>> {
    // A connect to loopback completes at once in the kernel; a client for
    // other hosts would connect non-blocking and wait for writability.
    let stream = match TcpStream::connect(addr).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
        Ok(s) => s,
        Err(e) => return Future::failed(e),
    };
    let fd = stream.as_raw_fd();
    let mut exchange = Exchange {
        stream,
        request: format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").into_bytes(),
        written: 0,
        response: Vec::new(),
    };
    let result = Future::new();
    let (r, ioloop) = (result.clone(), IOLoop::current());
    let l = ioloop.clone();
    let added = ioloop.add_handler(fd, Events::WRITE, move |fd, _| match exchange.on_ready() {
        Progress::Pending => {}
        Progress::Sent => {
            if let Err(e) = l.update_handler(fd, Events::READ) {
                let _ = l.remove_handler(fd);
                let _ = r.set_exception(e);
            }
        }
        Progress::Done(outcome) => {
            // The handler (and with it the socket) is dropped after this
            // call returns, once the fd is no longer registered.
            let _ = l.remove_handler(fd);
            let _ = match outcome {
                Ok(body) => r.set_result(body),
                Err(e) => r.set_exception(e),
            };
        }
    });
    match added {
        Ok(()) => result,
        Err(e) => Future::failed(e),
    }
}

// ----- the site: a thread serving a tree of pages ---------------------

/// The local server; `stop` ends its thread.
struct Server {
    /// Where it listens (127.0.0.1).
    addr: SocketAddr,
    /// Set by `stop`; the accept loop ends at its next connection.
    stopping: Arc<AtomicBool>,
    /// The accept loop.
    thread: JoinHandle<()>,
}

impl Server {
    fn start(port: u16, delay: Duration) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let s = stopping.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    // One thread per connection, like a slow remote site.
                    std::thread::spawn(move || serve(conn, delay));
                }
            }
        });
        Ok(Server {
            addr,
            stopping,
            thread,
        })
    }

    fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        let _ = self.thread.join();
    }
}

fn serve(mut conn: TcpStream, delay: Duration) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let path = request.split(' ').nth(1).unwrap_or("/");
    std::thread::sleep(delay);
    let (status, body) = match page(path) {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", "<h1>not found</h1>".to_owned()),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}

/// The page at `path`: `/`, `/0`, `/0/2`, ... down to `DEPTH` levels, each
/// linking to its children and its parent; the root also links to a
/// missing page and off-site.
fn page(path: &str) -> Option<String> {
    let parts: Vec<usize> = match path.trim_matches('/') {
        "" => Vec::new(),
        p => p
            .split('/')
            .map(|s| s.parse().ok().filter(|&i| i < FANOUT))
            .collect::<Option<_>>()?,
    };
    if parts.len() > DEPTH {
        return None;
    }
    let prefix = if parts.is_empty() {
        String::new()
    } else {
        format!(
            "/{}",
            parts
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("/")
        )
    };
    let mut links = Vec::new();
    if parts.len() < DEPTH {
        links.extend((0..FANOUT).map(|i| format!("{prefix}/{i}")));
    }
    links.push(match prefix.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => prefix[..i].to_owned(),
    });
    if parts.is_empty() {
        links.push("/missing".into());
        links.push("http://example.com/elsewhere".into());
    }
    let anchors: String = links
        .iter()
        .map(|l| format!("<li><a href=\"{l}#top\">{l}</a></li>"))
        .collect();
    Some(format!("<h1>page {path}</h1><ul>{anchors}</ul>"))
}

// ----- options --------------------------------------------------------

/// The command line.
struct Options {
    /// The site's port; 0 for any free one.
    port: u16,
    /// Worker coroutines; at least 1.
    concurrency: usize,
    /// The site's delay per page, in milliseconds.
    delay_ms: u64,
}

impl Options {
    fn parse() -> Result<Options, Box<dyn std::error::Error>> {
        let mut options = Options {
            port: 0,
            concurrency: 10,
            delay_ms: 20,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name.as_str() {
                "--port" => options.port = value()?.parse()?,
                "--concurrency" => options.concurrency = value()?.parse::<usize>()?.max(1),
                "--delay-ms" => options.delay_ms = value()?.parse()?,
                other => {
                    return Err(format!(
                        "unknown option {other}; options: --port N (0: any free port), \
                         --concurrency N, --delay-ms N"
                    )
                    .into());
                }
            }
        }
        Ok(options)
    }
}
