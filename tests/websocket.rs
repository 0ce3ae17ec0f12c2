//! `tornado::websocket` server side: the handshake's answers (400, 403,
//! 426, 405), origin, subprotocols, extra headers, `open` with the
//! request, handles kept and written from elsewhere, async `on_message`
//! ordering, a panicking handler, and many clients at once.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::http::{Resp, connect, read_response};
use common::ws::{RawWs, upgrade_request};
use tornado::concurrent::Error;
use tornado::r#gen::{multi, sleep};
use tornado::http::HttpServer;
use tornado::web::{Application, Context, HttpError, Route, route};
use tornado::websocket::{
    Message, WebSocket, WebSocketClosedError, WebSocketConnection, WebSocketHandler,
    WebSocketRequest, websocket_connect,
};
use tornado_testing::{ExpectLog, gen_test};

/// Sends `request` on a new connection and reads one response.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Result<(Resp, ()), Error> {
    let s = connect(addr).await?;
    s.write(request.to_vec()).await?;
    let r = read_response(&s, false).await?;
    s.close();
    Ok((r, ()))
}

fn serve(routes: Vec<Route>) -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(routes)
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    (server, addrs[0])
}

/// Shared record of what handlers saw.
type Log = Rc<RefCell<Vec<String>>>;

/// Echoes, records its life, and keeps its connection in `members`.
#[derive(Clone, Default)]
struct Recorder {
    log: Log,
    members: Rc<RefCell<Vec<WebSocketConnection>>>,
}

impl WebSocketHandler for Recorder {
    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.set_header("X-Extra", "yes");
        if cx.get_query_argument_opt("deny").is_some() {
            return Err(HttpError::new(401));
        }
        Ok(())
    }

    async fn open(&mut self, cx: &mut Context, ws: &WebSocketConnection) -> Result<(), HttpError> {
        let arg = cx.path_args().first().cloned().unwrap_or_default();
        let cookie = cx.get_cookie("user").unwrap_or_default();
        if let Some(h) = cx.request().headers.get("X-Test") {
            drop(ws.write_message(format!("header {h}")));
        }
        self.log.borrow_mut().push(format!("open {arg} {cookie}"));
        self.members.borrow_mut().push(ws.clone());
        Ok(())
    }

    async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
        if msg.as_text() == Some("slow") {
            sleep(Duration::from_millis(30)).await;
        }
        if msg.as_text() == Some("boom") {
            panic!("handler exploded");
        }
        if msg.as_text() == Some("close me") {
            ws.close(Some(4001), "as asked");
            return;
        }
        self.log.borrow_mut().push(format!("msg {:?}", msg));
        let _ = ws.write_message(msg).await;
    }

    fn on_close(&mut self, code: Option<u16>, reason: Option<&str>) {
        self.log
            .borrow_mut()
            .push(format!("close {code:?} {reason:?}"));
    }

    fn select_subprotocol(&mut self, _cx: &Context, offered: &[String]) -> Option<String> {
        offered.iter().find(|p| p.starts_with("chat")).cloned()
    }
}

#[gen_test(timeout = 10)]
async fn handshake_errors_have_clear_answers() -> Result<(), Error> {
    let _log = ExpectLog::optional("tornado.general", "WebSocket handshake refused");
    let _access = ExpectLog::optional("tornado.access", "");
    let (_s, addr) = serve(vec![route("/ws", WebSocket(Recorder::default()))]);
    let plain = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (r, _) = exchange(addr, plain).await?;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Upgrade"), "{}", r.text());
    let no_conn = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n";
    let (r, _) = exchange(addr, no_conn).await?;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Connection"));
    let old = String::from_utf8(upgrade_request("/ws", ""))?.replace("Version: 13", "Version: 6");
    let (r, _) = exchange(addr, old.as_bytes()).await?;
    assert_eq!(r.status, 426);
    assert_eq!(
        r.header("Sec-WebSocket-Version").as_deref(),
        Some("7, 8, 13")
    );
    let keyless = String::from_utf8(upgrade_request("/ws", ""))?.replace(
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        "Sec-WebSocket-Key: short\r\n",
    );
    let (r, _) = exchange(addr, keyless.as_bytes()).await?;
    assert_eq!(r.status, 400);
    let post = String::from_utf8(upgrade_request("/ws", ""))?.replacen("GET", "POST", 1);
    let (r, _) = exchange(addr, post.as_bytes()).await?;
    assert_eq!(r.status, 405);
    // prepare refused it.
    let (r, _) = exchange(addr, &upgrade_request("/ws?deny=1", "")).await?;
    assert_eq!(r.status, 401);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn cross_origin_is_refused_same_origin_accepted() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Cross origin");
    let _access = ExpectLog::optional("tornado.access", "403");
    let (_s, addr) = serve(vec![route("/ws", WebSocket(Recorder::default()))]);
    let (r, _) = exchange(
        addr,
        &upgrade_request("/ws", "Origin: http://evil.example\r\n"),
    )
    .await?;
    assert_eq!(r.status, 403);
    // Not a URL, or a subdomain of the host: refused too.
    for origin in ["127.0.0.1", "http://sub.127.0.0.1"] {
        let (r, _) = exchange(
            addr,
            &upgrade_request("/ws", &format!("Origin: {origin}\r\n")),
        )
        .await?;
        assert_eq!(r.status, 403, "{origin}");
    }
    let ws = RawWs::open(addr, "/ws", "Origin: http://127.0.0.1\r\n").await?;
    ws.stream.close();
    let ws = RawWs::open(addr, "/ws", "Origin: https://127.0.0.1/some/page?x\r\n").await?;
    ws.stream.close();
    let ws = RawWs::open(addr, "/ws", "Sec-Websocket-Origin: http://127.0.0.1\r\n").await?;
    ws.stream.close();
    Ok(())
}

#[gen_test(timeout = 10)]
async fn subprotocol_extra_headers_and_open_sees_the_request() -> Result<(), Error> {
    let rec = Recorder::default();
    let (_s, addr) = serve(vec![route("/ws/(\\w+)", WebSocket(rec.clone()))]);
    let raw = RawWs::open(
        addr,
        "/ws/room1",
        "Sec-WebSocket-Protocol: other, chat.v2, chat.v1\r\nCookie: user=ann\r\n",
    )
    .await?;
    assert_eq!(
        raw.head.header("Sec-WebSocket-Protocol").as_deref(),
        Some("chat.v2")
    );
    assert_eq!(raw.head.header("X-Extra").as_deref(), Some("yes"));
    assert_eq!(raw.head.header("Content-Type"), None);
    raw.send(true, false, 0x8, &1000u16.to_be_bytes()).await?;
    assert_eq!(raw.recv_close().await?, Some(1000));
    assert!(raw.closed_by_server().await);
    // With the client: the selected subprotocol on both ends.
    let mut req = WebSocketRequest::new(format!("ws://{addr}/ws/room2"));
    req.subprotocols = vec!["x".into(), "chat".into()];
    let conn = websocket_connect(req).await?;
    assert_eq!(conn.selected_subprotocol(), Some("chat"));
    let server_side = rec.members.borrow()[1].clone();
    assert_eq!(server_side.selected_subprotocol(), Some("chat"));
    // None offered that the handler likes: no subprotocol, still open.
    let mut req = WebSocketRequest::new(format!("ws://{addr}/ws/room3"));
    req.subprotocols = vec!["x".into()];
    let conn2 = websocket_connect(req).await?;
    assert_eq!(conn2.selected_subprotocol(), None);
    conn.close(None, "");
    conn2.close(None, "");
    assert_eq!(conn.read_message().await?, None);
    assert_eq!(conn2.read_message().await?, None);
    sleep(Duration::from_millis(20)).await;
    let log = rec.log.borrow();
    assert_eq!(log[0], "open room1 ann");
    assert_eq!(log[1], "close Some(1000) Some(\"\")");
    assert!(log.contains(&"open room2 ".to_string()));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn handles_kept_elsewhere_write_and_fail_typed_after_close() -> Result<(), Error> {
    let rec = Recorder::default();
    let (_s, addr) = serve(vec![route("/ws", WebSocket(rec.clone()))]);
    let a = websocket_connect(format!("ws://{addr}/ws")).await?;
    let b = websocket_connect(format!("ws://{addr}/ws")).await?;
    // Broadcast from this coroutine through the handles the handlers kept.
    let members = rec.members.borrow().clone();
    assert_eq!(members.len(), 2);
    let writes: Vec<_> = members.iter().map(|m| m.write_message("to all")).collect();
    for w in writes {
        w.await?;
    }
    assert_eq!(
        a.read_message().await?,
        Some(Message::Text("to all".into()))
    );
    assert_eq!(
        b.read_message().await?,
        Some(Message::Text("to all".into()))
    );
    // The server closes a: the client sees its code and reason.
    a.write_message("close me").await?;
    assert_eq!(a.read_message().await?, None);
    assert_eq!(a.close_code(), Some(4001));
    assert_eq!(a.close_reason().as_deref(), Some("as asked"));
    let err = members[0].write_message("late").await.unwrap_err();
    assert!(err.is::<WebSocketClosedError>());
    let err = a.write_message("late").await.unwrap_err();
    assert!(err.is::<WebSocketClosedError>());
    assert!(
        members[0]
            .ping(b"x")
            .await
            .unwrap_err()
            .is::<WebSocketClosedError>()
    );
    // b still works.
    b.write_message(vec![1u8, 2, 3]).await?;
    assert_eq!(
        b.read_message().await?,
        Some(Message::Binary(vec![1, 2, 3]))
    );
    b.close(Some(1001), "going away");
    assert_eq!(b.read_message().await?, None);
    sleep(Duration::from_millis(20)).await;
    let log = rec.log.borrow();
    // The server's handler sees the client's echo of its close code.
    assert!(
        log.contains(&"close Some(4001) Some(\"\")".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"close Some(1001) Some(\"going away\")".to_string()),
        "{log:?}"
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn async_on_message_finishes_before_the_next_message() -> Result<(), Error> {
    let rec = Recorder::default();
    let (_s, addr) = serve(vec![route("/ws", WebSocket(rec.clone()))]);
    let c = websocket_connect(format!("ws://{addr}/ws")).await?;
    // Sent back to back; "slow" sleeps in its handler.
    let sends = (c.write_message("slow"), c.write_message("fast"));
    multi(sends).await?;
    assert_eq!(c.read_message().await?, Some(Message::Text("slow".into())));
    assert_eq!(c.read_message().await?, Some(Message::Text("fast".into())));
    let log = rec.log.borrow().clone();
    let slow = log.iter().position(|l| l.contains("\"slow\"")).unwrap();
    let fast = log.iter().position(|l| l.contains("\"fast\"")).unwrap();
    assert!(slow < fast, "{log:?}");
    c.close(None, "");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_panicking_handler_is_logged_and_closed_and_others_go_on() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "handler exploded");
    let _fail = ExpectLog::optional("tornado.general", "WebSocket connection failed (1011)");
    let rec = Recorder::default();
    let (_s, addr) = serve(vec![route("/ws", WebSocket(rec.clone()))]);
    let c = websocket_connect(format!("ws://{addr}/ws")).await?;
    c.write_message("boom").await?;
    assert_eq!(c.read_message().await?, None);
    assert_eq!(c.close_code(), Some(1011));
    // The loop and the server go on.
    let d = websocket_connect(format!("ws://{addr}/ws")).await?;
    d.write_message("still here").await?;
    assert_eq!(
        d.read_message().await?,
        Some(Message::Text("still here".into()))
    );
    d.close(None, "");
    sleep(Duration::from_millis(20)).await;
    // on_close ran for the panicked connection too.
    assert!(rec.log.borrow().iter().any(|l| l.starts_with("close")));
    Ok(())
}

#[gen_test(timeout = 20)]
async fn many_clients_at_once() -> Result<(), Error> {
    let rec = Recorder::default();
    let (_s, addr) = serve(vec![route("/ws", WebSocket(rec.clone()))]);
    let n = 60;
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(websocket_connect(format!("ws://{addr}/ws")));
    }
    let mut conns = Vec::new();
    for c in clients {
        conns.push(c.await?);
    }
    for (i, c) in conns.iter().enumerate() {
        drop(c.write_message(format!("hello {i}")));
    }
    for (i, c) in conns.iter().enumerate() {
        for round in 0..3 {
            if round > 0 {
                c.write_message(format!("again {i} {round}")).await?;
            }
            let m = c.read_message().await?.unwrap();
            let want = if round == 0 {
                format!("hello {i}")
            } else {
                format!("again {i} {round}")
            };
            assert_eq!(m, Message::Text(want));
        }
    }
    for c in &conns {
        c.close(Some(1000), "");
    }
    for c in &conns {
        assert_eq!(c.read_message().await?, None);
    }
    sleep(Duration::from_millis(50)).await;
    let closes = rec
        .log
        .borrow()
        .iter()
        .filter(|l| l.starts_with("close"))
        .count();
    assert_eq!(closes, n);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn frames_sent_with_the_upgrade_request_are_not_lost() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/ws", WebSocket(Recorder::default()))]);
    let s = connect(addr).await?;
    // The request and two frames in one write: the HTTP reader reads past
    // the head, and those bytes must reach the WebSocket.
    let mut bytes = upgrade_request("/ws", "");
    for text in ["early", "bird"] {
        tornado::websocket::frame::write_frame(
            &mut bytes,
            true,
            false,
            0x1,
            text.as_bytes(),
            Some([5, 6, 7, 8]),
        );
    }
    s.write(bytes).await?;
    let head = s.read_until(b"\r\n\r\n", None).await?;
    assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
    assert_eq!(s.read_bytes(7, false).await?, b"\x81\x05early");
    assert_eq!(s.read_bytes(6, false).await?, b"\x81\x04bird");
    s.close();
    Ok(())
}

#[gen_test(timeout = 10)]
async fn client_request_headers_reach_open() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/ws", WebSocket(Recorder::default()))]);
    let mut req = WebSocketRequest::new(format!("ws://{addr}/ws"));
    req.headers.push(("X-Test".into(), "hello".into()));
    // Header injection attempts are left out of the request.
    req.headers
        .push(("X-Bad".into(), "a\r\nX-Test: evil".into()));
    let c = websocket_connect(req).await?;
    assert_eq!(
        c.read_message().await?,
        Some(Message::Text("header hello".into()))
    );
    c.close(None, "");
    assert_eq!(c.read_message().await?, None);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn messages_wait_for_an_async_open() -> Result<(), Error> {
    /// `open` takes a while; each message reports whether it had finished.
    #[derive(Clone, Default)]
    struct SlowOpen(Rc<RefCell<bool>>);
    impl WebSocketHandler for SlowOpen {
        async fn open(
            &mut self,
            _cx: &mut Context,
            _ws: &WebSocketConnection,
        ) -> Result<(), HttpError> {
            sleep(Duration::from_millis(30)).await;
            *self.0.borrow_mut() = true;
            Ok(())
        }
        async fn on_message(&mut self, ws: &WebSocketConnection, _msg: Message) {
            let _ = ws
                .write_message(format!("opened {}", self.0.borrow()))
                .await;
        }
    }
    let (_s, addr) = serve(vec![route("/ws", WebSocket(SlowOpen::default()))]);
    let c = websocket_connect(format!("ws://{addr}/ws")).await?;
    c.write_message("at once").await?;
    assert_eq!(
        c.read_message().await?,
        Some(Message::Text("opened true".into()))
    );
    c.close(None, "");
    Ok(())
}
