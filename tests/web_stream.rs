//! `web` on the streaming connection layer: `STREAM_REQUEST_BODY`
//! handlers (chunks as they come, async, limits set in `prepare`),
//! `Context::on_connection_close`, `Context::detach`, and a public
//! `send_error`.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::http::{connect, exchange, raw, read_response};
use tornado::concurrent::Error;
use tornado::r#gen::sleep;
use tornado::http::HttpServer;
use tornado::web::{Application, Context, HttpError, RequestHandler, Route, route};
use tornado_testing::{ExpectLog, gen_test};

fn serve(routes: Vec<Route>) -> (HttpServer<Application>, SocketAddr) {
    let (server, addrs) = Application::new(routes)
        .listen_on(0, Some("127.0.0.1"))
        .unwrap();
    (server, addrs[0])
}

/// Counts chunks and bytes; `?limit=N` lowers the body limit in prepare.
#[derive(Clone, Default)]
struct Upload {
    chunks: usize,
    bytes: usize,
    log: Rc<RefCell<Vec<String>>>,
}

impl RequestHandler for Upload {
    const STREAM_REQUEST_BODY: bool = true;

    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.log.borrow_mut().push("prepare".into());
        if let Some(limit) = cx.get_query_argument_opt("limit") {
            cx.set_max_body_size(limit.parse()?);
        }
        if cx.get_query_argument_opt("refuse").is_some() {
            return Err(HttpError::new(403));
        }
        Ok(())
    }

    async fn data_received(&mut self, _cx: &mut Context, chunk: Vec<u8>) -> Result<(), HttpError> {
        // Asynchronous work per chunk.
        sleep(Duration::from_millis(1)).await;
        self.chunks += 1;
        self.bytes += chunk.len();
        if self.chunks == 1 {
            self.log.borrow_mut().push("first chunk".into());
        }
        Ok(())
    }

    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.log.borrow_mut().push("put".into());
        assert!(
            cx.request().body.is_empty(),
            "a streamed body is not buffered"
        );
        cx.write(format!("{} bytes in {} chunks", self.bytes, self.chunks));
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn streamed_bodies_arrive_chunk_by_chunk_after_prepare() -> Result<(), Error> {
    let handler = Upload::default();
    let log = handler.log.clone();
    let (_s, addr) = serve(vec![route("/up", handler)]);
    let body = vec![b'z'; 300_000];
    let mut req =
        format!("PUT /up HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    let got = String::from_utf8_lossy(&raw(addr, &req).await?).into_owned();
    let tail = got.rsplit("\r\n\r\n").next().unwrap().to_owned();
    assert!(tail.starts_with("300000 bytes in "), "{got}");
    let chunks: usize = tail.split(' ').nth(3).unwrap().parse().unwrap();
    assert!(chunks >= 300_000 / (64 * 1024), "{tail}");
    assert_eq!(*log.borrow(), ["prepare", "first chunk", "put"]);
    // Chunked uploads stream too.
    let got = raw(
        addr,
        b"PUT /up HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .await?;
    assert!(String::from_utf8_lossy(&got).ends_with("5 bytes in 2 chunks"));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn prepare_may_lower_the_body_limit_or_refuse_before_the_body() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let _refused = ExpectLog::new("tornado.general", "HTTP 403");
    let (_s, addr) = serve(vec![route("/up", Upload::default())]);
    let (r, closed) = exchange(
        addr,
        b"PUT /up?limit=4 HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(closed);
    let (r, _) = exchange(
        addr,
        b"PUT /up?limit=5 HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await?;
    assert_eq!((r.status, r.text().as_str()), (200, "5 bytes in 1 chunks"));
    // Refused in prepare: answered without reading the body, then closed.
    let (r, closed) = exchange(
        addr,
        b"PUT /up?refuse=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await?;
    assert_eq!(r.status, 403);
    assert!(closed);
    Ok(())
}

/// Waits for the client to leave, then records it.
#[derive(Clone, Default)]
struct LongPoll {
    closed: Rc<RefCell<bool>>,
}

impl RequestHandler for LongPoll {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let flag = self.closed.clone();
        cx.on_connection_close(move || *flag.borrow_mut() = true);
        // Headers out, then wait for news that never comes.
        cx.write("waiting");
        cx.flush().await?;
        cx.connection_closed().await?;
        assert!(cx.connection_is_closed());
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn a_long_poll_hears_the_client_leave() -> Result<(), Error> {
    let handler = LongPoll::default();
    let closed = handler.closed.clone();
    let (server, addr) = serve(vec![route("/poll", handler)]);
    let s = connect(addr).await?;
    s.write(b"GET /poll HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    s.read_until(b"waiting", None).await?;
    s.close();
    for _ in 0..200 {
        if *closed.borrow() && server.tcp().connections() == 0 {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(*closed.borrow());
    assert_eq!(server.tcp().connections(), 0);
    Ok(())
}

/// Takes the connection over and speaks a line protocol on it.
#[derive(Clone)]
struct Takeover;

impl RequestHandler for Takeover {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let d = cx.detach().ok_or_else(|| HttpError::new(500))?;
        d.stream
            .write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
                    .to_vec(),
            )
            .await?;
        let mut early = d.buffered;
        if early.len() < 4 {
            let more = d.stream.read_bytes(4 - early.len(), false).await?;
            early.extend(more);
        }
        d.stream.write(early.to_ascii_uppercase()).await?;
        d.stream.close();
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn detach_gives_the_handler_the_raw_stream() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/ws", Takeover)]);
    let s = connect(addr).await?;
    s.write(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\n\r\nping".to_vec())
        .await?;
    let r = read_response(&s, true).await?;
    assert_eq!(r.status, 101);
    assert_eq!(s.read_until_close().await?, b"PING");
    Ok(())
}

/// Sends its own error page through the public `send_error`.
#[derive(Clone)]
struct Teapot;

impl RequestHandler for Teapot {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("never sent");
        self.send_error(cx, &HttpError::new(418).with_reason("Short and stout"));
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn send_error_is_public() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/tea", Teapot)]);
    let s = connect(addr).await?;
    s.write(b"GET /tea HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.status, 418);
    assert!(r.head.contains("Short and stout"));
    assert!(!r.text().contains("never sent"));
    Ok(())
}

/// Flushes, waits for the client to leave, then writes and finishes
/// (Tornado's `FinishOnCloseHandler`).
#[derive(Clone)]
struct FinishOnClose;

impl RequestHandler for FinishOnClose {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.flush().await?;
        cx.connection_closed().await?;
        cx.write("closed");
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn finishing_after_the_client_closed_is_quiet() -> Result<(), Error> {
    let (server, addr) = serve(vec![route("/", FinishOnClose)]);
    let s = connect(addr).await?;
    s.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    s.read_until(b"\r\n\r\n", None).await?;
    s.close();
    for _ in 0..200 {
        if server.tcp().connections() == 0 {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    // No application error was logged (gen_test would fail on one).
    assert_eq!(server.tcp().connections(), 0);
    Ok(())
}

/// HEAD on a handler that flushes: headers only, the connection reusable.
#[derive(Clone)]
struct FlushingHead;

impl RequestHandler for FlushingHead {
    async fn head(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("Hello world");
        cx.flush().await?;
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn head_of_a_flushed_response_twice_on_one_connection() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/chunked", FlushingHead)]);
    let s = connect(addr).await?;
    for _ in 0..2 {
        s.write(b"HEAD /chunked HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
            .await?;
        let r = read_response(&s, true).await?;
        assert_eq!(r.status, 200);
    }
    // Nothing but the two heads came: the next answer is a fresh head.
    s.write(b"HEAD /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, true).await?;
    assert_eq!(r.status, 200);
    assert_eq!(s.read_until_close().await?, b"");
    Ok(())
}

/// Registers a close callback and answers at once.
#[derive(Clone, Default)]
struct Registers {
    fired: Rc<RefCell<u32>>,
}

impl RequestHandler for Registers {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let fired = self.fired.clone();
        cx.on_connection_close(move || *fired.borrow_mut() += 1);
        cx.write("ok");
        Ok(())
    }
}

#[gen_test(timeout = 10)]
async fn close_callbacks_of_finished_requests_never_run() -> Result<(), Error> {
    let handler = Registers::default();
    let fired = handler.fired.clone();
    let (server, addr) = serve(vec![route("/", handler)]);
    let s = connect(addr).await?;
    for _ in 0..3 {
        s.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
            .await?;
        assert_eq!(read_response(&s, false).await?.text(), "ok");
    }
    s.close();
    for _ in 0..200 {
        if server.tcp().connections() == 0 {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.tcp().connections(), 0);
    sleep(Duration::from_millis(20)).await;
    assert_eq!(*fired.borrow(), 0);
    Ok(())
}

/// Answers whether Nagle's algorithm is off on its connection.
#[derive(Clone)]
struct NoDelay;

impl RequestHandler for NoDelay {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let d = cx.detach().ok_or_else(|| HttpError::new(500))?;
        let mut on: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `on` and `len` are valid for writes of the sizes given,
        // and the fd is the open socket of the detached stream.
        let r = unsafe {
            libc::getsockopt(
                d.stream.fileno(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        let answer = format!("{r} {on}");
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            answer.len()
        );
        d.stream
            .write(format!("{head}{answer}").into_bytes())
            .await?;
        d.stream.close();
        Ok(())
    }
}

/// Answers are written whole, so the server turns Nagle's algorithm off:
/// pipelined answers must not wait for the client's delayed ACK.
#[gen_test(timeout = 10)]
async fn the_server_turns_nagle_off() -> Result<(), Error> {
    let (_s, addr) = serve(vec![route("/", NoDelay)]);
    let (r, _) = exchange(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0 1", "getsockopt result and TCP_NODELAY");
    Ok(())
}
