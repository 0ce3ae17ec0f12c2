//! The HTTP/1 connection layer as a server sees it: framing rules on the
//! wire (bare LF, Host, chunk-size lines, Content-Length), keep-alive edge
//! cases, Unix sockets, and the streaming message delegate (back-pressure,
//! per-request limits, gzip request bodies, detach, connection close).

mod common;

use std::cell::RefCell;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::http::{connect, exchange, raw, read_response};

use tornado::concurrent::{Error, Future};
use tornado::r#gen::sleep;
use tornado::http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
use tornado::http::httputil::{HttpHeaders, HttpServerRequest};
use tornado::http::response::ResponseWriter;
use tornado::http::{BodyError, HttpMessageDelegate, HttpServerDelegate, RequestConnection};
use tornado::iostream::IOStream;
use tornado_testing::{ExpectLog, gen_test};

/// Echoes method, path, host and body length.
struct Echo;

impl HttpHandler for Echo {
    async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
        let mut h = HttpHeaders::new();
        if req.path == "/plus" {
            // A handler's own invalid Content-Length.
            h.add("Content-Length", "+5");
            drop(resp.write_headers(200, None, &h, b"hello"));
            let _ = resp.finish().await;
            return;
        }
        if req.path == "/large" {
            let body = vec![b'x'; 4 << 20];
            h.add("Content-Length", body.len().to_string());
            let _ = resp.write_headers(200, None, &h, &body).await;
            let _ = resp.finish().await;
            return;
        }
        let body = format!(
            "{} {} host={} len={} enc={}",
            req.method,
            req.path,
            req.host,
            req.body.len(),
            req.headers
                .get("X-Consumed-Content-Encoding")
                .unwrap_or("-")
        );
        h.add("Content-Length", body.len().to_string());
        let _ = resp.write_headers(200, None, &h, body.as_bytes()).await;
        let _ = resp.finish().await;
    }
}

fn start_echo(options: HttpServerOptions) -> (HttpServer<Echo>, SocketAddr) {
    let server = HttpServer::new(Echo, options);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    (server, addr)
}

#[gen_test(timeout = 10)]
async fn bare_lf_request_heads_are_served() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let got = raw(addr, b"GET /lf HTTP/1.0\nHost: a\n\n").await?;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.ends_with("GET /lf host=a len=0 enc=-"), "{text}");
    // A body after a bare-LF head.
    let got = raw(addr, b"POST /lf HTTP/1.0\nContent-Length: 3\n\nabc").await?;
    assert!(String::from_utf8_lossy(&got).ends_with("len=3 enc=-"));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn host_is_validated() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "bad Host");
    let (_server, addr) = start_echo(HttpServerOptions::default());
    for req in [
        &b"GET / HTTP/1.0\r\nHost: foo bar\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    ] {
        let (r, closed) = exchange(addr, req).await?;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(req));
        assert!(closed);
    }
    // HTTP/1.0 without Host is fine.
    let (r, _) = exchange(addr, b"GET / HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.status, 200);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn lenient_chunk_size_lines_are_refused() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "bad chunk size");
    let (_server, addr) = start_echo(HttpServerOptions::default());
    for body in [
        &b"0 \r\n\r\n"[..],
        b" 0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\t\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut req = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        let (r, closed) = exchange(addr, &req).await?;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert!(closed);
    }
    Ok(())
}

#[gen_test(timeout = 10)]
async fn chunk_extensions_and_trailers_are_accepted() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;name=value\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
            .to_vec(),
    )
    .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.text(), "POST / host=a len=3 enc=-");
    // The connection is still good.
    s.write(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    assert_eq!(
        read_response(&s, false).await?.text(),
        "GET /again host=a len=0 enc=-"
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_handlers_plus_content_length_never_goes_out() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "without finishing");
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let got = raw(addr, b"GET /plus HTTP/1.0\r\n\r\n").await?;
    // Refused before anything was written: the connection just closes.
    assert_eq!(got, b"");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn invalid_request_content_lengths_get_400() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "invalid Content-Length");
    let (_server, addr) = start_echo(HttpServerOptions::default());
    for value in ["foo", "+10", "1_0"] {
        let req = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\nConnection: close\r\n\r\n1234567890"
        );
        let (r, closed) = exchange(addr, req.as_bytes()).await?;
        assert_eq!(r.status, 400, "{value}");
        assert!(closed);
    }
    Ok(())
}

#[gen_test(timeout = 10)]
async fn odd_methods_and_double_slash_paths() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let (r, _) = exchange(addr, b"FOO //doubleslash HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.text(), "FOO //doubleslash host=127.0.0.1 len=0 enc=-");
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let (r, closed) = exchange(addr, b"FOO,BAR / HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.status, 400);
    assert!(closed);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn extra_crlf_between_keep_alive_requests_is_skipped() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.header("Connection").as_deref(), Some("Keep-Alive"));
    s.write(b"GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.text(), "GET /2 host=127.0.0.1 len=0 enc=-");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn http10_chunked_bodies_are_read_and_the_connection_closes() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let got = raw(
        addr,
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfoo=\r\n3\r\nbar\r\n0\r\n\r\n",
    )
    .await?;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.ends_with("len=7 enc=-"), "{text}");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_cancelled_pipelined_request_and_a_client_leaving_mid_download() -> Result<(), Error> {
    let (server, addr) = start_echo(HttpServerOptions::default());
    // Two pipelined requests, one response read, then gone.
    let s = connect(addr).await?;
    s.write(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    read_response(&s, false).await?;
    s.close();
    // A large download abandoned after its first bytes.
    let s = connect(addr).await?;
    s.write(b"GET /large HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    s.read_bytes(1024, false).await?;
    s.close();
    // The server lets both connections go and still serves.
    for _ in 0..100 {
        if server.tcp().connections() == 0 {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.tcp().connections(), 0);
    let (r, _) = exchange(addr, b"GET /still HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.status, 200);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn http_over_a_unix_socket() -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("tornado-http1-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("http.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let server = HttpServer::new(Echo, HttpServerOptions::default());
    server.tcp().add_unix_socket(listener)?;
    let client = std::os::unix::net::UnixStream::connect(&path)?;
    let s = IOStream::new(client)?;
    s.write(b"GET /unix HTTP/1.0\r\n\r\n".to_vec()).await?;
    let got = s.read_until_close().await?;
    assert!(String::from_utf8_lossy(&got).ends_with("GET /unix host=127.0.0.1 len=0 enc=-"));
    // A bad request on it gets its 400 too.
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let s = IOStream::new(std::os::unix::net::UnixStream::connect(&path)?)?;
    s.write(b"garbage\r\n\r\n".to_vec()).await?;
    let got = s.read_until_close().await?;
    assert!(got.starts_with(b"HTTP/1.1 400"));
    let _ = std::fs::remove_file(&path);
    Ok(())
}

// ----- the streaming delegate ------------------------------------------

/// What a streaming delegate saw.
#[derive(Default)]
struct Seen {
    chunks: Vec<usize>,
    bytes: Vec<u8>,
    closed: bool,
    finished: bool,
}

/// Streams bodies; `/slow` sleeps in `data_received`, `/small` lowers the
/// body limit, `/big` raises it, `/detach` takes the connection over.
struct Streaming {
    seen: Rc<RefCell<Seen>>,
}

struct StreamingMessage {
    conn: RequestConnection,
    seen: Rc<RefCell<Seen>>,
    path: String,
}

impl HttpServerDelegate for Streaming {
    type Message = StreamingMessage;
    fn start_request(self: Rc<Self>, conn: RequestConnection) -> StreamingMessage {
        StreamingMessage {
            conn,
            seen: self.seen.clone(),
            path: String::new(),
        }
    }
}

impl HttpMessageDelegate for StreamingMessage {
    async fn headers_received(&mut self, request: HttpServerRequest) {
        self.path = request.path.clone();
        match request.path.as_str() {
            "/small" => self.conn.set_max_body_size(10),
            "/big" => self.conn.set_max_body_size(1 << 20),
            "/detach" => {
                let detached = self.conn.detach().expect("detachable");
                // Speak our own protocol: echo upper-cased what came early.
                let mut reply = b"DETACHED ".to_vec();
                reply.extend(detached.buffered.to_ascii_uppercase());
                let _ = detached.stream.write(reply).await;
                let more = detached
                    .stream
                    .read_bytes(3, false)
                    .await
                    .unwrap_or_default();
                let _ = detached.stream.write(more.to_ascii_uppercase()).await;
                detached.stream.close();
            }
            _ => {}
        }
    }

    async fn data_received(&mut self, chunk: Vec<u8>) -> Result<(), BodyError> {
        if self.path == "/slow" {
            sleep(Duration::from_millis(20)).await;
        }
        let mut seen = self.seen.borrow_mut();
        seen.chunks.push(chunk.len());
        seen.bytes.extend_from_slice(&chunk);
        Ok(())
    }

    async fn finish(&mut self) {
        self.seen.borrow_mut().finished = true;
        let body = format!("got {}", self.seen.borrow().bytes.len());
        let mut h = HttpHeaders::new();
        h.add("Content-Length", body.len().to_string());
        let resp = self.conn.response();
        drop(resp.write_headers(200, None, &h, body.as_bytes()));
        let _ = resp.finish().await;
    }

    fn on_connection_close(&mut self) {
        self.seen.borrow_mut().closed = true;
    }
}

fn start_streaming(
    options: HttpServerOptions,
) -> (HttpServer<Streaming>, SocketAddr, Rc<RefCell<Seen>>) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let server = HttpServer::new(Streaming { seen: seen.clone() }, options);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    (server, addr, seen)
}

#[gen_test(timeout = 10)]
async fn bodies_stream_in_chunks_of_at_most_chunk_size() -> Result<(), Error> {
    let options = HttpServerOptions {
        chunk_size: 1000,
        ..Default::default()
    };
    let (_server, addr, seen) = start_streaming(options);
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!("PUT / HTTP/1.0\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    let got = raw(addr, &req).await?;
    assert!(String::from_utf8_lossy(&got).ends_with("got 10000"));
    let seen = seen.borrow();
    assert!(seen.finished);
    assert_eq!(seen.bytes, body);
    assert!(seen.chunks.len() >= 10, "{:?}", seen.chunks);
    assert!(
        seen.chunks.iter().all(|&n| n > 0 && n <= 1000),
        "{:?}",
        seen.chunks
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_slow_data_received_holds_the_next_read_back() -> Result<(), Error> {
    let options = HttpServerOptions {
        chunk_size: 4096,
        max_buffer_size: 64 * 1024,
        ..Default::default()
    };
    let (server, addr, seen) = start_streaming(options);
    let s = connect(addr).await?;
    // More than the kernel's buffers can take: loopback receive windows
    // may grow to 32 MiB (tcp_rmem) plus 4 MiB of send buffer.
    let total = 64 << 20;
    s.write(
        format!("PUT /slow HTTP/1.1\r\nHost: a\r\nContent-Length: {total}\r\n\r\n").into_bytes(),
    )
    .await?;
    // Send much more than the server takes in one chunk; with a 20 ms
    // delay per 4 KiB chunk, a server reading ahead would have it all.
    let sending = s.write(vec![b'x'; total]);
    sleep(Duration::from_millis(200)).await;
    let received: usize = seen.borrow().bytes.len();
    assert!(received < 512 * 1024, "read {received} bytes ahead");
    assert!(!sending.done(), "the client's sends should block");
    drop(sending);
    s.close();
    drop(server);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn per_request_max_body_size() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let options = HttpServerOptions {
        max_body_size: 100,
        ..Default::default()
    };
    let (_server, addr, seen) = start_streaming(options);
    // Lowered: 20 bytes to /small is too many.
    let (r, closed) = exchange(
        addr,
        b"PUT /small HTTP/1.0\r\nContent-Length: 20\r\n\r\n01234567890123456789",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(closed);
    // Chunked: counted as it comes.
    let (r, _) = exchange(
        addr,
        b"PUT /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(seen.borrow().closed, "the delegate hears the request ended");
    // Raised: 1000 bytes to /big is fine although the server allows 100.
    let mut req = b"PUT /big HTTP/1.0\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 1000]);
    let got = raw(addr, &req).await?;
    assert!(
        String::from_utf8_lossy(&got).ends_with("got 1008"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn the_delegate_hears_a_client_leaving_mid_body() -> Result<(), Error> {
    let (server, addr, seen) = start_streaming(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc".to_vec())
        .await?;
    for _ in 0..100 {
        if !seen.borrow().bytes.is_empty() {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    s.close();
    for _ in 0..100 {
        if seen.borrow().closed {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(seen.borrow().closed);
    assert!(!seen.borrow().finished);
    drop(server);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn detach_hands_over_the_stream_and_early_bytes() -> Result<(), Error> {
    let (server, addr, _seen) = start_streaming(HttpServerOptions::default());
    let s = connect(addr).await?;
    // The client's own protocol starts right after the head.
    s.write(b"GET /detach HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\n\r\nabc".to_vec())
        .await?;
    assert_eq!(s.read_bytes(12, false).await?, b"DETACHED ABC");
    s.write(b"xyz".to_vec()).await?;
    assert_eq!(s.read_bytes(3, false).await?, b"XYZ");
    assert_eq!(s.read_until_close().await?, b"");
    drop(server);
    Ok(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[gen_test(timeout = 10)]
async fn gzip_request_bodies_are_decoded_when_asked() -> Result<(), Error> {
    let options = HttpServerOptions {
        decompress_request: true,
        ..Default::default()
    };
    let (_server, addr) = start_echo(options);
    let body = gzip(&b"foo=bar&".repeat(100));
    let mut req = format!(
        "POST / HTTP/1.0\r\nContent-Encoding: GZIP\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let got = raw(addr, &req).await?;
    assert!(
        String::from_utf8_lossy(&got).ends_with("len=800 enc=gzip"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Without the option the body stays compressed.
    let (_server2, addr2) = start_echo(HttpServerOptions::default());
    let got = raw(addr2, &req).await?;
    assert!(String::from_utf8_lossy(&got).ends_with(&format!("len={} enc=-", body.len())));
    // Not gzip at all: 400.
    let _log = ExpectLog::new("tornado.general", "bad gzip body");
    let (r, _) = exchange(
        addr,
        b"POST / HTTP/1.0\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await?;
    assert_eq!(r.status, 400);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_gzip_bomb_is_refused_not_inflated() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let options = HttpServerOptions {
        decompress_request: true,
        max_body_size: 1 << 20,
        ..Default::default()
    };
    let (_server, addr, seen) = start_streaming(options);
    // 64 MiB of zeros compress to about 64 KiB.
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        e.finish().unwrap()
    };
    assert!(bomb.len() < 1 << 20);
    let mut req = format!(
        "PUT / HTTP/1.0\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    req.extend_from_slice(&bomb);
    let (r, _) = exchange(addr, &req).await?;
    assert_eq!(r.status, 413);
    let delivered = seen.borrow().bytes.len();
    assert!(delivered <= 1 << 20, "{delivered} bytes inflated");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn body_timeout_can_be_set_per_request() -> Result<(), Error> {
    struct Timed;
    struct TimedMessage(RequestConnection);
    impl HttpServerDelegate for Timed {
        type Message = TimedMessage;
        fn start_request(self: Rc<Self>, conn: RequestConnection) -> TimedMessage {
            TimedMessage(conn)
        }
    }
    impl HttpMessageDelegate for TimedMessage {
        async fn headers_received(&mut self, _r: HttpServerRequest) {
            self.0.set_body_timeout(Some(Duration::from_millis(50)));
        }
        async fn data_received(&mut self, _c: Vec<u8>) -> Result<(), BodyError> {
            Ok(())
        }
        async fn finish(&mut self) {
            self.0.answer_error(200, "done");
        }
    }
    let server = HttpServer::new(Timed, HttpServerOptions::default());
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    let s = connect(addr).await?;
    s.write(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab".to_vec())
        .await?;
    let started = std::time::Instant::now();
    let got: Future<Vec<u8>> = s.read_until_close();
    assert_eq!(got.await?, b"");
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn decompressed_pieces_are_at_most_chunk_size() -> Result<(), Error> {
    let options = HttpServerOptions {
        chunk_size: 1000,
        decompress_request: true,
        ..Default::default()
    };
    let (_server, addr, seen) = start_streaming(options);
    let plain = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN".repeat(2000);
    let body = gzip(&plain);
    // Sent by length, then chunked.
    let mut req = format!(
        "PUT / HTTP/1.0\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    raw(addr, &req).await?;
    let mut req =
        b"PUT / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in body.chunks(700) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    raw(addr, &req).await?;
    let seen = seen.borrow();
    assert_eq!(seen.bytes, [plain.clone(), plain].concat());
    assert!(
        seen.chunks.iter().all(|&n| n > 0 && n <= 1000),
        "{:?}",
        seen.chunks
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_raised_body_limit_is_reset_for_the_next_request() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let options = HttpServerOptions {
        max_body_size: 100,
        ..Default::default()
    };
    let (_server, addr, _seen) = start_streaming(options);
    let s = connect(addr).await?;
    let mut req = b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 1000]);
    s.write(req).await?;
    assert_eq!(read_response(&s, false).await?.status, 200);
    let mut req = b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 200]);
    s.write(req).await?;
    assert_eq!(read_response(&s, false).await?.status, 413);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn http10_keep_alive_with_an_empty_chunked_body() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            .to_vec(),
    )
    .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.header("Connection").as_deref(), Some("Keep-Alive"));
    s.write(b"GET /next HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.text(), "GET /next host=127.0.0.1 len=0 enc=-");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_form_with_an_undecoded_content_encoding_is_400() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Unsupported Content-Encoding");
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let body = gzip(b"foo=bar");
    let mut req = format!(
        "POST / HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (r, _) = exchange(addr, &req).await?;
    assert_eq!(r.status, 400);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn an_idle_connection_is_closed_after_use_too() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions {
        idle_connection_timeout: Duration::from_millis(100),
        ..Default::default()
    });
    let s = connect(addr).await?;
    s.write(b"GET /used HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
        .await?;
    assert_eq!(read_response(&s, false).await?.status, 200);
    let started = std::time::Instant::now();
    assert_eq!(s.read_until_close().await?, b"");
    assert!(started.elapsed() >= Duration::from_millis(90));
    Ok(())
}

/// Each request starts the idle time over: a connection used again before
/// its deadline is closed a whole timeout after its last answer, not at the
/// first deadline (the server moves one timer rather than setting one per
/// request).
#[gen_test(timeout = 10)]
async fn each_request_starts_the_idle_time_over() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions {
        idle_connection_timeout: Duration::from_millis(100),
        ..Default::default()
    });
    let s = connect(addr).await?;
    for _ in 0..2 {
        s.write(b"GET /used HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
            .await?;
        assert_eq!(read_response(&s, false).await?.status, 200);
        sleep(Duration::from_millis(60)).await;
    }
    // 60 ms since the last answer; the first deadline (100 ms after the
    // first answer) has passed. The close comes about 40 ms from now.
    let started = std::time::Instant::now();
    assert_eq!(s.read_until_close().await?, b"");
    assert!(started.elapsed() >= Duration::from_millis(30));
    Ok(())
}

/// The idle and the body timeouts share one timer per connection: after a
/// slow body read under a long body timeout, the next wait for a head is
/// still cut at the short idle timeout (the timer is moved back from the
/// body's deadline), not 5 s later.
#[gen_test(timeout = 10)]
async fn the_idle_timeout_follows_a_longer_body_timeout() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions {
        idle_connection_timeout: Duration::from_millis(150),
        body_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    });
    let s = connect(addr).await?;
    // The body takes longer than the idle timeout: the connection's timer
    // fires while it is read and moves to the body's deadline, 5 s on.
    s.write(b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na".to_vec())
        .await?;
    sleep(Duration::from_millis(300)).await;
    s.write(b"bc".to_vec()).await?;
    assert_eq!(read_response(&s, false).await?.status, 200);
    let started = std::time::Instant::now();
    assert_eq!(s.read_until_close().await?, b"");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(140) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn streaming_chunked_bodies_and_raised_limits() -> Result<(), Error> {
    let options = HttpServerOptions {
        chunk_size: 1000,
        max_body_size: 100,
        ..Default::default()
    };
    let (_server, addr, seen) = start_streaming(options);
    // Chunked, over the server's limit but within the raised one, with
    // chunks larger than chunk_size split.
    let mut req =
        b"PUT /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"9c4\r\n");
        req.extend_from_slice(&[b'q'; 0x9c4]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let got = raw(addr, &req).await?;
    assert!(String::from_utf8_lossy(&got).ends_with("got 7500"));
    let seen = seen.borrow();
    assert!(
        seen.chunks.iter().all(|&n| n > 0 && n <= 1000),
        "{:?}",
        seen.chunks
    );
    Ok(())
}

#[gen_test(timeout = 10)]
async fn uncompressed_bodies_pass_a_decompressing_server_untouched() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions {
        decompress_request: true,
        max_body_size: 100,
        ..Default::default()
    });
    let got = raw(
        addr,
        b"POST / HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nfoo=bar",
    )
    .await?;
    assert!(String::from_utf8_lossy(&got).ends_with("len=7 enc=-"));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_request_arriving_byte_by_byte_is_read_the_same() -> Result<(), Error> {
    let (_server, addr) = start_echo(HttpServerOptions::default());
    let s = connect(addr).await?;
    let req = b"\r\nPOST /bytes HTTP/1.1\nHost: a\r\nTransfer-Encoding: chunked\n\n\
                3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nT: 1\r\n\r\n";
    for b in req.iter() {
        s.write(vec![*b]).await?;
        tornado::r#gen::moment().await;
    }
    let r = read_response(&s, false).await?;
    assert_eq!(r.text(), "POST /bytes host=a len=4 enc=-");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_413_reaches_a_client_still_sending() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let (_server, addr) = start_echo(HttpServerOptions {
        max_body_size: 1 << 20,
        ..Default::default()
    });
    // A client that sends its whole body before it reads the answer,
    // as many do: the answer must not be lost to a reset.
    let addr2 = addr;
    let got = tornado::r#gen::run_in_executor(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr2).unwrap();
        let total = 8 << 20;
        write!(
            s,
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: {total}\r\n\r\n"
        )
        .unwrap();
        let block = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            match s.write(&block) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    })
    .await?;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
    Ok(())
}
