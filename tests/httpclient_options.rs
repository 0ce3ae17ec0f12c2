//! The HTTP client's request options against scripted local servers:
//! basic auth, defaults, user agent, hostname mapping, If-Modified-Since,
//! header_callback, decompression (gzip, deflate, off, undecodable),
//! Expect: 100-continue, streamed uploads (chunked and with a length),
//! streamed downloads, redirects of each kind and loops, allow_ipv6,
//! time_info, client-wide limits and the blocking client.

mod client_support;
mod common;

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use client_support::{Action, RawServer, Req, client_error, ok, run};
use common::fresh_loop;
use tornado::concurrent::Future;
use tornado::r#gen::coroutine;
use tornado::http::{
    BodyWriter, FetchOptions, HttpClient, HttpClientErrorKind, HttpClientOptions, HttpRequest,
    fetch,
};
use tornado::tcp::{OverrideResolver, ThreadedResolver};

/// Answers with the request's line, selected headers and body length.
fn echo(r: &Req) -> Action {
    let text = format!(
        "{}|auth={}|ua={}|ims={}|x={}|len={}|te={}",
        r.line(),
        r.header("Authorization").unwrap_or_default(),
        r.header("User-Agent").unwrap_or_default(),
        r.header("If-Modified-Since").unwrap_or_default(),
        r.header("X-Default").unwrap_or_default(),
        r.body_len,
        r.header("Transfer-Encoding").unwrap_or_default(),
    );
    ok(&text)
}

fn fetch_text(c: &HttpClient, request: HttpRequest) -> String {
    let c = c.clone();
    run(move || c.fetch_request(request)).unwrap().text()
}

#[test]
fn auth_defaults_user_agent_and_if_modified_since() {
    let _l = fresh_loop();
    let s = RawServer::start(echo);
    let url = format!("{}/", s.url);
    let c = HttpClient::new(
        HttpClientOptions::new().defaults(
            HttpRequest::default()
                .user_agent("suite/1")
                .header("X-Default", "d")
                .auth("Aladdin", "open sesame"),
        ),
    );
    let text = fetch_text(&c, HttpRequest::with_url(url.clone()));
    assert!(
        text.contains("auth=Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        "{text}"
    );
    assert!(text.contains("ua=suite/1|"), "{text}");
    assert!(text.contains("x=d|"), "{text}");
    // The request's own options win over the defaults.
    let text = fetch_text(
        &c,
        HttpRequest::with_url(url.clone())
            .user_agent("own")
            .auth("u", "p")
            .header("X-Default", "mine")
            .if_modified_since(UNIX_EPOCH + Duration::from_secs(784111777)),
    );
    assert!(text.contains("auth=Basic dTpw|"), "{text}");
    assert!(text.contains("ua=own|"), "{text}");
    assert!(text.contains("x=mine|"), "{text}");
    assert!(
        text.contains("ims=Sun, 06 Nov 1994 08:49:37 GMT|"),
        "{text}"
    );
}

#[test]
fn hostname_mapping_and_a_resolver() {
    let _l = fresh_loop();
    let s = RawServer::start(|r| ok(&r.header("Host").unwrap_or_default()));
    let port = s.addr.port();
    let c = HttpClient::new(HttpClientOptions::new().hostname_mapping("api.test", "127.0.0.1"));
    // Connected to 127.0.0.1, the Host still the URL's.
    assert_eq!(
        fetch_text(
            &c,
            HttpRequest::with_url(format!("http://api.test:{port}/"))
        ),
        format!("api.test:{port}")
    );
    let c =
        HttpClient::new(HttpClientOptions::new().resolver(
            OverrideResolver::new(ThreadedResolver).map("svc.test", 80, "127.0.0.1", port),
        ));
    assert_eq!(
        fetch_text(&c, HttpRequest::with_url("http://svc.test/")),
        "svc.test"
    );
}

#[test]
fn allow_ipv6_false_skips_v6_addresses() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| ok("v4"));
    let port = s.addr.port();
    let v6_only = vec![format!("[::1]:{port}").parse().unwrap()];
    let c = HttpClient::new(
        HttpClientOptions::new()
            .resolver(OverrideResolver::new(ThreadedResolver).map_addrs("six.test", port, v6_only)),
    );
    let c2 = c.clone();
    let e = run(move || {
        c2.fetch_request(
            HttpRequest::with_url(format!("http://six.test:{port}/")).allow_ipv6(false),
        )
    })
    .unwrap_err();
    assert_eq!(client_error(e).kind, HttpClientErrorKind::Connection);
}

#[test]
fn header_callback_gets_each_line() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| {
        Action::Reply(b"HTTP/1.1 200 Fine\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok".to_vec())
    });
    let lines: Rc<RefCell<Vec<String>>> = Rc::default();
    let l2 = lines.clone();
    let url = format!("{}/", s.url);
    run(move || {
        fetch(
            &url,
            FetchOptions::new().header_callback(move |l| l2.borrow_mut().push(l.to_owned())),
        )
    })
    .unwrap();
    assert_eq!(
        *lines.borrow(),
        [
            "HTTP/1.1 200 Fine\r\n",
            "X-A: 1\r\n",
            "Content-Length: 2\r\n",
            "\r\n"
        ]
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn encoded(coding: &str, body: Vec<u8>) -> Action {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend(body);
    Action::Reply(out)
}

#[test]
fn gzip_and_deflate_are_decoded_unless_turned_off() {
    let _l = fresh_loop();
    let plain = b"hello hello hello hello".repeat(50);
    let p2 = plain.clone();
    let s = RawServer::start(move |r| {
        if r.line().contains("/deflate") {
            encoded("deflate", zlib(&p2))
        } else if r.line().contains("/bad") {
            encoded("deflate", b"definitely not zlib".to_vec())
        } else {
            encoded("gzip", gzip(&p2))
        }
    });
    let base = s.url.clone();
    let c = HttpClient::new(HttpClientOptions::new());
    for path in ["/gzip", "/deflate"] {
        let c2 = c.clone();
        let url = format!("{base}{path}");
        let r = run(move || c2.fetch_request(HttpRequest::with_url(url))).unwrap();
        assert_eq!(r.body, plain, "{path}");
        assert_eq!(r.headers.get("Content-Encoding"), None);
        assert_eq!(
            r.headers.get("X-Consumed-Content-Encoding"),
            Some(&path[1..])
        );
    }
    let c2 = c.clone();
    let url = format!("{base}/gzip-off");
    let r = run(move || c2.fetch_request(HttpRequest::with_url(url).decompress_response(false)))
        .unwrap();
    assert_eq!(r.body, gzip(&plain));
    assert_eq!(r.headers.get("Content-Encoding"), Some("gzip"));
    let asked: Vec<Option<String>> = s
        .requests
        .borrow()
        .iter()
        .map(|r| r.header("Accept-Encoding"))
        .collect();
    assert_eq!(asked[0].as_deref(), Some("gzip, deflate"));
    assert_eq!(asked[2], None, "not asked for when not decoded");
    let c2 = c.clone();
    let url = format!("{base}/bad");
    let e = client_error(run(move || c2.fetch_request(HttpRequest::with_url(url))).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
    assert!(matches!(
        e.read_error,
        Some(tornado::http::ReadError::Body(
            tornado::http::BodyError::BadGzip(_)
        ))
    ));
}

#[test]
fn expect_100_continue_sends_the_body_after_the_go_ahead_only() {
    let _l = fresh_loop();
    let s = RawServer::start(|r| {
        if r.line().contains("/no-continue") {
            Action::ReplyClose(
                b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n".to_vec(),
            )
        } else {
            ok(&format!("got {}", r.body_len))
        }
    });
    let base = s.url.clone();
    let c = HttpClient::new(HttpClientOptions::new());
    let r = fetch_text(
        &c,
        HttpRequest::with_url(format!("{base}/up"))
            .method("PUT")
            .body(vec![7u8; 5000])
            .expect_100_continue(true),
    );
    assert_eq!(r, "got 5000");
    assert!(s.requests.borrow()[0].header("Expect").is_some());
    let c2 = c.clone();
    let url = format!("{base}/no-continue");
    let e = run(move || {
        c2.fetch_request(
            HttpRequest::with_url(url)
                .method("PUT")
                .body(vec![7u8; 5000])
                .expect_100_continue(true),
        )
    })
    .unwrap_err();
    assert_eq!(client_error(e).kind, HttpClientErrorKind::Status(417));
}

/// A producer writing `pieces` pieces of 64 KiB, each after the previous
/// one was taken by the connection, noting the most it held at once.
fn producer(pieces: usize, held: Rc<Cell<usize>>) -> impl Fn(BodyWriter) -> Future<()> {
    move |w: BodyWriter| {
        let held = held.clone();
        coroutine(async move {
            for i in 0..pieces {
                let piece = vec![(i % 251) as u8; 64 * 1024];
                held.set(held.get().max(piece.len()));
                w.write(piece).await?;
            }
            Ok(())
        })
    }
}

#[test]
fn streamed_uploads_chunked_or_with_a_length() {
    let _l = fresh_loop();
    let s = RawServer::start(echo);
    let url = format!("{}/", s.url);
    let c = HttpClient::new(HttpClientOptions::new());
    let held = Rc::new(Cell::new(0));
    let text = fetch_text(
        &c,
        HttpRequest::with_url(url.clone())
            .method("POST")
            .body_producer(producer(64, held.clone())),
    );
    // 4 MiB sent without knowing its length: chunked.
    assert!(
        text.contains(&format!("len={}|te=chunked", 64 * 64 * 1024)),
        "{text}"
    );
    assert_eq!(held.get(), 64 * 1024);
    let text = fetch_text(
        &c,
        HttpRequest::with_url(url)
            .method("PUT")
            .header("Content-Length", &(8 * 64 * 1024).to_string())
            .body_producer(producer(8, held)),
    );
    assert!(
        text.contains(&format!("len={}|te=", 8 * 64 * 1024)),
        "{text}"
    );
    // One connection for both: the streamed request left it reusable.
    assert_eq!(s.connections(), 1);
}

#[test]
fn a_failing_body_producer_is_a_typed_error() {
    let _l = fresh_loop();
    let s = RawServer::start(echo);
    let url = format!("{}/", s.url);
    let e = run(move || {
        HttpClient::new(HttpClientOptions::new()).fetch_request(
            HttpRequest::with_url(url)
                .method("POST")
                .body_producer(|_| Future::failed(std::io::Error::other("disk gone"))),
        )
    })
    .unwrap_err();
    let e = client_error(e);
    assert_eq!(e.kind, HttpClientErrorKind::BodyProducer);
    assert!(e.message.contains("disk gone"));
}

#[test]
fn streamed_downloads_keep_no_body() {
    let _l = fresh_loop();
    let big = vec![b'q'; 3 << 20];
    let b2 = big.clone();
    let s = RawServer::start(move |_| {
        let mut out =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b2.len()).into_bytes();
        out.extend_from_slice(&b2);
        Action::Reply(out)
    });
    let url = format!("{}/", s.url);
    let (total, largest) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (t2, l2) = (total.clone(), largest.clone());
    let r = run(move || {
        fetch(
            &url,
            FetchOptions::new().streaming_callback(move |piece| {
                t2.set(t2.get() + piece.len());
                l2.set(l2.get().max(piece.len()));
            }),
        )
    })
    .unwrap();
    assert!(r.body.is_empty());
    assert_eq!(total.get(), big.len());
    assert!(
        largest.get() <= 64 * 1024,
        "pieces are bounded: {}",
        largest.get()
    );
}

#[test]
fn redirects_of_each_kind_and_loops() {
    let _l = fresh_loop();
    let s = RawServer::start(|r| {
        let line = r.line();
        let redirect = |code: u16, to: &str| {
            Action::Reply(
                format!("HTTP/1.1 {code} Moved\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
                    .into_bytes(),
            )
        };
        for code in [301, 302, 303, 307, 308] {
            if line.contains(&format!("/r{code} ")) {
                return redirect(code, "/target");
            }
        }
        if line.contains("/loop") {
            return redirect(302, "/loop");
        }
        ok(&format!(
            "{} {}",
            r.line().split(' ').next().unwrap(),
            r.body_len
        ))
    });
    let base = s.url.clone();
    let c = HttpClient::new(HttpClientOptions::new());
    for (code, expect) in [
        (301, "GET 0"),
        (302, "GET 0"),
        (303, "GET 0"),
        (307, "POST 4"),
        (308, "POST 4"),
    ] {
        let text = fetch_text(
            &c,
            HttpRequest::with_url(format!("{base}/r{code}"))
                .method("POST")
                .body("data"),
        );
        assert_eq!(text, expect, "{code}");
    }
    // A streamed body is produced again for a 307.
    let held = Rc::new(Cell::new(0));
    let text = fetch_text(
        &c,
        HttpRequest::with_url(format!("{base}/r307"))
            .method("PUT")
            .body_producer(producer(2, held)),
    );
    assert_eq!(text, format!("PUT {}", 2 * 64 * 1024));
    let c2 = c.clone();
    let url = format!("{base}/loop");
    let e = client_error(run(move || c2.fetch_request(HttpRequest::with_url(url))).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::TooManyRedirects);
    assert_eq!(e.response.unwrap().effective_url, format!("{base}/loop"));
}

#[test]
fn time_info_and_client_limits() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| ok(&"b".repeat(2000)));
    let url = format!("{}/", s.url);
    let c = HttpClient::new(
        HttpClientOptions::new()
            .max_body_size(1000)
            .max_header_size(4096),
    );
    let c2 = c.clone();
    let u2 = url.clone();
    let e = client_error(run(move || c2.fetch_request(HttpRequest::with_url(u2))).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
    // The request's own limit wins.
    let c2 = c.clone();
    let r = run(move || c2.fetch_request(HttpRequest::with_url(url).max_body_size(5000))).unwrap();
    let t = r.time_info;
    assert_eq!(r.body.len(), 2000);
    assert!(t.connect > Duration::ZERO);
    assert_eq!(t.tls, Duration::ZERO);
    assert!(t.queue <= t.first_byte && t.first_byte <= t.total);
    assert_eq!(t.total, r.request_time);
}

#[test]
fn the_blocking_client_runs_its_own_loop() {
    // A server on a thread of its own, since this thread's loop runs only
    // while the blocking client fetches.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut w = conn;
        for _ in 0..2 {
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
            }
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nsync")
                .unwrap();
        }
    });
    let client = HttpClient::blocking();
    for _ in 0..2 {
        let r = client
            .fetch(HttpRequest::with_url(format!("http://127.0.0.1:{port}/")))
            .unwrap();
        assert_eq!((r.code, r.text().as_str()), (200, "sync"));
    }
    // Both over the one connection the server accepts.
    assert_eq!(client.client().connections_opened(), 1);
    server.join().unwrap();
    let e = client
        .fetch(HttpRequest::with_url("http://127.0.0.1:1/").connect_timeout(Duration::from_secs(2)))
        .unwrap_err();
    assert_eq!(e.kind, HttpClientErrorKind::ConnectionRefused);
}

#[test]
fn a_panicking_callback_fails_its_fetch_only() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| ok("body"));
    let url = format!("{}/", s.url);
    let c = HttpClient::new(HttpClientOptions::new());
    let c2 = c.clone();
    let u2 = url.clone();
    let e = run(move || {
        c2.fetch_request(HttpRequest::with_url(u2).streaming_callback(|_| panic!("callback bug")))
    })
    .unwrap_err();
    assert!(format!("{e}").contains("callback bug"), "{e}");
    // The connection it was on is not reused; the client goes on.
    assert_eq!(c.idle_connections(), 0);
    assert_eq!(fetch_text(&c, HttpRequest::with_url(url)), "body");
    assert_eq!(c.active_requests(), 0);
}

#[test]
fn network_interface_is_the_source_address() {
    let _l = fresh_loop();
    let s = RawServer::start(|_| ok("x"));
    let url = format!("{}/", s.url);
    let source: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let c = HttpClient::new(HttpClientOptions::new());
    fetch_text(
        &c,
        HttpRequest::with_url(url.clone()).network_interface(source),
    );
    fetch_text(&c, HttpRequest::with_url(url));
    let peers = s.peers.borrow();
    assert_eq!(peers[0].ip(), source);
    // Another source address, another pooled connection.
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[1].ip().to_string(), "127.0.0.1");
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let _l = fresh_loop();
    let other = RawServer::start(echo);
    let elsewhere = format!("{}/landed", other.url);
    let s = RawServer::start(move |r| {
        if r.line().contains("/away") {
            Action::Reply(
                format!("HTTP/1.1 302 Found\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\n\r\n")
                    .into_bytes(),
            )
        } else if r.line().contains("/here") {
            Action::Reply(
                b"HTTP/1.1 302 Found\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n".to_vec(),
            )
        } else {
            echo(r)
        }
    });
    let c = HttpClient::new(HttpClientOptions::new());
    let text = fetch_text(
        &c,
        HttpRequest::with_url(format!("{}/here", s.url)).auth("u", "p"),
    );
    assert!(
        text.contains("auth=Basic dTpw|"),
        "same origin keeps them: {text}"
    );
    let text = fetch_text(
        &c,
        HttpRequest::with_url(format!("{}/away", s.url)).auth("u", "p"),
    );
    assert!(text.starts_with("GET /landed HTTP/1.1|auth=|"), "{text}");
}
