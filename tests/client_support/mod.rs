//! Local servers for the HTTP client tests: a scripted raw HTTP/1.1
//! server (what it answers to each request on each connection, counting
//! connections and concurrency), a small HTTP proxy (absolute-form and
//! `CONNECT`), and a test CA issuing certificates (rcgen).
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tornado::concurrent::Future;
use tornado::r#gen::sleep;
use tornado::http::HttpClientError;
use tornado::ioloop::IOLoop;
use tornado::iostream::IOStream;
use tornado::tcp::{TcpClient, TcpHandler, TcpServer};

/// Runs `f`'s future on the current loop (20 s at most).
pub fn run<T: 'static>(
    f: impl FnOnce() -> Future<T> + 'static,
) -> Result<T, tornado::ioloop::Error> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(20)))
}

/// The client error inside a failed run.
pub fn client_error(e: tornado::ioloop::Error) -> HttpClientError {
    let text = format!("{e:?}");
    match e {
        tornado::ioloop::Error::Future(e) => e
            .downcast_ref::<HttpClientError>()
            .cloned()
            .unwrap_or_else(|| panic!("not a client error: {text}")),
        other => panic!("not a future's error: {other:?}"),
    }
}

/// A request as the raw server read it.
#[derive(Clone, Debug)]
pub struct Req {
    /// Which connection (0 = the first accepted).
    pub conn: usize,
    /// Which request on that connection (0 = the first).
    pub index: usize,
    /// The request line and headers.
    pub head: String,
    /// The body (de-chunked), kept up to 1 MiB.
    pub body: Vec<u8>,
    /// The body's full length.
    pub body_len: u64,
}

impl Req {
    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        crate::common::head::header(&self.head, name)
    }
}

/// What the raw server does with a request.
pub enum Action {
    /// Writes these bytes and reads the next request.
    Reply(Vec<u8>),
    /// Writes these bytes and closes.
    ReplyClose(Vec<u8>),
    /// Closes without answering.
    Close,
    /// Waits, then does the action.
    After(Duration, Box<Action>),
    /// Writes the bytes one at a time, this long apart, then closes.
    Trickle(Vec<u8>, Duration),
}

/// A keep-alive answer with a body.
pub fn ok(body: &str) -> Action {
    Action::Reply(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// The scripted server's handler.
pub struct Raw {
    script: Box<dyn Fn(&Req) -> Action>,
    pub conns: Rc<Cell<usize>>,
    pub requests: Rc<RefCell<Vec<Req>>>,
    pub active: Rc<Cell<usize>>,
    pub peak: Rc<Cell<usize>>,
    pub peers: Rc<RefCell<Vec<SocketAddr>>>,
}

/// A scripted server on 127.0.0.1 and its base URL.
pub struct RawServer {
    pub server: TcpServer<Raw>,
    pub url: String,
    pub addr: SocketAddr,
    pub conns: Rc<Cell<usize>>,
    pub requests: Rc<RefCell<Vec<Req>>>,
    pub peak: Rc<Cell<usize>>,
    /// The address of each connection's client.
    pub peers: Rc<RefCell<Vec<SocketAddr>>>,
}

impl RawServer {
    /// Serves `script` on an ephemeral loopback port.
    pub fn start(script: impl Fn(&Req) -> Action + 'static) -> RawServer {
        let raw = Raw {
            script: Box::new(script),
            conns: Rc::default(),
            requests: Rc::default(),
            active: Rc::default(),
            peak: Rc::default(),
            peers: Rc::default(),
        };
        let (conns, requests, peak) = (raw.conns.clone(), raw.requests.clone(), raw.peak.clone());
        let peers = raw.peers.clone();
        let server = TcpServer::new(raw);
        let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
        RawServer {
            server,
            url: format!("http://{addr}"),
            addr,
            conns,
            requests,
            peak,
            peers,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.get()
    }

    /// Requests read so far.
    pub fn request_count(&self) -> usize {
        self.requests.borrow().len()
    }
}

/// Reads a body framed by `head` (Content-Length or chunked), keeping at
/// most 1 MiB of it.
async fn read_body(
    stream: &IOStream,
    head: &str,
) -> Result<(Vec<u8>, u64), tornado::concurrent::Error> {
    let probe = Req {
        conn: 0,
        index: 0,
        head: head.to_owned(),
        body: Vec::new(),
        body_len: 0,
    };
    let mut body = Vec::new();
    let mut total = 0u64;
    let mut keep = |piece: &[u8], total: &mut u64| {
        *total += piece.len() as u64;
        if body.len() < 1 << 20 {
            body.extend_from_slice(&piece[..piece.len().min((1 << 20) - body.len())]);
        }
    };
    if probe
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let line = stream.read_until(b"\r\n", Some(100)).await?;
            let size = usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16)?;
            if size == 0 {
                stream.read_until(b"\r\n", Some(100)).await?;
                break;
            }
            let mut left = size;
            while left > 0 {
                let piece = stream.read_bytes(left.min(1 << 16), true).await?;
                left -= piece.len();
                keep(&piece, &mut total);
            }
            stream.read_bytes(2, false).await?;
        }
    } else if let Some(n) = probe.header("Content-Length") {
        let mut left: usize = n.parse()?;
        while left > 0 {
            let piece = stream.read_bytes(left.min(1 << 16), true).await?;
            left -= piece.len();
            keep(&piece, &mut total);
        }
    }
    Ok((body, total))
}

impl TcpHandler for Raw {
    async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
        self.peers.borrow_mut().push(address);
        let conn = self.conns.get();
        self.conns.set(conn + 1);
        let mut index = 0;
        while let Ok(head) = stream.read_until(b"\r\n\r\n", Some(65536)).await {
            let head = String::from_utf8_lossy(&head).into_owned();
            // A path with "/no-continue" answers an `Expect: 100-continue`
            // request without reading its body, as a server refusing it.
            let refuse = head
                .lines()
                .next()
                .is_some_and(|l| l.contains("/no-continue"));
            let (body, body_len) = if refuse {
                (Vec::new(), 0)
            } else if head.to_ascii_lowercase().contains("expect: 100-continue") {
                if stream
                    .write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec())
                    .await
                    .is_err()
                {
                    break;
                }
                match read_body(&stream, &head).await {
                    Ok(b) => b,
                    Err(_) => break,
                }
            } else {
                match read_body(&stream, &head).await {
                    Ok(b) => b,
                    Err(_) => break,
                }
            };
            let req = Req {
                conn,
                index,
                head,
                body,
                body_len,
            };
            index += 1;
            self.requests.borrow_mut().push(req.clone());
            self.active.set(self.active.get() + 1);
            self.peak.set(self.peak.get().max(self.active.get()));
            let mut action = (self.script)(&req);
            let keep_going = loop {
                match action {
                    Action::After(d, next) => {
                        sleep(d).await;
                        action = *next;
                    }
                    Action::Reply(bytes) => break stream.write(bytes).await.is_ok(),
                    Action::ReplyClose(bytes) => {
                        let _ = stream.write(bytes).await;
                        break false;
                    }
                    Action::Close => break false,
                    Action::Trickle(bytes, gap) => {
                        for b in bytes {
                            if stream.write(vec![b]).await.is_err() {
                                break;
                            }
                            sleep(gap).await;
                        }
                        break false;
                    }
                }
            };
            self.active.set(self.active.get() - 1);
            if !keep_going {
                break;
            }
        }
        stream.close();
    }
}

/// A small HTTP proxy: absolute-form requests are forwarded (one per
/// connection) with an origin-form target; `CONNECT host:port` opens a
/// tunnel, or is refused with 403 for ports in `refuse`. With
/// `credentials`, requests without that `Proxy-Authorization` get 407.
pub struct Proxy {
    pub seen: Rc<RefCell<Vec<String>>>,
    pub refuse: Vec<u16>,
    pub credentials: Option<String>,
}

/// A running proxy and its port.
pub struct ProxyServer {
    pub server: TcpServer<Proxy>,
    pub port: u16,
    /// Each request head the proxy received (its first line and
    /// `Proxy-Authorization`, if any).
    pub seen: Rc<RefCell<Vec<String>>>,
}

impl ProxyServer {
    pub fn start(refuse: Vec<u16>, credentials: Option<&str>) -> ProxyServer {
        let seen: Rc<RefCell<Vec<String>>> = Rc::default();
        let server = TcpServer::new(Proxy {
            seen: seen.clone(),
            refuse,
            credentials: credentials.map(str::to_owned),
        });
        let port = server.listen_on(0, Some("127.0.0.1")).unwrap()[0].port();
        ProxyServer { server, port, seen }
    }
}

/// Copies `from` to `to` until `from` closes, then closes `to`.
async fn pipe(from: IOStream, to: IOStream) {
    while let Ok(bytes) = from.read_bytes(1 << 16, true).await {
        if to.write(bytes).await.is_err() {
            break;
        }
    }
    to.close();
}

impl TcpHandler for Proxy {
    async fn handle_stream(&self, client: IOStream, _address: SocketAddr) {
        let Ok(head) = client.read_until(b"\r\n\r\n", Some(65536)).await else {
            return;
        };
        let head = String::from_utf8_lossy(&head).into_owned();
        let req = Req {
            conn: 0,
            index: 0,
            head: head.clone(),
            body: Vec::new(),
            body_len: 0,
        };
        let line = req.line().to_owned();
        let auth = req.header("Proxy-Authorization");
        self.seen.borrow_mut().push(match &auth {
            Some(a) => format!("{line} | {a}"),
            None => line.clone(),
        });
        if self.credentials.is_some() && auth != self.credentials {
            let _ = client
                .write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                        .to_vec(),
                )
                .await;
            client.close();
            return;
        }
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if method == "CONNECT" {
            let (host, port) = target.rsplit_once(':').unwrap();
            let port: u16 = port.parse().unwrap();
            if self.refuse.contains(&port) {
                let _ = client
                    .write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec())
                    .await;
                client.close();
                return;
            }
            let host = if host == "localhost" {
                "127.0.0.1"
            } else {
                host
            };
            let Ok(upstream) = TcpClient::new().connect(host, port, None).await else {
                client.close();
                return;
            };
            if client
                .write(b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec())
                .await
                .is_err()
            {
                return;
            }
            spawn_pipe(upstream.clone(), client.clone());
            pipe(client, upstream).await;
            return;
        }
        // Absolute form: http://host:port/path
        let rest = target.strip_prefix("http://").unwrap_or(target);
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
        let Ok(upstream) = TcpClient::new()
            .connect(host, port.parse().unwrap_or(80), None)
            .await
        else {
            client.close();
            return;
        };
        let mut forwarded = format!(
            "{method} {} HTTP/1.1\r\n",
            if path.is_empty() { "/" } else { path }
        );
        for l in head.split("\r\n").skip(1) {
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !l.is_empty() && name != "proxy-authorization" && name != "connection" {
                forwarded.push_str(l);
                forwarded.push_str("\r\n");
            }
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        if upstream.write(forwarded.into_bytes()).await.is_err() {
            client.close();
            return;
        }
        pipe(upstream, client).await;
    }
}

/// Pipes the client's bytes to the upstream of a tunnel; spawned for each
/// direction.
pub fn spawn_pipe(from: IOStream, to: IOStream) {
    tornado::r#gen::spawn(async move {
        pipe(from, to).await;
        Ok(())
    });
}
