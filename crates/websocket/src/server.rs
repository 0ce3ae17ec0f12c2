//! `WebSocketHandler` and its routing adapter (Tornado's
//! `WebSocketHandler.get` and `_accept_connection`): the upgrade checks,
//! origin, subprotocol and compression, the `101` answer on the detached
//! stream, then the connection's life from `open` to `on_close`.

use std::future::Future as StdFuture;
use std::time::Duration;

use tornado_concurrent::CatchUnwind;
use tornado_http::httputil::HttpHeaders;
use tornado_web::{Context, HandlerResult, HttpError, RequestHandler};

use crate::connection::{WebSocketConnection, WebSocketOptions};
use crate::deflate::{CompressionOptions, Compressor, Decompressor, server_accept};
use crate::handshake::{accept_key, has_token, same_origin, valid_key};
use crate::message::Message;
use crate::protocol::{Sink, guarded, handler_panicked, run};
use crate::reader::FrameReader;

/// A WebSocket endpoint (Tornado's `WebSocketHandler`). Route it with the
/// [`WebSocket`] adapter: `route("/ws", WebSocket(ChatSocket))`. The value
/// is cloned for each connection.
pub trait WebSocketHandler: Clone + 'static {
    /// Runs before the handshake, like `RequestHandler::prepare`: headers
    /// set on `cx` here go out with the `101` answer; an error refuses the
    /// connection with its status.
    fn prepare(&mut self, cx: &mut Context) -> impl StdFuture<Output = HandlerResult> {
        let _ = cx;
        async { Ok(()) }
    }

    /// The connection is open (the handshake was sent). `cx` has the
    /// request: path arguments, headers, cookies. Messages are read only
    /// once this is done; an error closes the connection.
    fn open(
        &mut self,
        cx: &mut Context,
        ws: &WebSocketConnection,
    ) -> impl StdFuture<Output = HandlerResult> {
        let _ = (cx, ws);
        async { Ok(()) }
    }

    /// A message arrived. The next one is not delivered until this is done.
    fn on_message(&mut self, ws: &WebSocketConnection, msg: Message)
    -> impl StdFuture<Output = ()>;

    /// A ping arrived (it is answered already).
    fn on_ping(&mut self, ws: &WebSocketConnection, data: &[u8]) {
        let _ = (ws, data);
    }

    /// A pong arrived.
    fn on_pong(&mut self, ws: &WebSocketConnection, data: &[u8]) {
        let _ = (ws, data);
    }

    /// The connection is over; `code` and `reason` are from the peer's
    /// close frame, if one came.
    fn on_close(&mut self, code: Option<u16>, reason: Option<&str>) {
        let _ = (code, reason);
    }

    /// Picks one of the subprotocols the client offers (in its order), or
    /// none.
    fn select_subprotocol(&mut self, cx: &Context, subprotocols: &[String]) -> Option<String> {
        let _ = (cx, subprotocols);
        None
    }

    /// Whether a browser page from `origin` may connect. The default, as
    /// Tornado's, allows only the request's own host; others get a 403.
    fn check_origin(&self, cx: &Context, origin: &str) -> bool {
        same_origin(origin, cx.request().headers.get("Host").unwrap_or(""))
    }

    /// Compression to accept (permessage-deflate), or `None` (the
    /// default) for none.
    fn get_compression_options(&self, cx: &Context) -> Option<CompressionOptions> {
        let _ = cx;
        None
    }

    /// The connection's limits. The default reads the application's
    /// `extra` settings `websocket_max_message_size` (bytes),
    /// `websocket_ping_interval` and `websocket_ping_timeout` (seconds).
    fn websocket_options(&self, cx: &Context) -> WebSocketOptions {
        options_from_settings(cx)
    }
}

/// Tornado's `websocket_*` application settings, from `Settings::extra`.
fn options_from_settings(cx: &Context) -> WebSocketOptions {
    let extra = &cx.settings().extra;
    let secs = |k: &str| {
        extra
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
    };
    let mut o = WebSocketOptions::default();
    if let Some(n) = extra
        .get("websocket_max_message_size")
        .and_then(|v| v.parse().ok())
    {
        o.max_message_size = n;
    }
    o.ping_interval = secs("websocket_ping_interval");
    o.ping_timeout = secs("websocket_ping_timeout");
    o
}

/// Routes a [`WebSocketHandler`] in a `web::Application`:
/// `route("/ws", WebSocket(MySocket))`.
#[derive(Clone)]
pub struct WebSocket<H>(pub H);

/// Delivers a connection's events to a handler.
struct HandlerSink<'a, H>(&'a mut H);

impl<H: WebSocketHandler> Sink for HandlerSink<'_, H> {
    fn on_message(
        &mut self,
        ws: &WebSocketConnection,
        msg: Message,
    ) -> impl StdFuture<Output = ()> {
        self.0.on_message(ws, msg)
    }
    fn on_ping(&mut self, ws: &WebSocketConnection, data: &[u8]) {
        self.0.on_ping(ws, data);
    }
    fn on_pong(&mut self, ws: &WebSocketConnection, data: &[u8]) {
        self.0.on_pong(ws, data);
    }
}

/// A refusal with a plain message, as Tornado's handshake errors.
fn refuse(cx: &mut Context, status: u16, why: &str) -> HandlerResult {
    cx.set_status(status);
    cx.write(why);
    log::info!(target: "tornado.general", "WebSocket handshake refused ({status}): {why}");
    cx.finish();
    Ok(())
}

impl<H: WebSocketHandler> RequestHandler for WebSocket<H> {
    async fn prepare(&mut self, cx: &mut Context) -> HandlerResult {
        self.0.prepare(cx).await
    }

    async fn get(&mut self, cx: &mut Context) -> HandlerResult {
        let h = &mut self.0;
        let headers = &cx.request().headers;
        if !headers
            .get("Upgrade")
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
        {
            return refuse(cx, 400, "Can \"Upgrade\" only to \"WebSocket\".");
        }
        if !headers
            .get_all("Connection")
            .any(|c| has_token(c, "upgrade"))
        {
            return refuse(cx, 400, "\"Connection\" must be \"Upgrade\".");
        }
        let origin = headers
            .get("Origin")
            .or_else(|| headers.get("Sec-Websocket-Origin"))
            .map(str::to_owned);
        if let Some(origin) = origin {
            if !h.check_origin(cx, &origin) {
                return refuse(cx, 403, "Cross origin websockets not allowed");
            }
        }
        let headers = &cx.request().headers;
        let version = headers.get("Sec-WebSocket-Version").unwrap_or("").trim();
        if !matches!(version, "7" | "8" | "13") {
            cx.set_header("Sec-WebSocket-Version", "7, 8, 13");
            return refuse(cx, 426, "Upgrade Required");
        }
        let key = match headers.get("Sec-WebSocket-Key") {
            Some(k) if valid_key(k) => k.trim().to_owned(),
            _ => return refuse(cx, 400, "Missing/Invalid WebSocket key"),
        };
        let offered: Vec<String> = headers
            .get_all("Sec-WebSocket-Protocol")
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let extensions = headers
            .get_all("Sec-WebSocket-Extensions")
            .collect::<Vec<_>>()
            .join(", ");
        let subprotocol = if offered.is_empty() {
            None
        } else {
            match guarded_value(|| h.select_subprotocol(cx, &offered)) {
                Ok(Some(p)) if offered.contains(&p) => Some(p),
                Ok(Some(p)) => {
                    log::error!(target: "tornado.application", "select_subprotocol chose {p:?}, which the client did not offer");
                    None
                }
                Ok(None) => None,
                Err(e) => return Err(HttpError::new(500).with_log_message(e)),
            }
        };
        let compression = h.get_compression_options(cx);
        let agreed = compression
            .as_ref()
            .and_then(|o| server_accept(&extensions, o).map(|(a, hdr)| (a, hdr, o.clone())));
        let options = h.websocket_options(cx);

        // The answer: 101 and the handshake headers, plus what the handler
        // set (minus the body's headers).
        let mut out = HttpHeaders::new();
        for (k, v) in cx.response_headers().iter() {
            if !k.eq_ignore_ascii_case("Content-Type") && !k.eq_ignore_ascii_case("Content-Length")
            {
                out.add(k, v);
            }
        }
        out.set("Upgrade", "websocket");
        out.set("Connection", "Upgrade");
        out.set("Sec-WebSocket-Accept", accept_key(&key));
        if let Some(p) = &subprotocol {
            out.set("Sec-WebSocket-Protocol", p.as_str());
        }
        if let Some((_, hdr, _)) = &agreed {
            out.set("Sec-WebSocket-Extensions", hdr.as_str());
        }
        cx.set_status(101);
        let Some(detached) = cx.detach() else {
            // The client left, or a response was already started.
            return Ok(());
        };
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        out.write_to(&mut head);
        head.extend_from_slice(b"\r\n");
        drop(detached.stream.write(head));

        let (compressor, decompressor) = match &agreed {
            Some((a, _, o)) => (
                Some(Compressor::new(
                    a.server_max_window_bits,
                    a.server_no_context_takeover,
                    o,
                )),
                Some(Decompressor::new(a.client_no_context_takeover)),
            ),
            None => (None, None),
        };
        let ws = WebSocketConnection::new(
            detached.stream.clone(),
            false,
            options,
            subprotocol,
            compressor,
        );
        let reader = FrameReader::new(detached.stream, detached.buffered);
        match CatchUnwind::new(h.open(cx, &ws)).await {
            Ok(Ok(())) => {
                run(&ws, reader, decompressor, &mut HandlerSink(h)).await;
            }
            Ok(Err(e)) => {
                log::warn!(target: "tornado.general", "WebSocket open failed: {e}");
                ws.fail(1011, "open failed");
                let _ = ws.closed().await;
                ws.finished();
            }
            Err(p) => {
                handler_panicked(&ws, "open", &p);
                let _ = ws.closed().await;
                ws.finished();
            }
        }
        let (code, reason) = (ws.close_code(), ws.close_reason());
        if let Err(p) = guarded(|| h.on_close(code, reason.as_deref())) {
            log::error!(target: "tornado.application", "Uncaught exception in WebSocket on_close: {p}");
        }
        Ok(())
    }
}

/// Runs a synchronous handler method that returns a value, catching a
/// panic.
fn guarded_value<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let mut out = None;
    guarded(|| out = Some(f()))?;
    Ok(out.expect("set unless it panicked"))
}
