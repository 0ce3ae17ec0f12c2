//! The HTTP client against local servers: GET/POST, chunked and
//! close-delimited bodies, gzip, redirects (and too many), status errors,
//! timeouts, refused connections, malformed answers, and HTTPS with a
//! certificate made in the test.

mod client_support;
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client_support::{client_error, run};
use common::fresh_loop;
use tornado::r#gen::sleep;
use tornado::http::{
    FetchOptions, HttpClientErrorKind, HttpResponse, HttpServer, HttpServerOptions, fetch,
};
use tornado::iostream::IOStream;
use tornado::iostream::tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use tornado::iostream::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tornado::tcp::{TcpHandler, TcpServer};
use tornado::web::{Application, Context, HttpError, RequestHandler, Settings, route};

/// Answers "METHOD body" to anything.
#[derive(Clone)]
struct Echo;
impl RequestHandler for Echo {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.post(cx).await
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let text = format!(
            "{} {}",
            cx.request().method,
            String::from_utf8_lossy(&cx.request().body)
        );
        cx.write(text);
        Ok(())
    }
    async fn put(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.post(cx).await
    }
}

/// The request's protocol, as the server saw it.
#[derive(Clone)]
struct Proto;
impl RequestHandler for Proto {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let p = cx.request().protocol.clone();
        cx.write(p);
        Ok(())
    }
}

/// Three flushed chunks: a chunked response to an HTTP/1.1 client.
#[derive(Clone)]
struct Chunked;
impl RequestHandler for Chunked {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        for i in 0..3 {
            cx.write(format!("part{i};"));
            cx.flush().await?;
        }
        Ok(())
    }
}

/// `/redirect/N` redirects to `/redirect/N-1`; `/redirect/0` says done.
#[derive(Clone)]
struct Countdown;
impl RequestHandler for Countdown {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let n: u32 = cx.path_args()[0].parse()?;
        if n == 0 {
            cx.write("done");
        } else {
            cx.redirect(&format!("/redirect/{}", n - 1), false);
        }
        Ok(())
    }
}

/// `/code/C` redirects with status C to `/echo`.
#[derive(Clone)]
struct RedirectWith;
impl RequestHandler for RedirectWith {
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let code: u16 = cx.path_args()[0].parse()?;
        cx.set_status(code);
        cx.set_header("Location", "/echo");
        Ok(())
    }
}

#[derive(Clone)]
struct Status;
impl RequestHandler for Status {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        Err(HttpError::new(cx.path_args()[0].parse()?))
    }
}

#[derive(Clone)]
struct Slow;
impl RequestHandler for Slow {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        sleep(Duration::from_millis(300)).await;
        cx.write("slow");
        Ok(())
    }
}

#[derive(Clone)]
struct Big;
impl RequestHandler for Big {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.set_header("Content-Type", "text/plain");
        cx.write("z".repeat(10_000));
        Ok(())
    }
}

fn app() -> Application {
    let settings = Settings {
        compress_response: true,
        ..Default::default()
    };
    Application::with_settings(
        vec![
            route("/echo", Echo),
            route("/proto", Proto),
            route("/chunked", Chunked),
            route(r"/redirect/(\d+)", Countdown),
            route(r"/code/(\d+)", RedirectWith),
            route(r"/status/(\d+)", Status),
            route("/slow", Slow),
            route("/big", Big),
        ],
        settings,
    )
}

fn serve() -> (HttpServer<Application>, String) {
    let (server, addrs) = app().listen_on(0, Some("127.0.0.1")).unwrap();
    (server, format!("http://{}", addrs[0]))
}

fn get(url: String, options: FetchOptions) -> Result<HttpResponse, tornado::ioloop::Error> {
    run(move || fetch(&url, options))
}

#[test]
fn get_and_post() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let r = get(format!("{base}/echo"), FetchOptions::new()).unwrap();
    assert_eq!(
        (r.code, r.reason.as_str(), r.text().as_str()),
        (200, "OK", "GET ")
    );
    assert_eq!(r.headers.get("Content-Length"), Some("4"));
    assert_eq!(r.effective_url, format!("{base}/echo"));
    let r = get(
        format!("{base}/echo?x=1"),
        FetchOptions::new().method("POST").body("payload"),
    )
    .unwrap();
    assert_eq!(r.text(), "POST payload");
    // POST with no body still sends a length, so the server need not wait.
    let r = get(format!("{base}/echo"), FetchOptions::new().method("POST")).unwrap();
    assert_eq!(r.text(), "POST ");
}

#[test]
fn chunked_and_gzip_bodies() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let r = get(format!("{base}/chunked"), FetchOptions::new()).unwrap();
    assert_eq!(r.headers.get("Transfer-Encoding"), Some("chunked"));
    assert_eq!(r.text(), "part0;part1;part2;");

    let r = get(format!("{base}/big"), FetchOptions::new()).unwrap();
    assert_eq!(r.body, vec![b'z'; 10_000]);
    assert_eq!(r.headers.get("X-Consumed-Content-Encoding"), Some("gzip"));
    assert_eq!(r.headers.get("Content-Encoding"), None);
    let mut raw = FetchOptions::new();
    raw.decompress_response = false;
    let r = get(format!("{base}/big"), raw.header("Accept-Encoding", "gzip")).unwrap();
    assert_eq!(r.headers.get("Content-Encoding"), Some("gzip"));
    assert!(r.body.len() < 1000 && r.body.starts_with(&[0x1f, 0x8b]));
}

#[test]
fn redirects_followed_and_limited() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let r = get(format!("{base}/redirect/3"), FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.text().as_str()), (200, "done"));
    assert_eq!(r.effective_url, format!("{base}/redirect/0"));

    let e = client_error(get(format!("{base}/redirect/6"), FetchOptions::new()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::TooManyRedirects);
    assert_eq!(e.response.as_ref().unwrap().code, 302);
    let r = get(
        format!("{base}/redirect/2"),
        FetchOptions::new().redirects(true, 2),
    )
    .unwrap();
    assert_eq!(r.text(), "done");

    // Not followed, a 3xx is not a 2xx: an error unless raise_error is off
    // (as Tornado), and the response's `error` either way.
    let e = client_error(
        get(
            format!("{base}/redirect/1"),
            FetchOptions::new().redirects(false, 5),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Status(302));
    let r = get(
        format!("{base}/redirect/1"),
        FetchOptions::new().redirects(false, 5).raise_error(false),
    )
    .unwrap();
    assert_eq!(r.code, 302);
    assert_eq!(r.headers.get("Location"), Some("/redirect/0"));
    assert_eq!(r.rethrow().unwrap_err().code(), 302);

    // 303 turns a POST into a GET; 307 and 308 repeat it.
    let post = || FetchOptions::new().method("POST").body("data");
    assert_eq!(
        get(format!("{base}/code/303"), post()).unwrap().text(),
        "GET "
    );
    assert_eq!(
        get(format!("{base}/code/302"), post()).unwrap().text(),
        "GET "
    );
    assert_eq!(
        get(format!("{base}/code/307"), post()).unwrap().text(),
        "POST data"
    );
    assert_eq!(
        get(format!("{base}/code/308"), post()).unwrap().text(),
        "POST data"
    );
}

#[test]
fn status_errors_raised_or_returned() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let e = client_error(get(format!("{base}/status/404"), FetchOptions::new()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::Status(404));
    assert_eq!(e.code(), 404);
    assert!(e.response.unwrap().text().contains("404"));
    let r = get(
        format!("{base}/status/503"),
        FetchOptions::new().raise_error(false),
    )
    .unwrap();
    assert_eq!(r.code, 503);
}

#[test]
fn request_timeout_and_refused() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let start = Instant::now();
    let e = client_error(
        get(
            format!("{base}/slow"),
            FetchOptions::new().request_timeout(Duration::from_millis(50)),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Timeout);
    assert_eq!(e.code(), 599);
    assert!(
        start.elapsed() < Duration::from_millis(280),
        "{:?}",
        start.elapsed()
    );
    // The same request with time to spare succeeds.
    let r = get(format!("{base}/slow"), FetchOptions::new()).unwrap();
    assert_eq!(r.text(), "slow");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e =
        client_error(get(format!("http://127.0.0.1:{port}/"), FetchOptions::new()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::ConnectionRefused);
    let e = client_error(get("gopher://x/".to_owned(), FetchOptions::new()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::InvalidUrl);
}

/// Reads a request head, then writes a canned answer and closes.
struct Canned(&'static [u8]);
impl TcpHandler for Canned {
    async fn handle_stream(&self, stream: IOStream, _address: SocketAddr) {
        if stream.read_until(b"\r\n\r\n", Some(65536)).await.is_ok() {
            let _ = stream.write(self.0.to_vec()).await;
        }
        stream.close();
    }
}

fn canned(reply: &'static [u8]) -> (TcpServer<Canned>, String) {
    let server = TcpServer::new(Canned(reply));
    let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
    (server, format!("http://{addr}/"))
}

#[test]
fn raw_answers_close_delimited_and_malformed() {
    let _l = fresh_loop();
    let (_a, url) = canned(b"HTTP/1.0 200 Fine\r\nX-A: 1\r\n\r\nuntil the close");
    let r = get(url, FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.reason.as_str()), (200, "Fine"));
    assert_eq!(r.headers.get("x-a"), Some("1"));
    assert_eq!(r.text(), "until the close");

    let (_b, url) =
        canned(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let r = get(url, FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.text().as_str()), (201, "ok"));

    for (reply, kind) in [
        (
            &b"garbage\r\n\r\n"[..],
            HttpClientErrorKind::MalformedResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            HttpClientErrorKind::MalformedResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            HttpClientErrorKind::MalformedResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            HttpClientErrorKind::Connection,
        ),
        (b"", HttpClientErrorKind::Connection),
    ] {
        let (_c, url) = canned(reply);
        let e = client_error(get(url, FetchOptions::new()).unwrap_err());
        assert_eq!(e.kind, kind, "{}", String::from_utf8_lossy(reply));
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[test]
fn https_with_a_local_certificate() {
    let _l = fresh_loop();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let server = HttpServer::with_tls(app(), HttpServerOptions::default(), Arc::new(server_config));
    let port = server.listen_on(0, Some("127.0.0.1")).unwrap()[0].port();
    let r = get(
        format!("https://localhost:{port}/echo"),
        FetchOptions::new()
            .method("POST")
            .body("secret")
            .tls(client_config.clone()),
    )
    .unwrap();
    assert_eq!(r.text(), "POST secret");
    let r = get(
        format!("https://localhost:{port}/proto"),
        FetchOptions::new().tls(client_config.clone()),
    )
    .unwrap();
    assert_eq!(r.text(), "https");
    // A larger body than one TLS record (Tornado's test_large_post).
    let big = "A".repeat(50_000);
    let r = get(
        format!("https://localhost:{port}/echo"),
        FetchOptions::new()
            .method("POST")
            .body(big.clone())
            .tls(client_config.clone()),
    )
    .unwrap();
    assert_eq!(r.text(), format!("POST {big}"));
    // Plain HTTP to the HTTPS port: the server closes, the client fails
    // with a connection error (Tornado's test_non_ssl_request).
    let e = client_error(
        get(
            format!("http://localhost:{port}/echo"),
            FetchOptions::new().request_timeout(Duration::from_secs(5)),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Connection, "{e}");
    let r = get(
        format!("https://localhost:{port}/redirect/1"),
        FetchOptions::new().tls(client_config),
    )
    .unwrap();
    assert_eq!(
        r.effective_url,
        format!("https://localhost:{port}/redirect/0")
    );
    // The built-in roots do not know the test's certificate, and neither
    // does an empty store: the handshake fails.
    let e =
        client_error(get(format!("https://localhost:{port}/"), FetchOptions::new()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::Tls, "{e}");
    let empty = Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    let e = client_error(
        get(
            format!("https://localhost:{port}/"),
            FetchOptions::new().tls(empty),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Tls);
}

#[test]
fn connect_timeout_covers_a_stalled_tls_handshake() {
    let _l = fresh_loop();
    // The kernel accepts the connection into the backlog, but nobody ever
    // answers the ClientHello: only the connect timeout can end the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    let start = Instant::now();
    let options = FetchOptions::new()
        .tls(config)
        .connect_timeout(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(10));
    let e = client_error(get(format!("https://localhost:{port}/"), options).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::Timeout);
    assert!(e.message.contains("connecting"), "{}", e.message);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(silent);
}

#[test]
fn body_size_limit() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let mut small = FetchOptions::new();
    small.max_body_size = 1000;
    let e = client_error(get(format!("{base}/big"), small.clone()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
    small.decompress_response = false;
    let e = client_error(get(format!("{base}/big"), small.clone()).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
    small.max_body_size = 20_000;
    assert_eq!(
        get(format!("{base}/big"), small).unwrap().body.len(),
        10_000
    );
}

#[test]
fn connects_through_tcp_client_with_a_resolver_override() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    // A name nobody resolves, sent to the local server by the override.
    let resolver = tornado::tcp::OverrideResolver::new(tornado::tcp::ThreadedResolver).map(
        "www.example.test",
        80,
        "127.0.0.1",
        port,
    );
    let options = FetchOptions::new()
        .tcp_client(tornado::tcp::TcpClient::with_resolver(resolver))
        .network_interface("127.0.0.1".parse().unwrap());
    let r = get("http://www.example.test/echo".to_owned(), options).unwrap();
    assert_eq!(r.text(), "GET ");
    // Without the override the name does not resolve: a connection error,
    // typed, from the TCP client.
    let e = client_error(
        get(
            "http://www.example.test/echo".to_owned(),
            FetchOptions::new().connect_timeout(Duration::from_secs(5)),
        )
        .unwrap_err(),
    );
    assert_eq!(e.kind, HttpClientErrorKind::Connection, "{e}");
}

#[test]
fn streaming_callback_gets_the_body_in_pieces() {
    let _l = fresh_loop();
    let (_s, base) = serve();
    let pieces = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Vec<u8>>::new()));
    let p = pieces.clone();
    let options = FetchOptions::new().streaming_callback(move |chunk| p.borrow_mut().push(chunk));
    let r = get(format!("{base}/chunked"), options).unwrap();
    assert!(r.body.is_empty(), "streamed, not collected");
    let all: Vec<u8> = pieces.borrow().concat();
    assert_eq!(all, b"part0;part1;part2;");
    // A large body arrives in several pieces of bounded size.
    pieces.borrow_mut().clear();
    let p = pieces.clone();
    let options = FetchOptions::new()
        .streaming_callback(move |chunk| p.borrow_mut().push(chunk))
        .header("Accept-Encoding", "identity");
    let r = get(format!("{base}/big"), options).unwrap();
    assert_eq!(r.code, 200);
    let pieces = pieces.borrow();
    assert!(pieces.len() > 1);
    assert!(pieces.iter().all(|p| p.len() <= 64 * 1024));
}

#[test]
fn responses_are_read_with_the_strict_shared_framing() {
    let _l = fresh_loop();
    for reply in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    ] {
        let (_c, url) = canned(reply);
        let e = client_error(get(url, FetchOptions::new()).unwrap_err());
        assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
        assert!(
            matches!(e.read_error, Some(tornado::http::ReadError::Body(_))),
            "{e}: {:?}",
            e.read_error
        );
    }
    // Bare LF heads, trailers and a 204 with a stray length are fine.
    let (_a, url) =
        canned(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n");
    assert_eq!(get(url, FetchOptions::new()).unwrap().text(), "ok");
    let (_b, url) = canned(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(get(url, FetchOptions::new()).unwrap().code, 204);
}

#[test]
fn a_gzip_bomb_response_is_refused() {
    use std::io::Write as _;
    let _l = fresh_loop();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 16 << 20]).unwrap();
    let bomb = e.finish().unwrap();
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    reply.extend_from_slice(&bomb);
    let (_c, url) = canned(Box::leak(reply.into_boxed_slice()));
    let mut options = FetchOptions::new();
    options.max_body_size = 1 << 20;
    let e = client_error(get(url, options).unwrap_err());
    assert_eq!(e.kind, HttpClientErrorKind::MalformedResponse);
    assert!(matches!(
        e.read_error,
        Some(tornado::http::ReadError::Body(
            tornado::http::BodyError::TooLarge { .. }
        ))
    ));
}
