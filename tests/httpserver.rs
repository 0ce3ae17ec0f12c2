//! Behaviours of Tornado's `httpserver_test.py` that apply: keep-alive,
//! pipelining, chunked bodies both ways, `Expect: 100-continue`, HEAD,
//! `Content-Length` checks, size limits, timeouts, xheaders,
//! `max_connections`, and garbage. Clients are IOStreams on the test's loop,
//! speaking raw HTTP, so that every byte on the wire is checked.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http::{connect, exchange, parse_head, raw, read_response};

use tornado::concurrent::Error;
use tornado::r#gen::sleep;
use tornado::http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
use tornado::http::httputil::{HttpHeaders, HttpServerRequest};
use tornado::http::response::ResponseWriter;
use tornado_testing::{ExpectLog, gen_test};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The server under test: paths select behaviours.
struct TestHandler;

/// Answers `body` with a `Content-Length`.
async fn reply(resp: &ResponseWriter, body: &[u8]) {
    let mut h = HttpHeaders::new();
    h.add("Content-Length", body.len().to_string());
    let _ = resp.write_headers(200, None, &h, body).await;
    let _ = resp.finish().await;
}

impl HttpHandler for TestHandler {
    async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
        match req.path.as_str() {
            // Flushed in pieces without a length: chunked on HTTP/1.1.
            "/flush" => {
                let _ = resp
                    .write_headers(200, None, &HttpHeaders::new(), b"a")
                    .await;
                sleep(ms(5)).await;
                let _ = resp.write(b"bc").await;
                let _ = resp.write(b"").await;
                let _ = resp.write(b"def").await;
                let _ = resp.finish().await;
            }
            "/slow" => {
                sleep(ms(30)).await;
                reply(&resp, format!("slow {}", req.query).as_bytes()).await;
            }
            "/hello" => reply(&resp, b"hello").await,
            "/panic" => panic!("handler boom"),
            "/unfinished" => {
                let _ = resp
                    .write_headers(200, None, &HttpHeaders::new(), b"x")
                    .await;
            }
            _ => {
                let summary = format!(
                    "{} {} {} ip={} proto={} body={}",
                    req.method,
                    req.uri,
                    req.version,
                    req.remote_ip,
                    req.protocol,
                    String::from_utf8_lossy(&req.body)
                );
                reply(&resp, summary.as_bytes()).await;
            }
        }
    }
}

fn start(options: HttpServerOptions) -> (HttpServer<TestHandler>, SocketAddr) {
    let server = HttpServer::new(TestHandler, options);
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    (server, addr)
}

// ----- keep-alive and pipelining ---------------------------------------

#[gen_test(timeout = 10)]
async fn http11_keeps_the_connection_alive() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    for i in 0..3 {
        s.write(format!("GET /e?i={i} HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await?;
        let r = read_response(&s, false).await?;
        assert_eq!(r.status, 200);
        assert!(r.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", r.head);
        assert_eq!(r.header("Connection"), None);
        assert!(r.text().starts_with(&format!("GET /e?i={i} HTTP/1.1")));
    }
    // Connection: close ends it after the response.
    s.write(b"GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.header("Connection").as_deref(), Some("close"));
    assert_eq!(s.read_until_close().await?, b"");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn http10_keeps_alive_only_when_asked() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    for _ in 0..2 {
        s.write(b"GET /e HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec())
            .await?;
        let r = read_response(&s, false).await?;
        assert!(r.head.starts_with("HTTP/1.0 200 OK\r\n"), "{}", r.head);
        assert_eq!(r.header("Connection").as_deref(), Some("Keep-Alive"));
        assert!(r.text().starts_with("GET /e HTTP/1.0"));
    }
    // Without the header, HTTP/1.0 closes after one response.
    let (r, closed) = exchange(addr, b"GET /e HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.status, 200);
    assert!(closed, "HTTP/1.0 without keep-alive must close");
    // A chunk-less HTTP/1.0 response is delimited by the close.
    let reply = raw(
        addr,
        b"GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .await?;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nabcdef"), "{text}");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn no_keep_alive_option_closes_every_connection() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions {
        no_keep_alive: true,
        ..Default::default()
    });
    let (r, closed) = exchange(addr, b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    assert_eq!(r.header("Connection").as_deref(), Some("close"));
    assert!(closed);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn pipelined_requests_are_answered_in_order() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    // The first is slow: the second must still come after it.
    s.write(
        b"GET /slow?1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /slow?3 HTTP/1.1\r\nHost: x\r\n\r\n"
            .to_vec(),
    )
    .await?;
    assert_eq!(read_response(&s, false).await?.text(), "slow 1");
    assert!(
        read_response(&s, false)
            .await?
            .text()
            .starts_with("POST /e HTTP/1.1 ip=127.0.0.1 proto=http body=abc")
    );
    assert_eq!(read_response(&s, false).await?.text(), "slow 3");
    Ok(())
}

/// A batch of pipelined requests is answered as one write (the stream is
/// corked while requests wait behind the current one): every answer comes,
/// in order, and a `Connection: close` inside the batch still ends the
/// connection after its own answer.
#[gen_test(timeout = 10)]
async fn a_pipelined_batch_is_answered_whole_and_close_still_ends_it() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend_from_slice(format!("GET /slow?{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET /slow?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    batch.extend_from_slice(b"GET /slow?never HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write(batch).await?;
    for i in 0..5 {
        assert_eq!(read_response(&s, false).await?.text(), format!("slow {i}"));
    }
    assert_eq!(read_response(&s, false).await?.text(), "slow last");
    assert_eq!(s.read_until_close().await?, b"", "nothing after the close");
    Ok(())
}

// ----- bodies ------------------------------------------------------------

#[gen_test(timeout = 10)]
async fn chunked_request_bodies_are_decoded() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    // Chunk extensions are ignored; Transfer-Encoding is case-insensitive.
    s.write(b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.status, 200);
    assert!(
        r.text().ends_with("body=Wikipedia in\r\n\r\nchunks."),
        "{}",
        r.text()
    );
    // The connection still serves the next request.
    s.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    assert_eq!(read_response(&s, false).await?.text(), "hello");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn malformed_chunked_bodies_get_400_and_close() -> Result<(), Error> {
    let _log = ExpectLog::optional("tornado.general", "Malformed HTTP request");
    let (_server, addr) = start(HttpServerOptions::default());
    for body in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"-1\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabcXY0\r\n\r\n",
        // A trailer line must be a field.
        b"0\r\nXY\r\n\r\n",
        b"fffffffffffffffffffffff\r\n",
    ] {
        let mut req = b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        let (r, closed) = exchange(addr, &req).await?;
        assert!(
            r.status == 400 || r.status == 413,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.head
        );
        assert!(closed, "{:?}", String::from_utf8_lossy(body));
    }
    Ok(())
}

#[gen_test(timeout = 10)]
async fn chunked_body_over_the_limit_is_413() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let (_server, addr) = start(HttpServerOptions {
        max_body_size: 8,
        ..Default::default()
    });
    let (r, closed) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(closed);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn handlers_that_flush_send_chunked_responses() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(b"GET /flush HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.header("Transfer-Encoding").as_deref(), Some("chunked"));
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(r.text(), "abcdef");
    // The terminating chunk was read, so the next response parses cleanly.
    s.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    assert_eq!(read_response(&s, false).await?.text(), "hello");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn expect_100_continue_is_answered_before_the_body() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            .to_vec(),
    )
    .await?;
    let interim = s.read_until(b"\r\n\r\n", None).await?;
    assert!(
        interim.starts_with(b"HTTP/1.1 100 "),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    s.write(b"hello".to_vec()).await?;
    let r = read_response(&s, false).await?;
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("body=hello"));
    // No interim response without a body, nor on HTTP/1.0.
    for req in [
        &b"GET /hello HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"[..],
        b"POST /e HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    ] {
        let (r, _) = exchange(addr, req).await?;
        assert_ne!(r.status, 100);
    }
    Ok(())
}

#[gen_test(timeout = 10)]
async fn head_sends_content_length_but_no_body() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(
        b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    )
    .await?;
    let r = read_response(&s, true).await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length").as_deref(), Some("5"));
    // If HEAD had sent a body, it would show up as this response's start.
    let r = read_response(&s, false).await?;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello");
    // A chunk-less HEAD answer has no chunked terminator either.
    s.write(
        b"HEAD /flush HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
    )
    .await?;
    let r = read_response(&s, true).await?;
    assert_eq!(r.status, 200);
    assert_eq!(read_response(&s, false).await?.text(), "hello");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn bad_content_lengths_get_400() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let (_server, addr) = start(HttpServerOptions::default());
    for headers in [
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: +3",
        "Content-Length: 0x3",
        "Content-Length: 3\r\nContent-Length: 4",
        "Content-Length: 3\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: gzip",
        "Content-Length: 3, 4",
        // Smuggling shapes: TE that a proxy might read differently.
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked, chunked",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
    ] {
        // A body that would be fine if the headers were.
        let body = if headers.contains("chunked") {
            "3\r\nabc\r\n0\r\n\r\n"
        } else {
            "abc"
        };
        let req = format!("POST /e HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\n{body}");
        let (r, closed) = exchange(addr, req.as_bytes()).await?;
        assert_eq!(r.status, 400, "{headers}: {}", r.head);
        assert!(closed, "{headers}");
    }
    // Repeated identical values are tolerated, as in Tornado.
    let (r, _) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await?;
    assert!(r.text().ends_with("body=abc"));
    let (r, _) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc",
    )
    .await?;
    assert!(r.text().ends_with("body=abc"), "{}", r.head);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn body_over_max_body_size_is_413() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let (_server, addr) = start(HttpServerOptions {
        max_body_size: 10,
        ..Default::default()
    });
    let (r, closed) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(closed);
    // A length that does not even fit in 64 bits is too large as well.
    let (r, _) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    )
    .await?;
    assert_eq!(r.status, 413);
    // At the limit is fine.
    let (r, _) = exchange(
        addr,
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    )
    .await?;
    assert!(r.text().ends_with("body=0123456789"));
    Ok(())
}

// ----- heads -------------------------------------------------------------

#[gen_test(timeout = 10)]
async fn oversized_heads_get_431() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let (_server, addr) = start(HttpServerOptions {
        max_header_size: 1024,
        ..Default::default()
    });
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2048)
    );
    let (r, closed) = exchange(addr, big.as_bytes()).await?;
    assert_eq!(r.status, 431);
    assert!(closed);
    // Too many headers, each small.
    let (_server2, addr2) = start(HttpServerOptions::default());
    let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (r, _) = exchange(
        addr2,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await?;
    assert_eq!(r.status, 431);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn malformed_request_lines_get_400_and_close() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let (_server, addr) = start(HttpServerOptions::default());
    for req in [
        &b"asdf\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: \xff\xfe\r\n\r\n",
    ] {
        let (r, closed) = exchange(addr, req).await?;
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(req));
        assert!(closed);
    }
    Ok(())
}

// ----- timeouts ------------------------------------------------------------

#[gen_test(timeout = 10)]
async fn idle_connection_timeout_closes_a_slowloris_while_others_are_served() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions {
        idle_connection_timeout: ms(500),
        ..Default::default()
    });
    let started = Instant::now();
    let slow = connect(addr).await?;
    slow.write(b"GET / HTTP/1.1\r\nHost: loris\r\nX-A: ".to_vec())
        .await?;
    let slow_done = slow.read_until_close();
    // Meanwhile, other clients are served promptly.
    for _ in 0..5 {
        let (r, _) = exchange(addr, b"GET /hello HTTP/1.0\r\n\r\n").await?;
        assert_eq!(r.text(), "hello");
    }
    assert!(!slow_done.done(), "closed too early");
    assert_eq!(slow_done.await?, b"", "closed without an answer");
    let took = started.elapsed();
    assert!(took >= ms(490), "closed after {took:?}");
    assert!(took < ms(5000), "closed after {took:?}");
    // An idle keep-alive connection is closed too.
    let s = connect(addr).await?;
    s.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    read_response(&s, false).await?;
    let idle = Instant::now();
    assert_eq!(s.read_until_close().await?, b"");
    assert!(idle.elapsed() >= ms(450));
    Ok(())
}

#[gen_test(timeout = 10)]
async fn body_timeout_closes_a_slow_upload() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions {
        body_timeout: Some(ms(400)),
        ..Default::default()
    });
    let started = Instant::now();
    let s = connect(addr).await?;
    s.write(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123".to_vec())
        .await?;
    assert_eq!(s.read_until_close().await?, b"");
    let took = started.elapsed();
    assert!(took >= ms(390) && took < ms(5000), "closed after {took:?}");
    // A body that arrives in time, in pieces, is fine.
    let s = connect(addr).await?;
    s.write(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n123".to_vec())
        .await?;
    sleep(ms(50)).await;
    s.write(b"456".to_vec()).await?;
    assert!(
        read_response(&s, false)
            .await?
            .text()
            .ends_with("body=123456")
    );
    Ok(())
}

// ----- xheaders -------------------------------------------------------------

async fn ip_and_proto(addr: SocketAddr, headers: &str) -> Result<String, Error> {
    let req = format!("GET /e HTTP/1.0\r\n{headers}\r\n");
    let (r, _) = exchange(addr, req.as_bytes()).await?;
    let text = r.text();
    let at = text.find("ip=").expect("ip in reply");
    Ok(text[at..text.find(" body=").unwrap()].to_owned())
}

#[gen_test(timeout = 10)]
async fn xheaders_set_remote_ip_and_protocol() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions {
        xheaders: true,
        trusted_downstream: vec!["5.5.5.5".parse().unwrap()],
        ..Default::default()
    });
    let cases = [
        ("", "ip=127.0.0.1 proto=http"),
        ("X-Real-Ip: 4.4.4.4\r\n", "ip=4.4.4.4 proto=http"),
        (
            "X-Real-Ip: 2620:0:1cfe:face:b00c::3\r\n",
            "ip=2620:0:1cfe:face:b00c::3 proto=http",
        ),
        // Not an address: ignored.
        ("X-Real-Ip: 4.4.4.4<script>\r\n", "ip=127.0.0.1 proto=http"),
        (
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n",
            "ip=2.2.2.2 proto=http",
        ),
        // The trusted proxy's own address is skipped.
        (
            "X-Forwarded-For: 1.1.1.1, 5.5.5.5\r\n",
            "ip=1.1.1.1 proto=http",
        ),
        (
            "X-Forwarded-For: 1.1.1.1\r\nX-Real-Ip: 4.4.4.4\r\n",
            "ip=4.4.4.4 proto=http",
        ),
        ("X-Scheme: https\r\n", "ip=127.0.0.1 proto=https"),
        ("X-Forwarded-Proto: https\r\n", "ip=127.0.0.1 proto=https"),
        (
            "X-Forwarded-Proto: http, https\r\n",
            "ip=127.0.0.1 proto=https",
        ),
        ("X-Scheme: gopher\r\n", "ip=127.0.0.1 proto=http"),
        ("X-Scheme: https, http\r\n", "ip=127.0.0.1 proto=http"),
        // Every address trusted: the first one is the client.
        ("X-Forwarded-For: 5.5.5.5\r\n", "ip=5.5.5.5 proto=http"),
        (
            "X-Forwarded-For: junk, 5.5.5.5\r\n",
            "ip=127.0.0.1 proto=http",
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(ip_and_proto(addr, headers).await?, want, "{headers:?}");
    }
    // Without the option the same headers are ignored.
    let (_plain, plain_addr) = start(HttpServerOptions::default());
    assert_eq!(
        ip_and_proto(plain_addr, "X-Real-Ip: 4.4.4.4\r\nX-Scheme: https\r\n").await?,
        "ip=127.0.0.1 proto=http"
    );
    Ok(())
}

// ----- connections and robustness -------------------------------------------

#[gen_test(timeout = 10)]
async fn max_connections_answers_503_beyond_the_limit() -> Result<(), Error> {
    let (_server, addr) = start(HttpServerOptions {
        max_connections: Some(1),
        ..Default::default()
    });
    let first = connect(addr).await?;
    first
        .write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    assert_eq!(read_response(&first, false).await?.text(), "hello");
    // `first` is still open: the next connection is refused.
    let reply = raw(addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let r = parse_head(&reply)?;
    assert_eq!(r.status, 503);
    // Once the first one is gone, connections are served again.
    first.close();
    let mut served = false;
    for _ in 0..50 {
        let (r, _) = exchange(addr, b"GET /hello HTTP/1.0\r\n\r\n").await?;
        if r.status == 200 {
            served = true;
            break;
        }
        sleep(ms(10)).await;
    }
    assert!(served);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_panicking_handler_gets_500_and_is_logged() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "handler boom");
    let (_server, addr) = start(HttpServerOptions::default());
    let (r, closed) = exchange(addr, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    assert_eq!(r.status, 500);
    assert!(closed);
    Ok(())
}

#[gen_test(timeout = 10)]
async fn an_unfinished_response_closes_the_connection() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "without finishing");
    let (_server, addr) = start(HttpServerOptions::default());
    let s = connect(addr).await?;
    s.write(b"GET /unfinished HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await?;
    let got = s.read_until_close().await?;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    Ok(())
}

/// xorshift64: deterministic "random" bytes.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[gen_test(timeout = 20)]
async fn garbage_never_breaks_the_server() -> Result<(), Error> {
    let _log = ExpectLog::optional("tornado.general", "");
    let (_server, addr) = start(HttpServerOptions {
        max_header_size: 4096,
        idle_connection_timeout: ms(500),
        ..Default::default()
    });
    for seed in 1..=40u64 {
        let mut bytes = garbage(seed * 7919, 64 + (seed as usize * 97) % 3000);
        // Half of them look like a request up to the garbage.
        if seed % 2 == 0 {
            let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n".to_vec();
            if seed % 4 == 0 {
                req.extend_from_slice(b"\r\n");
            }
            req.extend_from_slice(&bytes);
            bytes = req;
        }
        bytes.extend_from_slice(b"\r\n\r\n");
        let reply = raw(addr, &bytes).await.unwrap_or_default();
        if !reply.is_empty() {
            let r = parse_head(&reply)?;
            assert!((400..500).contains(&r.status), "seed {seed}: {}", r.head);
        }
    }
    // Still serving.
    let (r, _) = exchange(addr, b"GET /hello HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.text(), "hello");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn a_client_that_sends_nothing_is_closed_quietly() -> Result<(), Error> {
    let _quiet = ExpectLog::absent("tornado", "");
    let (_server, addr) = start(HttpServerOptions::default());
    for _ in 0..3 {
        let s = connect(addr).await?;
        s.close();
    }
    // A half request, then gone.
    let s = connect(addr).await?;
    s.write(b"GET / HT".to_vec()).await?;
    s.close();
    let (r, _) = exchange(addr, b"GET /hello HTTP/1.0\r\n\r\n").await?;
    assert_eq!(r.text(), "hello");
    Ok(())
}

#[gen_test(timeout = 10)]
async fn expect_100_continue_with_a_body_too_large_gets_413_not_100() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "body too large");
    let (_server, addr) = start(HttpServerOptions {
        max_body_size: 4,
        ..Default::default()
    });
    let (r, closed) = exchange(
        addr,
        b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .await?;
    assert_eq!(r.status, 413);
    assert!(closed);
    Ok(())
}
