//! The client: `websocket_connect` (Tornado's `websocket_connect` and
//! `WebSocketClientConnection`): TCP (and TLS) through `TcpClient`, the
//! upgrade request, the checks of the answer, then messages read with
//! `read_message` or handed to a callback.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use tornado_concurrent::{Error, Future};
use tornado_gen::{coroutine, spawn};
use tornado_ioloop::IOLoop;
use tornado_iostream::IOStream;
use tornado_queues::Queue;
use tornado_tcp::{ConnectOptions, TcpClient};

use crate::connection::{DEFAULT_MAX_MESSAGE_SIZE, WebSocketConnection, WebSocketOptions};
use crate::deflate::{CompressionOptions, Compressor, Decompressor, client_accept, client_offer};
use crate::error::HandshakeError;
use crate::handshake::{accept_key, has_token, new_key};
use crate::message::Message;
use crate::protocol::{Sink, run};
use crate::reader::FrameReader;

/// Largest handshake answer head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What to connect to, and how (Tornado's `HTTPRequest` for
/// `websocket_connect`).
#[derive(Clone)]
pub struct WebSocketRequest {
    /// `ws://host[:port]/path` or `wss://…`.
    pub url: String,
    /// Extra request headers (e.g. `Origin`, `Cookie`).
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Offer permessage-deflate with these options.
    pub compression_options: Option<CompressionOptions>,
    /// Time allowed for the TCP (and TLS) connection.
    pub connect_timeout: Option<Duration>,
    /// Time allowed for the handshake answer once connected.
    pub request_timeout: Option<Duration>,
    /// Largest incoming message (default 10 MiB); larger ones close 1009.
    pub max_message_size: usize,
    /// Send a keep-alive ping this often.
    pub ping_interval: Option<Duration>,
    /// Close if a ping is not answered within this time.
    pub ping_timeout: Option<Duration>,
    /// The TCP client (its resolver, e.g. an `OverrideResolver` in tests).
    pub tcp_client: Option<TcpClient>,
    /// TLS configuration for `wss://` (rustls; no roots are built in).
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>>,
}

impl WebSocketRequest {
    /// A request for `url` with the defaults (20 s connect and handshake
    /// timeouts, as Tornado's).
    pub fn new(url: impl Into<String>) -> WebSocketRequest {
        WebSocketRequest {
            url: url.into(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            compression_options: None,
            connect_timeout: Some(Duration::from_secs(20)),
            request_timeout: Some(Duration::from_secs(20)),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ping_interval: None,
            ping_timeout: None,
            tcp_client: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl From<&str> for WebSocketRequest {
    fn from(url: &str) -> WebSocketRequest {
        WebSocketRequest::new(url)
    }
}

impl From<String> for WebSocketRequest {
    fn from(url: String) -> WebSocketRequest {
        WebSocketRequest::new(url)
    }
}

/// A `ws://` or `wss://` URL's parts.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// The `Host` header value.
    authority: String,
    /// Path and query.
    resource: String,
}

fn parse_url(url: &str) -> Result<Target, HandshakeError> {
    let bad = || HandshakeError::BadUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        _ => return Err(bad()),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, resource) = rest.split_at(split);
    let resource = if resource.starts_with('/') {
        resource.to_owned()
    } else {
        format!("/{resource}")
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    Ok(Target {
        tls,
        host,
        port,
        authority: authority.to_owned(),
        resource,
    })
}

/// Incoming messages: queued for `read_message`, or given to a callback.
enum Delivery {
    Queue(Queue<Option<Message>>),
    Callback(Box<dyn FnMut(Option<Message>)>),
}

struct ClientSink {
    delivery: Rc<RefCell<Delivery>>,
}

impl Sink for ClientSink {
    async fn on_message(&mut self, _ws: &WebSocketConnection, msg: Message) {
        let put = match &mut *self.delivery.borrow_mut() {
            Delivery::Queue(q) => Some(q.put(Some(msg))),
            Delivery::Callback(cb) => {
                cb(Some(msg));
                None
            }
        };
        // Back-pressure: the next message is read once this one is taken.
        if let Some(put) = put {
            let _ = put.await;
        }
    }
    fn on_ping(&mut self, _ws: &WebSocketConnection, _data: &[u8]) {}
    fn on_pong(&mut self, _ws: &WebSocketConnection, _data: &[u8]) {}
}

/// A client connection (Tornado's `WebSocketClientConnection`).
#[derive(Clone)]
pub struct WebSocketClientConnection {
    ws: WebSocketConnection,
    delivery: Rc<RefCell<Delivery>>,
    /// The connection ended and its end was queued.
    ended: Rc<Cell<bool>>,
}

impl std::fmt::Debug for WebSocketClientConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WebSocketClientConnection")
            .field(&self.ws)
            .finish()
    }
}

impl WebSocketClientConnection {
    /// The next message; `None` once the connection is closed. Only for
    /// connections made without a callback.
    pub fn read_message(&self) -> Future<Option<Message>> {
        let q = match &*self.delivery.borrow() {
            Delivery::Queue(q) => q.clone(),
            Delivery::Callback(_) => return Future::resolved(None),
        };
        if let Ok(item) = q.get_nowait() {
            return Future::resolved(item);
        }
        if self.ended.get() {
            return Future::resolved(None);
        }
        q.get()
    }

    /// Sends a message; see [`WebSocketConnection::write_message`].
    pub fn write_message(&self, message: impl Into<Message>) -> Future<()> {
        self.ws.write_message(message)
    }

    /// Sends a ping.
    pub fn ping(&self, data: impl AsRef<[u8]>) -> Future<()> {
        self.ws.ping(data)
    }

    /// Starts the close handshake.
    pub fn close(&self, code: Option<u16>, reason: &str) {
        self.ws.close(code, reason);
    }

    /// The underlying connection (close code, subprotocol, …).
    pub fn connection(&self) -> &WebSocketConnection {
        &self.ws
    }

    /// The subprotocol the server selected.
    pub fn selected_subprotocol(&self) -> Option<&str> {
        self.ws.selected_subprotocol()
    }

    /// The code of the server's close frame, once it came.
    pub fn close_code(&self) -> Option<u16> {
        self.ws.close_code()
    }

    /// The reason of the server's close frame, once it came.
    pub fn close_reason(&self) -> Option<String> {
        self.ws.close_reason()
    }
}

/// Connects to a WebSocket server: the future resolves once the
/// handshake succeeded. Read with
/// [`read_message`](WebSocketClientConnection::read_message).
pub fn websocket_connect(
    request: impl Into<WebSocketRequest>,
) -> Future<WebSocketClientConnection> {
    connect(request.into(), None)
}

/// As [`websocket_connect`], every message (then `None` at the end) going
/// to `on_message` instead of `read_message`.
pub fn websocket_connect_with_callback(
    request: impl Into<WebSocketRequest>,
    on_message: impl FnMut(Option<Message>) + 'static,
) -> Future<WebSocketClientConnection> {
    connect(request.into(), Some(Box::new(on_message)))
}

fn connect(
    req: WebSocketRequest,
    callback: Option<Box<dyn FnMut(Option<Message>)>>,
) -> Future<WebSocketClientConnection> {
    coroutine(async move {
        let target = parse_url(&req.url)?;
        let client = req.tcp_client.clone().unwrap_or_default();
        let mut opts = ConnectOptions::new();
        if let Some(t) = req.connect_timeout {
            opts = opts.timeout(t);
        }
        if target.tls {
            #[cfg(feature = "tls")]
            match &req.tls {
                Some(cfg) => opts = opts.tls(cfg.clone()),
                None => {
                    return Err(Error::new(HandshakeError::BadUrl(format!(
                        "{} (wss:// needs a TLS configuration)",
                        req.url
                    ))));
                }
            }
            #[cfg(not(feature = "tls"))]
            return Err(Error::new(HandshakeError::BadUrl(format!(
                "{} (built without TLS)",
                req.url
            ))));
        }
        let stream = client
            .connect_with(&target.host, target.port, &opts)
            .await?;
        let key = new_key();
        drop(stream.write(request_head(&req, &target, &key)));
        // The handshake timeout closes the stream, which fails the read.
        let timed_out = Rc::new(Cell::new(false));
        let timer = req.request_timeout.map(|t| {
            let (s, flag) = (stream.clone(), timed_out.clone());
            IOLoop::current().call_later(t, move || {
                flag.set(true);
                s.close();
            })
        });
        let head = stream.read_until_limited(b"\r\n\r\n", MAX_HEAD).await;
        if let Some(t) = timer {
            IOLoop::current().remove_timeout(t);
        }
        let head = match head {
            Ok(h) => h,
            Err(_) if timed_out.get() => return Err(Error::new(HandshakeError::Timeout)),
            Err(e) => {
                stream.close();
                return Err(e);
            }
        };
        let (subprotocol, agreed) = match check_response(&head, &key, &req) {
            Ok(v) => v,
            Err(e) => {
                stream.close();
                return Err(Error::new(e));
            }
        };
        Ok(open(stream, req, subprotocol, agreed, callback))
    })
}

fn request_head(req: &WebSocketRequest, target: &Target, key: &str) -> Vec<u8> {
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        target.resource, target.authority
    );
    if !req.subprotocols.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            req.subprotocols.join(", ")
        ));
    }
    if let Some(c) = &req.compression_options {
        head.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            client_offer(c)
        ));
    }
    for (k, v) in &req.headers {
        // Header injection: values with line breaks are left out.
        if !k.contains(['\r', '\n', ':']) && !v.contains(['\r', '\n']) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    head.into_bytes()
}

type Accepted = (Option<String>, Option<crate::deflate::Agreed>);

/// Checks the server's answer (RFC 6455 §4.1).
fn check_response(
    head: &[u8],
    key: &str,
    req: &WebSocketRequest,
) -> Result<Accepted, HandshakeError> {
    let invalid = |why: &str| HandshakeError::Invalid(why.to_owned());
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("malformed HTTP response head")),
    }
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::Status(code));
    }
    let get = |name: &str| -> Vec<String> {
        resp.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
            .collect()
    };
    if !get("Upgrade")
        .iter()
        .any(|u| u.eq_ignore_ascii_case("websocket"))
    {
        return Err(invalid("no \"Upgrade: websocket\""));
    }
    if !get("Connection").iter().any(|c| has_token(c, "upgrade")) {
        return Err(invalid("no \"Connection: Upgrade\""));
    }
    if get("Sec-WebSocket-Accept").first().map(String::as_str) != Some(accept_key(key).as_str()) {
        return Err(invalid("wrong Sec-WebSocket-Accept"));
    }
    let protocols = get("Sec-WebSocket-Protocol");
    let subprotocol = match protocols.as_slice() {
        [] => None,
        [p] if req.subprotocols.contains(p) => Some(p.clone()),
        _ => return Err(invalid("a subprotocol that was not offered")),
    };
    let extensions = get("Sec-WebSocket-Extensions").join(", ");
    let agreed = match &req.compression_options {
        Some(o) => {
            client_accept(&extensions, o).map_err(|e| HandshakeError::Invalid(e.to_string()))?
        }
        None if extensions.is_empty() => None,
        None => return Err(invalid("an extension that was not offered")),
    };
    Ok((subprotocol, agreed))
}

/// The handshake succeeded: the connection and its receive loop.
fn open(
    stream: IOStream,
    req: WebSocketRequest,
    subprotocol: Option<String>,
    agreed: Option<crate::deflate::Agreed>,
    callback: Option<Box<dyn FnMut(Option<Message>)>>,
) -> WebSocketClientConnection {
    let options = WebSocketOptions {
        max_message_size: req.max_message_size,
        ping_interval: req.ping_interval,
        ping_timeout: req.ping_timeout,
        ..WebSocketOptions::default()
    };
    let (compressor, decompressor) = match (&agreed, &req.compression_options) {
        (Some(a), Some(o)) => (
            Some(Compressor::new(
                a.client_max_window_bits,
                a.client_no_context_takeover,
                o,
            )),
            Some(Decompressor::new(a.server_no_context_takeover)),
        ),
        _ => (None, None),
    };
    let ws = WebSocketConnection::new(stream.clone(), true, options, subprotocol, compressor);
    let delivery = Rc::new(RefCell::new(match callback {
        Some(cb) => Delivery::Callback(cb),
        None => Delivery::Queue(Queue::new(1)),
    }));
    let ended = Rc::new(Cell::new(false));
    let conn = WebSocketClientConnection {
        ws: ws.clone(),
        delivery: delivery.clone(),
        ended: ended.clone(),
    };
    spawn(async move {
        let reader = FrameReader::new(stream, Vec::new());
        let mut sink = ClientSink {
            delivery: delivery.clone(),
        };
        run(&ws, reader, decompressor, &mut sink).await;
        ended.set(true);
        match &mut *delivery.borrow_mut() {
            // Wakes a reader waiting in `get`; if the queue is full, the
            // reader finds the end after taking the last message.
            Delivery::Queue(q) => drop(q.put_nowait(None)),
            Delivery::Callback(cb) => cb(None),
        }
        Ok::<(), Error>(())
    });
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("ws://example.com/chat?x=1").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.resource.as_str()),
            (false, "example.com", 80, "/chat?x=1")
        );
        let t = parse_url("wss://[::1]:8443").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.resource.as_str()),
            (true, "::1", 8443, "/")
        );
        assert_eq!(t.authority, "[::1]:8443");
        let t = parse_url("ws://h:81?q").unwrap();
        assert_eq!((t.port, t.resource.as_str()), (81, "/?q"));
        for bad in [
            "ftp://x/",
            "ws://",
            "ws://h:99999/",
            "ws://u@h/",
            "nonsense",
            "ws://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
