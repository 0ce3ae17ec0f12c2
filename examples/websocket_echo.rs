//! A WebSocket echo server: every message sent to `/` comes back as it
//! came (text as text, binary as binary); permessage-deflate is offered.
//! This is what conformance suites (Autobahn) run against.
//!
//! Run: `cargo run --release --example websocket_echo -- --port 9001`.
//! `--max-message-size N` sets the largest message (default 64 MiB: the
//! suites send 16 MiB ones). `--max-buffer-size N` caps each connection's
//! read buffer (the soak's memory-limited run). With `--self-test` it
//! serves on an ephemeral port, talks to itself with the WebSocket client
//! and exits.

use std::time::Duration;

use tornado::concurrent::Error;
use tornado::r#gen::coroutine;
use tornado::http::{HttpServer, HttpServerOptions};
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, Settings, route};
use tornado::websocket::{
    CompressionOptions, Message, WebSocket, WebSocketConnection, WebSocketHandler,
    WebSocketRequest, websocket_connect,
};

/// Echoes each message back, waiting until it is written before taking
/// the next (so a fast sender is slowed to what it reads).
#[derive(Clone)]
struct Echo;

impl WebSocketHandler for Echo {
    async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
        // The peer may be gone by then: nothing to do about it.
        let _ = ws.write_message(msg).await;
    }

    fn get_compression_options(&self, _cx: &Context) -> Option<CompressionOptions> {
        Some(CompressionOptions::default())
    }

    fn check_origin(&self, _cx: &Context, _origin: &str) -> bool {
        // An echo service for test suites and browsers anywhere.
        true
    }
}

/// Talks to the server at `url`: text, binary, a large message, with and
/// without compression, then a clean close.
async fn self_test(url: String) -> Result<(), Error> {
    for compress in [false, true] {
        let mut req = WebSocketRequest::new(url.clone());
        if compress {
            req.compression_options = Some(CompressionOptions::default());
        }
        let conn = websocket_connect(req).await?;
        assert_eq!(conn.connection().compressed(), compress);
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = [
            Message::Text("hello, world".into()),
            Message::Binary(vec![0, 1, 2, 255]),
            Message::Text("κόσμε ".repeat(1000)),
            Message::Binary(big),
            Message::Text(String::new()),
        ];
        for m in &sent {
            conn.write_message(m.clone()).await?;
            let back = conn.read_message().await?;
            assert_eq!(
                back.as_ref(),
                Some(m),
                "echo of a {} byte message",
                m.as_bytes().len()
            );
        }
        conn.close(Some(1000), "bye");
        assert_eq!(conn.read_message().await?, None);
        assert_eq!(conn.close_code(), Some(1000));
        println!("websocket_echo self-test ok (compression {compress})");
    }
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
    let (mut port, mut test, mut max) = (9001u16, false, 64usize << 20);
    let mut options = HttpServerOptions::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port takes a number")?.parse()?,
            "--max-message-size" => {
                max = args
                    .next()
                    .ok_or("--max-message-size takes a number")?
                    .parse()?
            }
            "--max-buffer-size" => {
                options.max_buffer_size = args
                    .next()
                    .ok_or("--max-buffer-size takes a number")?
                    .parse()?
            }
            "--self-test" => test = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: websocket_echo [--port P] [--max-message-size N] \
                     [--max-buffer-size N] [--self-test]"
                )
                .into());
            }
        }
    }
    let mut settings = Settings::default();
    settings
        .extra
        .insert("websocket_max_message_size".into(), max.to_string());
    let app = Application::with_settings(vec![route("/", WebSocket(Echo))], settings);
    let server = HttpServer::new(app, options);
    let addrs = server.listen_on(if test { 0 } else { port }, Some("127.0.0.1"))?;
    let url = format!("ws://{}/", addrs[0]);
    if test {
        IOLoop::current().run_sync(
            move || coroutine(self_test(url)),
            Some(Duration::from_secs(30)),
        )?;
        return Ok(());
    }
    println!("websocket_echo listening on {url}");
    IOLoop::current().start()?;
    Ok(())
}
