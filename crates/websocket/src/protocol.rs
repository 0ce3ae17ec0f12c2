//! The receiving side of a WebSocket, shared by server and client
//! (Tornado's `WebSocketProtocol13._receive_frame_loop` and
//! `_handle_message`): frames reassembled into messages within the size
//! limit, text checked as UTF-8 as it comes, control frames answered,
//! protocol errors failing the connection with the right code.

use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, catch_unwind};

use tornado_concurrent::{CatchUnwind, panic_message};

use crate::connection::WebSocketConnection;
use crate::deflate::{Decompressor, InflateFailure};
use crate::frame::{
    Expect, FrameHeader, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use crate::message::Message;
use crate::reader::{FrameReader, ReadFailure};
use crate::utf8::Utf8Validator;

/// Where a connection's incoming messages and control frames go.
pub(crate) trait Sink {
    /// A whole message; the next is not read until this is done.
    fn on_message(&mut self, ws: &WebSocketConnection, msg: Message)
    -> impl StdFuture<Output = ()>;
    /// A ping arrived (the pong is sent already).
    fn on_ping(&mut self, ws: &WebSocketConnection, data: &[u8]);
    /// A pong arrived.
    fn on_pong(&mut self, ws: &WebSocketConnection, data: &[u8]);
}

/// Runs a synchronous callback, turning a panic into `Err(message)`.
pub(crate) fn guarded(f: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// A handler panicked: logged, and the connection closed (1011).
pub(crate) fn handler_panicked(ws: &WebSocketConnection, what: &str, message: &str) {
    log::error!(target: "tornado.application", "Uncaught exception in WebSocket {what}: {message}");
    ws.fail(1011, "internal error");
}

/// A message being reassembled from its frames.
struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    utf8: Utf8Validator,
}

/// A frame: its header and its unmasked payload.
struct Frame {
    header: FrameHeader,
    payload: Vec<u8>,
}

/// Fails the connection for a frame that could not be read (nothing to
/// do if the stream closed).
fn fail_read(ws: &WebSocketConnection, e: ReadFailure) {
    match e {
        ReadFailure::Closed => {}
        ReadFailure::Protocol(e) => ws.fail(1002, &e.to_string()),
        ReadFailure::TooBig => ws.fail(1009, "message too big"),
        ReadFailure::InvalidUtf8 => ws.fail(1007, "invalid UTF-8 in text message"),
    }
}

/// Is `code` one a peer may send in a close frame (RFC 6455 §7.4)?
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Runs a connection to its end: the receive loop, then the wait for the
/// stream to close (after the close handshake's last write, or the close
/// timeout). The caller then calls `on_close`.
pub(crate) async fn run<S: Sink>(
    ws: &WebSocketConnection,
    reader: FrameReader,
    decompressor: Option<Decompressor>,
    sink: &mut S,
) {
    ws.start_pinging();
    receive_loop(ws, reader, decompressor, sink).await;
    ws.abort_after_writes();
    let _ = ws.closed().await;
    ws.finished();
}

/// Reads frames until the connection ends, delivering messages to `sink`.
async fn receive_loop<S: Sink>(
    ws: &WebSocketConnection,
    mut reader: FrameReader,
    mut decompressor: Option<Decompressor>,
    sink: &mut S,
) {
    let expect = Expect {
        masked: !ws.is_client(),
        rsv1: decompressor.is_some(),
    };
    let max = ws.options().max_message_size;
    let mut partial: Option<Partial> = None;
    loop {
        let room = max - partial.as_ref().map_or(0, |p| p.data.len());
        let h = match reader.read_header(expect, room).await {
            Ok(h) => h,
            Err(e) => {
                fail_read(ws, e);
                break;
            }
        };
        // Uncompressed text is checked as it arrives: a new message's
        // first frame with a fresh validator, a continuation with its
        // message's.
        let mut fresh = Utf8Validator::new();
        let utf8 = match (h.opcode, partial.as_mut()) {
            (OP_TEXT, _) if !h.rsv1 => Some(&mut fresh),
            (OP_CONTINUATION, Some(p)) if p.text && !p.compressed => Some(&mut p.utf8),
            _ => None,
        };
        let payload = match reader.read_payload(&h, utf8).await {
            Ok(p) => p,
            Err(e) => {
                fail_read(ws, e);
                break;
            }
        };
        let frame = Frame { header: h, payload };
        let h = frame.header;
        match h.opcode {
            OP_PING => {
                ws.pong(&frame.payload);
                if let Err(p) = guarded(|| sink.on_ping(ws, &frame.payload)) {
                    handler_panicked(ws, "on_ping", &p);
                    break;
                }
            }
            OP_PONG => {
                ws.pong_received();
                if let Err(p) = guarded(|| sink.on_pong(ws, &frame.payload)) {
                    handler_panicked(ws, "on_pong", &p);
                    break;
                }
            }
            OP_CLOSE => {
                let p = &frame.payload;
                if p.len() == 1 {
                    ws.fail(1002, "close frame of one byte");
                    break;
                }
                let (code, reason) = if p.len() >= 2 {
                    let code = u16::from_be_bytes([p[0], p[1]]);
                    if !valid_close_code(code) {
                        ws.fail(1002, &format!("invalid close code {code}"));
                        break;
                    }
                    match std::str::from_utf8(&p[2..]) {
                        Ok(r) => (Some(code), Some(r.to_owned())),
                        Err(_) => {
                            ws.fail(1007, "close reason is not UTF-8");
                            break;
                        }
                    }
                } else {
                    (None, None)
                };
                ws.close_received(code, reason);
                // Nothing follows a close frame; the stream ends soon.
                break;
            }
            OP_TEXT | OP_BINARY => {
                if partial.is_some() {
                    ws.fail(1002, "new message before the last one's final frame");
                    break;
                }
                partial = Some(Partial {
                    text: h.opcode == OP_TEXT,
                    compressed: h.rsv1,
                    data: frame.payload,
                    utf8: fresh,
                });
            }
            OP_CONTINUATION => {
                let Some(p) = partial.as_mut() else {
                    ws.fail(1002, "continuation frame without a message");
                    break;
                };
                p.data.extend_from_slice(&frame.payload);
            }
            _ => unreachable!("parse_header refuses other opcodes"),
        }
        if h.is_control() || !h.fin {
            continue;
        }
        let p = partial
            .take()
            .expect("a data frame started or continued it");
        let data = if p.compressed {
            let d = decompressor.as_mut().expect("RSV1 only with deflate");
            match d.decompress(&p.data, max) {
                Ok(d) => d,
                Err(InflateFailure::TooBig) => {
                    ws.fail(1009, "message too big");
                    break;
                }
                Err(InflateFailure::Invalid) => {
                    ws.fail(1007, "invalid compressed data");
                    break;
                }
            }
        } else {
            p.data
        };
        let msg = if p.text {
            // Uncompressed text was checked piece by piece; it must also
            // end on a character boundary.
            let ok = if p.compressed {
                std::str::from_utf8(&data).is_ok()
            } else {
                p.utf8.complete()
            };
            if !ok {
                ws.fail(1007, "invalid UTF-8 in text message");
                break;
            }
            // SAFETY: validated as UTF-8 just above.
            Message::Text(unsafe { String::from_utf8_unchecked(data) })
        } else {
            Message::Binary(data)
        };
        if ws.close_sent() {
            // We are closing: messages racing our close frame are dropped.
            continue;
        }
        if let Err(p) = CatchUnwind::new(sink.on_message(ws, msg)).await {
            handler_panicked(ws, "on_message", &p);
            break;
        }
    }
}
