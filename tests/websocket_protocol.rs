//! RFC 6455 on the wire, with a raw peer: fragmentation, UTF-8 (1007),
//! size limits (1009), protocol errors (1002), every close path and its
//! timeout, pings and the keep-alive timeout (on a virtual clock).

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::ws::RawWs;
use tornado::concurrent::Error;
use tornado::r#gen::sleep;
use tornado::http::HttpServer;
use tornado::ioloop::IOLoop;
use tornado::web::{Application, Context, Settings, route};
use tornado::websocket::{
    Message, WebSocket, WebSocketConnection, WebSocketHandler, WebSocketOptions,
};
use tornado_testing::{ExpectLog, VirtualClock, gen_test};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

type Log = Rc<RefCell<Vec<String>>>;

/// A frame to send: FIN, RSV1, opcode, payload.
type RawFrame = (bool, bool, u8, Vec<u8>);

/// Echoes; records pings, pongs and the close; `max` bytes per message;
/// optional keep-alive.
#[derive(Clone, Default)]
struct Echo {
    log: Log,
    max: Option<usize>,
    ping: Option<(Duration, Duration)>,
    conn: Rc<RefCell<Option<WebSocketConnection>>>,
}

impl WebSocketHandler for Echo {
    async fn open(
        &mut self,
        _cx: &mut Context,
        ws: &WebSocketConnection,
    ) -> Result<(), tornado::web::HttpError> {
        *self.conn.borrow_mut() = Some(ws.clone());
        Ok(())
    }
    async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
        let _ = ws.write_message(msg).await;
    }
    fn on_ping(&mut self, _ws: &WebSocketConnection, data: &[u8]) {
        self.log
            .borrow_mut()
            .push(format!("ping {}", String::from_utf8_lossy(data)));
    }
    fn on_pong(&mut self, _ws: &WebSocketConnection, data: &[u8]) {
        self.log
            .borrow_mut()
            .push(format!("pong {}", String::from_utf8_lossy(data)));
    }
    fn on_close(&mut self, code: Option<u16>, _reason: Option<&str>) {
        self.log.borrow_mut().push(format!("close {code:?}"));
    }
    fn websocket_options(&self, _cx: &Context) -> WebSocketOptions {
        let mut o = WebSocketOptions::default();
        if let Some(m) = self.max {
            o.max_message_size = m;
        }
        if let Some((interval, timeout)) = self.ping {
            o.ping_interval = Some(interval);
            o.ping_timeout = Some(timeout);
        }
        o
    }
}

fn serve(h: Echo) -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(vec![route("/", WebSocket(h))])
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    (server, addrs[0])
}

async fn open(addr: SocketAddr) -> Result<RawWs, Error> {
    RawWs::open(addr, "/", "").await
}

/// Sends `frames` and expects the server to fail the connection with
/// `code`, then close the TCP connection.
async fn expect_failure(addr: SocketAddr, frames: &[RawFrame], code: u16) -> Result<(), Error> {
    let ws = open(addr).await?;
    for (fin, rsv1, op, payload) in frames {
        ws.send(*fin, *rsv1, *op, payload).await?;
    }
    assert_eq!(ws.recv_close().await?, Some(code));
    assert!(ws.closed_by_server().await);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn fragments_are_reassembled_with_control_frames_between() -> Result<(), Error> {
    let echo = Echo::default();
    let (_s, addr) = serve(echo.clone());
    let ws = open(addr).await?;
    ws.send(false, false, TEXT, "frag".as_bytes()).await?;
    ws.send(true, false, PING, b"mid").await?;
    // "κ" cut between two fragments.
    ws.send(false, false, CONT, b"ments \xce").await?;
    ws.send(true, false, CONT, b"\xba").await?;
    let (h, p) = ws.recv().await?;
    assert_eq!((h.opcode, p.as_slice()), (PONG, &b"mid"[..]));
    let (h, p) = ws.recv().await?;
    assert_eq!((h.opcode, h.fin), (TEXT, true));
    assert_eq!(String::from_utf8(p)?, "fragments κ");
    // Binary in three pieces, one empty.
    ws.send(false, false, BINARY, &[1, 2]).await?;
    ws.send(false, false, CONT, &[]).await?;
    ws.send(true, false, CONT, &[3]).await?;
    let (h, p) = ws.recv().await?;
    assert_eq!((h.opcode, p), (BINARY, vec![1, 2, 3]));
    ws.send(true, false, PONG, b"unasked").await?;
    ws.send(true, false, CLOSE, &1000u16.to_be_bytes()).await?;
    assert_eq!(ws.recv_close().await?, Some(1000));
    assert!(ws.closed_by_server().await);
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        *echo.log.borrow(),
        ["ping mid", "pong unasked", "close Some(1000)"]
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn protocol_errors_close_with_1002() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "WebSocket connection failed (1002)");
    let (_s, addr) = serve(Echo::default());
    let cases: Vec<Vec<RawFrame>> = vec![
        // Continuation with nothing to continue.
        vec![(true, false, CONT, b"x".to_vec())],
        // A new message inside a fragmented one.
        vec![
            (false, false, TEXT, b"a".to_vec()),
            (true, false, TEXT, b"b".to_vec()),
        ],
        // Reserved bit (no extension negotiated), reserved opcodes.
        vec![(true, true, TEXT, b"x".to_vec())],
        vec![(true, false, 0x3, Vec::new())],
        vec![(true, false, 0xB, Vec::new())],
        // Fragmented ping; ping over 125 bytes.
        vec![(false, false, PING, Vec::new())],
        vec![(true, false, PING, vec![0; 126])],
        // Close payload of one byte; invalid close codes.
        vec![(true, false, CLOSE, vec![3])],
        vec![(true, false, CLOSE, 1005u16.to_be_bytes().to_vec())],
        vec![(true, false, CLOSE, 999u16.to_be_bytes().to_vec())],
        vec![(true, false, CLOSE, 5000u16.to_be_bytes().to_vec())],
    ];
    for frames in &cases {
        expect_failure(addr, frames, 1002).await?;
    }
    // Unmasked client frame.
    let ws = open(addr).await?;
    ws.send_raw(&[0x81, 0x01, b'x']).await?;
    assert_eq!(ws.recv_close().await?, Some(1002));
    assert!(ws.closed_by_server().await);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn invalid_utf8_closes_with_1007() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "(1007)");
    let (_s, addr) = serve(Echo::default());
    expect_failure(addr, &[(true, false, TEXT, b"ok \xff".to_vec())], 1007).await?;
    // Found in the first fragment, before the message ends.
    let ws = open(addr).await?;
    ws.send(false, false, TEXT, b"\xed\xa0\x80").await?;
    assert_eq!(ws.recv_close().await?, Some(1007));
    // Found inside a long frame, before the rest of it is even sent.
    let ws = open(addr).await?;
    let mut payload = vec![b'a'; 1000];
    payload[3] = 0xff;
    let mut frame = Vec::new();
    tornado::websocket::frame::write_frame(
        &mut frame,
        true,
        false,
        TEXT,
        &payload,
        Some([9, 8, 7, 6]),
    );
    ws.send_raw(&frame[..8 + 10]).await?;
    assert_eq!(ws.recv_close().await?, Some(1007));
    assert!(ws.closed_by_server().await);
    // A message ending inside a character.
    expect_failure(
        addr,
        &[
            (false, false, TEXT, b"a".to_vec()),
            (true, false, CONT, b"\xe2\x82".to_vec()),
        ],
        1007,
    )
    .await?;
    // The close reason too.
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.extend_from_slice(b"\xc0\xaf");
    expect_failure(addr, &[(true, false, CLOSE, bad_reason)], 1007).await?;
    Ok(())
}

#[gen_test(timeout = 10)]
async fn messages_over_the_limit_close_with_1009() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "(1009)");
    let (_s, addr) = serve(Echo {
        max: Some(1000),
        ..Echo::default()
    });
    // At the limit: fine.
    let ws = open(addr).await?;
    ws.send(true, false, BINARY, &[7; 1000]).await?;
    assert_eq!(ws.recv().await?.1.len(), 1000);
    // One frame over it: refused from its header.
    ws.send(true, false, BINARY, &[7; 1001]).await?;
    assert_eq!(ws.recv_close().await?, Some(1009));
    assert!(ws.closed_by_server().await);
    // Fragments adding up past it.
    expect_failure(
        addr,
        &[
            (false, false, TEXT, vec![b'a'; 600]),
            (true, false, CONT, vec![b'a'; 600]),
        ],
        1009,
    )
    .await?;
    Ok(())
}

#[gen_test(timeout = 10)]
async fn the_application_setting_sets_the_limit() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "(1009)");
    let mut settings = Settings::default();
    settings
        .extra
        .insert("websocket_max_message_size".into(), "10".into());
    #[derive(Clone)]
    struct Plain;
    impl WebSocketHandler for Plain {
        async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
            let _ = ws.write_message(msg).await;
        }
    }
    let (_s, addrs) = Application::with_settings(vec![route("/", WebSocket(Plain))], settings)
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    expect_failure(addrs[0], &[(true, false, TEXT, vec![b'a'; 11])], 1009).await
}

#[gen_test(timeout = 5)]
async fn the_application_settings_set_the_keepalive() -> Result<(), Error> {
    let clock = VirtualClock::install(&IOLoop::current());
    let _log = ExpectLog::new("tornado.general", "ping timed out");
    let mut settings = Settings::default();
    settings
        .extra
        .insert("websocket_ping_interval".into(), "5".into());
    settings
        .extra
        .insert("websocket_ping_timeout".into(), "1.5".into());
    /// Keeps its connection; reads its options from the settings.
    #[derive(Clone, Default)]
    struct Keep(Rc<RefCell<Option<WebSocketConnection>>>);
    impl WebSocketHandler for Keep {
        async fn open(
            &mut self,
            _cx: &mut Context,
            ws: &WebSocketConnection,
        ) -> Result<(), tornado::web::HttpError> {
            *self.0.borrow_mut() = Some(ws.clone());
            Ok(())
        }
        async fn on_message(&mut self, _ws: &WebSocketConnection, _msg: Message) {}
    }
    let keep = Keep::default();
    let (_s, addrs) =
        Application::with_settings(vec![route("/", WebSocket(keep.clone()))], settings)
            .listen_on(0, Some("127.0.0.1"))
            .unwrap();
    clock.pause();
    let ws = open(addrs[0]).await?;
    settle(|| keep.0.borrow().is_some()).await;
    let server = keep.0.borrow().clone().unwrap();
    clock.advance(Duration::from_millis(4900));
    sleep(Duration::ZERO).await;
    clock.advance(Duration::from_millis(100));
    let (h, _) = ws.recv().await?;
    assert_eq!(h.opcode, PING);
    clock.advance(Duration::from_millis(1400));
    sleep(Duration::ZERO).await;
    assert!(!server.is_closed());
    clock.advance(Duration::from_millis(100));
    assert!(ws.closed_by_server().await);
    assert_eq!(clock.elapsed(), Duration::from_millis(6500));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn server_shutdown_ends_open_websockets() -> Result<(), Error> {
    let echo = Echo::default();
    let (server, addr) = serve(echo.clone());
    let ws = open(addr).await?;
    ws.send(true, false, TEXT, b"hi").await?;
    assert_eq!(ws.recv().await?.1, b"hi");
    // The connection lives in the HTTP server's connection coroutine: a
    // graceful shutdown waits for it, then closes it.
    server.shutdown(Duration::from_millis(50)).await?;
    assert!(ws.closed_by_server().await);
    settle(|| echo.log.borrow().last().map(String::as_str) == Some("close None")).await;
    Ok(())
}

#[gen_test(timeout = 10)]
async fn server_close_completes_when_the_peer_answers() -> Result<(), Error> {
    let echo = Echo::default();
    let (_s, addr) = serve(echo.clone());
    let ws = open(addr).await?;
    sleep(Duration::from_millis(5)).await;
    let server = echo.conn.borrow().clone().unwrap();
    server.close(Some(1001), "shutting down");
    let (h, p) = ws.recv().await?;
    assert_eq!(h.opcode, CLOSE);
    assert_eq!(&p[..2], &1001u16.to_be_bytes());
    assert_eq!(&p[2..], b"shutting down");
    // Data racing the close is dropped; our close answer ends it.
    ws.send(true, false, TEXT, b"late").await?;
    ws.send(true, false, CLOSE, &1001u16.to_be_bytes()).await?;
    assert!(ws.closed_by_server().await);
    sleep(Duration::from_millis(10)).await;
    assert_eq!(server.close_code(), Some(1001));
    assert!(server.is_closed());
    assert_eq!(*echo.log.borrow(), ["close Some(1001)"]);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn empty_close_frame_and_tcp_drop() -> Result<(), Error> {
    let echo = Echo::default();
    let (_s, addr) = serve(echo.clone());
    let ws = open(addr).await?;
    ws.send(true, false, CLOSE, &[]).await?;
    let (h, p) = ws.recv().await?;
    assert_eq!((h.opcode, p.len()), (CLOSE, 0));
    assert!(ws.closed_by_server().await);
    // A peer that just goes away: on_close without a code.
    let ws = open(addr).await?;
    ws.stream.close();
    sleep(Duration::from_millis(20)).await;
    assert_eq!(*echo.log.borrow(), ["close None", "close None"]);
    Ok(())
}

#[gen_test(timeout = 5)]
async fn an_unanswered_close_times_out_after_five_seconds() -> Result<(), Error> {
    let clock = VirtualClock::install(&IOLoop::current());
    let _log = ExpectLog::new("tornado.general", "close handshake timed out");
    let echo = Echo::default();
    let (_s, addr) = serve(echo.clone());
    // Real I/O in flight: no jumping to the server's idle timeout meanwhile.
    clock.pause();
    let ws = open(addr).await?;
    while echo.conn.borrow().is_none() {
        sleep(Duration::ZERO).await;
    }
    clock.resume();
    let server = echo.conn.borrow().clone().unwrap();
    let start = clock.elapsed();
    server.close(Some(1000), "");
    // The peer never answers (and keeps its end open).
    assert_eq!(ws.recv_close().await?, Some(1000));
    assert!(ws.closed_by_server().await);
    let waited = clock.elapsed() - start;
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    sleep(Duration::from_millis(1)).await;
    assert_eq!(*echo.log.borrow(), ["close None"]);
    Ok(())
}

/// Lets the loop run its ready callbacks and I/O until `done` (time
/// stands still: the clock is paused).
async fn settle(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        sleep(Duration::ZERO).await;
    }
    panic!("never settled");
}

#[gen_test(timeout = 5)]
async fn keepalive_pings_close_a_peer_that_stops_answering() -> Result<(), Error> {
    let clock = VirtualClock::install(&IOLoop::current());
    let _log = ExpectLog::new("tornado.general", "ping timed out");
    let echo = Echo {
        ping: Some((Duration::from_secs(10), Duration::from_secs(3))),
        ..Echo::default()
    };
    let (_s, addr) = serve(echo.clone());
    // Time moves only when the test says so.
    clock.pause();
    let ws = open(addr).await?;
    settle(|| echo.conn.borrow().is_some()).await;
    let server = echo.conn.borrow().clone().unwrap();
    // Two pings answered: each 10 s after the last.
    for round in 1..=2 {
        clock.advance(Duration::from_secs(if round == 1 { 10 } else { 7 }));
        let (h, p) = ws.recv().await?;
        assert_eq!(h.opcode, PING, "round {round}");
        ws.send(true, false, PONG, &p).await?;
        let pongs = round;
        settle(|| {
            echo.log
                .borrow()
                .iter()
                .filter(|l| l.starts_with("pong"))
                .count()
                == pongs
        })
        .await;
        clock.advance(Duration::from_secs(3));
        sleep(Duration::ZERO).await;
        assert!(!server.is_closed());
    }
    // The third goes unanswered: closed when its 3 s are up, not before.
    clock.advance(Duration::from_secs(7));
    let (h, _) = ws.recv().await?;
    assert_eq!(h.opcode, PING);
    clock.advance(Duration::from_millis(2900));
    sleep(Duration::ZERO).await;
    sleep(Duration::ZERO).await;
    assert!(!server.is_closed());
    clock.advance(Duration::from_millis(100));
    assert!(ws.closed_by_server().await);
    assert_eq!(clock.elapsed(), Duration::from_secs(33));
    settle(|| echo.log.borrow().last().map(String::as_str) == Some("close None")).await;
    Ok(())
}
