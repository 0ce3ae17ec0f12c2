//! The WebSocket server's receiving side as it runs: an `Application`
//! routing `/ws` to a `WebSocket` handler, served on a socket pair; the
//! peer sends a valid upgrade request (offering permessage-deflate when
//! the first byte says so) and then the fuzzer's bytes as frames. Frame
//! headers, masking, fragmentation, control frames, close codes, UTF-8
//! checks, the size limit and the inflater all run on them. The server
//! must answer 101, then write only well-formed frames, and close.
#![no_main]

use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tornado_fuzz::run;
use tornado_gen::spawn;
use tornado_http::http1::framing::find_head_end;
use tornado_http::http1::head::{ResponseHead, parse_response_head};
use tornado_http::httpserver::{HttpServer, HttpServerOptions};
use tornado_iostream::IOStream;
use tornado_tcp::TcpHandler;
use tornado_web::{Application, Context, route};
use tornado_websocket::frame::{Expect, parse_header};
use tornado_websocket::{
    CompressionOptions, Message, WebSocket, WebSocketConnection, WebSocketHandler, WebSocketOptions,
};

/// Echoes every message; compression when offered; a small size limit so
/// that 1009 is reached.
#[derive(Clone)]
struct Echo;

impl WebSocketHandler for Echo {
    async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
        let _ = ws.write_message(msg).await;
    }

    fn get_compression_options(&self, _cx: &Context) -> Option<CompressionOptions> {
        Some(CompressionOptions::default())
    }

    fn websocket_options(&self, _cx: &Context) -> WebSocketOptions {
        WebSocketOptions {
            max_message_size: 4096,
            ..WebSocketOptions::default()
        }
    }
}

thread_local! {
    static SERVER: Rc<HttpServer<Application>> = Rc::new(HttpServer::new(
        Application::new(vec![route("/ws", WebSocket(Echo))]),
        HttpServerOptions::default(),
    ));
}

fn upgrade(deflate: bool) -> Vec<u8> {
    let extension = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n"
    )
    .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, frames)) = data.split_first() else {
        return;
    };
    let deflate = flags & 1 != 0;
    let mut input = upgrade(deflate);
    input.extend_from_slice(frames);
    let server = SERVER.with(Rc::clone);
    let wire = run(async move {
        let (a, b) = UnixStream::pair()?;
        let (server_side, client) = (IOStream::new(a)?, IOStream::new(b)?);
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        spawn(async move {
            server
                .tcp()
                .handler()
                .handle_stream(server_side, addr)
                .await;
            Ok(())
        });
        drop(client.write(input));
        drop(client.shutdown_write());
        client.read_until_close().await
    })
    .expect("the peer reads until the server closes");
    let end = find_head_end(&wire, 0).expect("a handshake answer");
    let ResponseHead { code, headers, .. } =
        parse_response_head(&wire[..end]).expect("a well-formed answer");
    assert_eq!(code, 101);
    let expect = Expect {
        masked: false,
        rsv1: headers.get("Sec-WebSocket-Extensions").is_some(),
    };
    let mut rest = &wire[end..];
    while !rest.is_empty() {
        let h = parse_header(rest, expect)
            .unwrap_or_else(|e| panic!("the server wrote a bad frame header: {e}"))
            .expect("a whole frame header");
        let len = h.header_len + h.len as usize;
        assert!(rest.len() >= len, "a frame cut short");
        rest = &rest[len..];
    }
});
