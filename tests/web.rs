//! Behaviours of Tornado's `web_test.py` that apply: routing, errors and
//! error pages, the handler's life cycle, output (text, bytes, JSON,
//! headers, redirects, flushing), arguments, cookies and signed cookies,
//! and the access log.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use common::http::{Resp, connect, exchange, read_response};
use tornado::concurrent::{Error, Future};
use tornado::r#gen::coroutine;
use tornado::web::{
    Application, Context, CookieOptions, HttpError, RequestHandler, Route, Settings, route,
};
use tornado_testing::{AsyncHttpTestCase, ExpectLog};

/// The application under test, served by `AsyncHttpTestCase`.
fn serve(routes: Vec<Route>) -> AsyncHttpTestCase {
    serve_with(routes, Settings::default())
}

fn serve_with(routes: Vec<Route>, settings: Settings) -> AsyncHttpTestCase {
    AsyncHttpTestCase::new(move || Application::with_settings(routes, settings))
}

/// Runs a raw exchange with the server (`addr`) on the case's loop: these
/// tests check the bytes on the wire, which a client would hide.
fn raw<T: 'static>(
    t: &AsyncHttpTestCase,
    f: impl AsyncFnOnce(SocketAddr) -> Result<T, Error> + 'static,
) -> Result<T, Error> {
    let addr = t.addr();
    t.run_sync(move || -> Future<T> { coroutine(async move { f(addr).await }) })
        .map_err(|e| Error::msg(e.to_string()))
}

/// One request on its own connection (HTTP/1.0: the server closes after).
fn fetch(t: &AsyncHttpTestCase, method: &str, uri: &str, extra: &str) -> Result<Resp, Error> {
    let req = format!("{method} {uri} HTTP/1.0\r\n{extra}\r\n");
    raw(t, async move |addr| {
        Ok(exchange(addr, req.as_bytes()).await?.0)
    })
}

fn get(t: &AsyncHttpTestCase, uri: &str) -> Result<Resp, Error> {
    fetch(t, "GET", uri, "")
}

// ----- routing -------------------------------------------------------------

#[derive(Clone)]
struct Args;
impl RequestHandler for Args {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let kw: Vec<String> = ["a", "b"]
            .iter()
            .filter_map(|k| cx.path_kwarg(k).map(|v| format!("{k}={v}")))
            .collect();
        let line = format!("args={:?} kwargs={:?}", cx.path_args(), kw);
        cx.write(line);
        Ok(())
    }
}

#[test]
fn routes_pass_groups_and_named_groups() -> Result<(), Error> {
    let _not_found = ExpectLog::new("tornado.access", "404 GET /user/x");
    let t = serve(vec![
        route(r"/user/([0-9]+)/([^/]+)", Args),
        route(r"/named/(?P<a>[^/]+)/(?P<b>[^/]*)", Args),
        route(r"/opt/([a-z]+)?", Args),
    ]);
    let r = get(&t, "/user/42/caf%C3%A9%20au%20lait")?;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"args=["42", "café au lait"] kwargs=[]"#);
    let r = get(&t, "/named/x%2Fy/")?;
    assert_eq!(r.text(), r#"args=[] kwargs=["a=x/y", "b="]"#);
    // An unmatched optional group is an empty argument.
    assert_eq!(get(&t, "/opt/")?.text(), r#"args=[""] kwargs=[]"#);
    // A group that is not UTF-8 once decoded is a bad request.
    let _bad_request = ExpectLog::new("tornado.access", "400 GET /user/1/%FF");
    assert_eq!(get(&t, "/user/1/%FF")?.status, 400);
    // Patterns match the whole path, not a prefix.
    assert_eq!(get(&t, "/user/x/y")?.status, 404);
    assert_eq!(get(&t, "/user/1/2/3")?.status, 404);
    Ok(())
}

#[test]
fn unmatched_paths_get_the_default_404_page() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.access", "404 GET /nowhere?x=1 (127.0.0.1)");
    let t = serve(vec![route("/", Args)]);
    let r = get(&t, "/nowhere?x=1")?;
    assert_eq!(r.status, 404);
    assert!(r.head.starts_with("HTTP/1.0 404 Not Found\r\n"));
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("text/html; charset=UTF-8")
    );
    assert_eq!(
        r.text(),
        "<html><title>404: Not Found</title><body>404: Not Found</body></html>"
    );
    Ok(())
}

#[test]
fn missing_and_unknown_methods_get_405() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.access", "405");
    let t = serve(vec![route("/", Args)]);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"] {
        let r = fetch(&t, method, "/", "Content-Length: 0\r\n")?;
        assert_eq!(r.status, 405, "{method}");
    }
    assert_eq!(get(&t, "/")?.status, 200);
    Ok(())
}

// ----- life cycle ------------------------------------------------------------

/// Records the calls it sees, shared with the test.
#[derive(Clone)]
struct Lifecycle(Rc<RefCell<Vec<String>>>);
impl RequestHandler for Lifecycle {
    async fn prepare(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.0.borrow_mut().push("prepare".into());
        if cx.get_argument_opt("early").is_some() {
            cx.set_status(403);
            cx.write("stopped in prepare");
            cx.finish().await?;
        }
        if cx.get_argument_opt("fail").is_some() {
            return Err(HttpError::new(401));
        }
        Ok(())
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.0.borrow_mut().push("get".into());
        cx.write("from get");
        Ok(())
    }
    fn on_finish(&mut self, cx: &mut Context) {
        self.0
            .borrow_mut()
            .push(format!("on_finish {}", cx.get_status()));
    }
}

#[test]
fn prepare_can_finish_early_and_on_finish_always_runs() -> Result<(), Error> {
    let _log = ExpectLog::optional("tornado", "");
    let calls = Rc::new(RefCell::new(Vec::new()));
    let t = serve(vec![route("/", Lifecycle(calls.clone()))]);
    assert_eq!(get(&t, "/")?.text(), "from get");
    assert_eq!(*calls.borrow(), ["prepare", "get", "on_finish 200"]);
    calls.borrow_mut().clear();
    let r = get(&t, "/?early=1")?;
    assert_eq!((r.status, r.text().as_str()), (403, "stopped in prepare"));
    assert_eq!(*calls.borrow(), ["prepare", "on_finish 403"]);
    calls.borrow_mut().clear();
    assert_eq!(get(&t, "/?fail=1")?.status, 401);
    assert_eq!(*calls.borrow(), ["prepare", "on_finish 401"]);
    Ok(())
}

// ----- output ------------------------------------------------------------------

#[derive(Clone)]
struct Output;
impl RequestHandler for Output {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        match cx.path_args()[0].as_str() {
            "str" => cx.write("héllo"),
            "bytes" => {
                cx.set_header("Content-Type", "application/octet-stream");
                cx.write(&b"\x00\x01\xff"[..]);
            }
            "json" => cx.write(serde_json::json!({"a": [1, 2], "b": "x"})),
            "json_value" => {
                #[derive(serde::Serialize)]
                struct P {
                    n: u32,
                }
                cx.write_json(&P { n: 7 })?;
            }
            "headers" => {
                cx.set_status(201);
                cx.set_header("X-One", "1");
                cx.set_header("X-One", "one"); // replaces
                cx.add_header("X-Multi", "a");
                cx.add_header("X-Multi", "b");
                cx.set_header("X-Gone", "soon");
                cx.clear_header("x-gone"); // any case
                cx.clear_header("Server");
                cx.write("headers");
            }
            "reason" => cx.set_status_reason(299, "Pretty Good"),
            "no_content" => {
                cx.set_status(204);
                cx.write("dropped");
            }
            "inject" => {
                cx.set_header("X-Bad", "a\r\nInjected: 1");
                cx.add_header("X-Bad2", "a\nb");
                cx.set_header("Bad Name", "v");
                cx.write("safe");
            }
            "redirect" => cx.redirect("/elsewhere?x=1", false),
            "moved" => cx.redirect("https://example.com/", true),
            "flush" => {
                cx.write("one,");
                cx.flush().await?;
                cx.write("two,");
                cx.flush().await?;
                cx.write("three");
            }
            "short" => {
                cx.set_header("Content-Length", 10);
                cx.write("abc");
            }
            "long" => {
                cx.set_header("Content-Length", 2);
                cx.write("abc");
            }
            "after_finish" => {
                cx.write("done");
                cx.finish().await?;
                cx.write("too late");
            }
            other => return Err(HttpError::new(400).with_log_message(other.to_owned())),
        }
        Ok(())
    }
    async fn head(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("twelve bytes");
        Ok(())
    }
}

#[test]
fn write_sets_body_and_content_type() -> Result<(), Error> {
    let t = serve(vec![route("/(.*)", Output)]);
    let r = get(&t, "/str")?;
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("text/html; charset=UTF-8")
    );
    assert_eq!(r.header("Content-Length").as_deref(), Some("6"));
    assert_eq!(r.text(), "héllo");
    let r = get(&t, "/bytes")?;
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(r.body, b"\x00\x01\xff");
    let r = get(&t, "/json")?;
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/json; charset=UTF-8")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(Error::new)?;
    assert_eq!(v, serde_json::json!({"a": [1, 2], "b": "x"}));
    assert_eq!(get(&t, "/json_value")?.text(), r#"{"n":7}"#);
    Ok(())
}

#[test]
fn status_and_headers_can_be_set_added_and_cleared() -> Result<(), Error> {
    let t = serve(vec![route("/(.*)", Output)]);
    let r = get(&t, "/headers")?;
    assert!(r.head.starts_with("HTTP/1.0 201 Created\r\n"), "{}", r.head);
    assert_eq!(r.header("X-One").as_deref(), Some("one"));
    assert_eq!(r.head.matches("X-One:").count(), 1);
    assert!(r.head.contains("X-Multi: a\r\n") && r.head.contains("X-Multi: b\r\n"));
    assert_eq!(r.header("X-Gone"), None);
    assert_eq!(r.header("Server"), None);
    assert!(r.header("Date").is_some());
    let r = get(&t, "/reason")?;
    assert!(
        r.head.starts_with("HTTP/1.0 299 Pretty Good\r\n"),
        "{}",
        r.head
    );
    // 204: no body and no Content-Type, whatever was written.
    let r = get(&t, "/no_content")?;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Content-Type"), None);
    assert!(r.body.is_empty());
    Ok(())
}

#[test]
fn header_injection_is_refused() -> Result<(), Error> {
    let log = ExpectLog::new("tornado.application", "refusing unsafe response header");
    let t = serve(vec![route("/(.*)", Output)]);
    let r = get(&t, "/inject")?;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "safe");
    assert!(!r.head.contains("Injected"), "{}", r.head);
    assert_eq!(r.header("X-Bad"), None);
    assert_eq!(r.header("X-Bad2"), None);
    assert_eq!(log.matched(), 3);
    Ok(())
}

#[test]
fn redirects_are_302_or_301_with_a_location() -> Result<(), Error> {
    let t = serve(vec![route("/(.*)", Output)]);
    let r = get(&t, "/redirect")?;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location").as_deref(), Some("/elsewhere?x=1"));
    let r = get(&t, "/moved")?;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location").as_deref(),
        Some("https://example.com/")
    );
    Ok(())
}

#[test]
fn flush_streams_a_chunked_response_and_head_has_no_body() -> Result<(), Error> {
    let t = serve(vec![route("/(.*)", Output)]);
    raw(&t, async |addr| {
        let s = connect(addr).await?;
        s.write(
            b"GET /flush HTTP/1.1\r\nHost: x\r\n\r\nHEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /str HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        )
        .await?;
        let r = read_response(&s, false).await?;
        assert_eq!(r.header("Transfer-Encoding").as_deref(), Some("chunked"));
        assert_eq!(r.text(), "one,two,three");
        let r = read_response(&s, true).await?;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Length").as_deref(), Some("12"));
        // The next response follows at once: HEAD sent no body.
        assert_eq!(read_response(&s, false).await?.text(), "héllo");
        Ok(())
    })
}

#[test]
fn write_after_finish_is_logged_and_ignored() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "write() after finish()");
    let t = serve(vec![route("/(.*)", Output)]);
    assert_eq!(get(&t, "/after_finish")?.text(), "done");
    Ok(())
}

#[test]
fn a_body_that_does_not_match_its_content_length_closes_the_connection() -> Result<(), Error> {
    let log = ExpectLog::new("tornado.application", "Content-Length");
    let _unfinished = ExpectLog::optional("tornado.application", "without finishing");
    let t = serve(vec![route("/(.*)", Output)]);
    for (path, want) in [("/short", "abc"), ("/long", "")] {
        let all = raw(&t, async move |addr| {
            let s = connect(addr).await?;
            s.write(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
                .await?;
            s.read_until_close().await
        })?;
        let text = String::from_utf8_lossy(&all);
        // Never a complete response: the body is short (or absent).
        assert!(
            text.ends_with(&format!("\r\n\r\n{want}")) || text.is_empty(),
            "{path}: {text}"
        );
    }
    assert_eq!(log.matched(), 2);
    Ok(())
}

// ----- errors --------------------------------------------------------------------

#[derive(Clone)]
struct Failing;
impl RequestHandler for Failing {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("partial output is discarded");
        match cx.path_args()[0].as_str() {
            "403" => Err(HttpError::new(403)
                .with_reason("Nope")
                .with_log_message("secret detail")),
            "500" => Err(HttpError::new(503).with_log_message("db down")),
            "io" => Err(std::io::Error::other("disk on fire").into()),
            "panic" => panic!("handler exploded"),
            "after_flush" => {
                cx.flush().await?;
                Err(HttpError::new(500).with_log_message("too late"))
            }
            _ => Ok(()),
        }
    }
}

/// Answers errors as JSON (a custom `write_error`).
#[derive(Clone)]
struct JsonErrors;
impl RequestHandler for JsonErrors {
    async fn get(&mut self, _cx: &mut Context) -> Result<(), HttpError> {
        Err(HttpError::new(418).with_log_message("teapot"))
    }
    fn write_error(&mut self, cx: &mut Context, error: &HttpError) {
        let code = cx.get_status();
        cx.write(serde_json::json!({"code": code, "reason": error.reason()}));
    }
}

#[test]
fn http_errors_become_error_pages_and_log_lines() -> Result<(), Error> {
    let _warn = ExpectLog::new("tornado.general", "HTTP 403: Nope (secret detail)");
    let _err = ExpectLog::new(
        "tornado.application",
        "HTTP 503: Service Unavailable (db down)",
    );
    let _access = ExpectLog::optional("tornado.access", "");
    let t = serve(vec![
        route("/fail/(.*)", Failing),
        route("/json", JsonErrors),
    ]);
    let r = get(&t, "/fail/403")?;
    assert!(r.head.starts_with("HTTP/1.0 403 Nope\r\n"), "{}", r.head);
    assert_eq!(
        r.text(),
        "<html><title>403: Nope</title><body>403: Nope</body></html>"
    );
    assert!(!r.text().contains("secret"));
    let r = get(&t, "/fail/500")?;
    assert_eq!(r.status, 503);
    assert!(!r.text().contains("partial output"));
    let _teapot = ExpectLog::new("tornado.general", "teapot");
    let r = get(&t, "/json")?;
    assert_eq!(r.status, 418);
    let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(Error::new)?;
    assert_eq!(
        v,
        serde_json::json!({"code": 418, "reason": "I'm a Teapot"})
    );
    Ok(())
}

#[test]
fn other_errors_and_panics_are_500s_logged_on_tornado_application() -> Result<(), Error> {
    let io = ExpectLog::new("tornado.application", "disk on fire");
    let panicked = ExpectLog::new("tornado.application", "handler exploded");
    let access = ExpectLog::new("tornado.access", "500 GET /fail/panic (127.0.0.1)");
    let t = serve(vec![route("/fail/(.*)", Failing)]);
    let r = get(&t, "/fail/io")?;
    assert_eq!(r.status, 500);
    let r = get(&t, "/fail/panic")?;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "<html><title>500: Internal Server Error</title><body>500: Internal Server Error</body></html>"
    );
    assert_eq!(
        (io.matched(), panicked.matched(), access.matched()),
        (1, 1, 1)
    );
    // The server goes on serving.
    assert_eq!(get(&t, "/fail/none")?.status, 200);
    Ok(())
}

#[test]
fn serve_traceback_shows_the_error() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "disk on fire");
    let settings = Settings {
        serve_traceback: true,
        ..Default::default()
    };
    let t = serve_with(vec![route("/fail/(.*)", Failing)], settings);
    let r = get(&t, "/fail/io")?;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("disk on fire"), "{}", r.text());
    Ok(())
}

#[test]
fn an_error_after_flush_closes_the_connection() -> Result<(), Error> {
    let _err = ExpectLog::new("tornado.application", "too late");
    let _gen = ExpectLog::new("tornado.general", "cannot send error response");
    let t = serve(vec![route("/fail/(.*)", Failing)]);
    let all = raw(&t, async |addr| {
        let s = connect(addr).await?;
        s.write(b"GET /fail/after_flush HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
            .await?;
        s.read_until_close().await
    })?;
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("partial output is discarded"));
    // No terminating chunk: the client can tell the response is cut short.
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    Ok(())
}

// ----- arguments -----------------------------------------------------------------

#[derive(Clone)]
struct ArgsEcho;
impl RequestHandler for ArgsEcho {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let line = format!(
            "a={:?} last={:?} missing={} default={} q={:?} b={:?}",
            cx.get_arguments("a"),
            cx.get_argument_opt("a"),
            cx.get_argument_opt("missing").is_none(),
            cx.get_argument_or("missing", "dflt"),
            cx.get_query_argument_opt("a"),
            cx.get_body_argument_opt("a"),
        );
        cx.write(line);
        Ok(())
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.get(cx).await?;
        let mut names: Vec<_> = cx.request().files.keys().cloned().collect();
        names.sort();
        for name in names {
            let lines: Vec<String> = cx.request().files[&name]
                .iter()
                .map(|f| {
                    format!(
                        " file {name}: {} {} {:?}",
                        f.filename,
                        f.content_type,
                        String::from_utf8_lossy(&f.body)
                    )
                })
                .collect();
            for line in lines {
                cx.write(line);
            }
        }
        Ok(())
    }
}

#[test]
fn query_and_body_arguments() -> Result<(), Error> {
    let t = serve(vec![route("/args", ArgsEcho)]);
    let r = get(&t, "/args?a=1&a=x+y%21&b=")?;
    assert_eq!(
        r.text(),
        r#"a=["1", "x y!"] last=Some("x y!") missing=true default=dflt q=Some("x y!") b=None"#
    );
    let body = "a=from+body&c=3";
    let r = fetch(
        &t,
        "POST",
        "/args?a=q",
        &format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )?;
    assert_eq!(
        r.text(),
        r#"a=["q", "from body"] last=Some("from body") missing=true default=dflt q=Some("q") b=Some("from body")"#
    );
    Ok(())
}

#[test]
fn multipart_fields_and_files() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.general", "Malformed HTTP request");
    let t = serve(vec![route("/args", ArgsEcho)]);
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfield value\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"up\"; filename=\"r.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n\
                --XyZ--\r\n";
    let head = format!(
        "Content-Type: multipart/form-data; boundary=\"XyZ\"\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = fetch(&t, "POST", "/args", &head)?;
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(r#"b=Some("field value")"#),
        "{}",
        r.text()
    );
    assert!(
        r.text()
            .ends_with(r#" file up: r.txt text/plain "line1\r\nline2""#),
        "{}",
        r.text()
    );
    // A body without its final boundary is malformed: 400.
    let cut = &body[..body.len() - 9];
    let head = format!(
        "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{cut}",
        cut.len()
    );
    assert_eq!(fetch(&t, "POST", "/args", &head)?.status, 400);
    Ok(())
}

// ----- cookies ---------------------------------------------------------------------

#[derive(Clone)]
struct Cookies;
impl RequestHandler for Cookies {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        match cx.path_args()[0].as_str() {
            "get" => {
                let line = format!(
                    "a={:?} b={:?} c={:?}",
                    cx.get_cookie("a"),
                    cx.get_cookie("b"),
                    cx.get_cookie("c")
                );
                cx.write(line);
            }
            "set" => {
                cx.set_cookie("plain", "v1", &CookieOptions::default());
                let opts = CookieOptions {
                    path: Some("/app".into()),
                    domain: Some("example.com".into()),
                    max_age: Some(60),
                    secure: true,
                    httponly: true,
                    samesite: Some("Lax".into()),
                    ..Default::default()
                };
                cx.set_cookie("full", "v2", &opts);
                cx.set_cookie("bad", "a;b", &CookieOptions::default());
                cx.clear_cookie("old", "/");
            }
            "set_signed" => {
                cx.set_signed_cookie("user", "alice|admin", &CookieOptions::default())?
            }
            "get_signed" => {
                let v = cx.get_signed_cookie("user", 31.0);
                cx.write(format!("{v:?}"));
            }
            _ => return Err(HttpError::new(404)),
        }
        Ok(())
    }
}

#[test]
fn cookies_are_read_set_and_cleared() -> Result<(), Error> {
    let _log = ExpectLog::new("tornado.application", "invalid cookie \"bad\"");
    let t = serve(vec![route("/c/(.*)", Cookies)]);
    let r = fetch(&t, "GET", "/c/get", "Cookie: a=1; b=\"two\"\r\n")?;
    assert_eq!(r.text(), r#"a=Some("1") b=Some("two") c=None"#);
    let r = get(&t, "/c/set")?;
    let set: Vec<&str> = r
        .head
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("Set-Cookie: "))
        .collect();
    assert_eq!(set.len(), 3, "{set:?}");
    assert_eq!(set[0], "plain=v1; Path=/");
    assert_eq!(
        set[1],
        "full=v2; Path=/app; Domain=example.com; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
    );
    assert_eq!(
        set[2],
        "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    );
    Ok(())
}

#[test]
fn signed_cookies_round_trip_and_tampering_is_detected() -> Result<(), Error> {
    let settings = Settings {
        cookie_secret: Some("0123456789abcdef".into()),
        ..Default::default()
    };
    let t = serve_with(vec![route("/c/(.*)", Cookies)], settings);
    let r = get(&t, "/c/set_signed")?;
    let cookie = r.header("Set-Cookie").expect("a Set-Cookie");
    let value = cookie
        .strip_prefix("user=")
        .and_then(|c| c.split(';').next())
        .expect("user cookie")
        .to_owned();
    assert!(!value.contains("alice"), "the value is encoded: {value}");
    let send = |v: &str| format!("Cookie: user={v}\r\n");
    let r = fetch(&t, "GET", "/c/get_signed", &send(&value))?;
    assert_eq!(r.text(), r#"Some("alice|admin")"#);
    // Change one character of the signature, then of the value.
    let mut sig = value.clone();
    let last = sig.pop().unwrap();
    sig.push(if last == '0' { '1' } else { '0' });
    let r = fetch(&t, "GET", "/c/get_signed", &send(&sig))?;
    assert_eq!(r.text(), "None");
    let forged = value.replacen("YWxpY2V8YWRtaW4=", "bWFsbG9yeXxyb290", 1);
    assert_ne!(forged, value);
    let r = fetch(&t, "GET", "/c/get_signed", &send(&forged))?;
    assert_eq!(r.text(), "None");
    assert_eq!(get(&t, "/c/get_signed")?.text(), "None");
    // Without a secret, signing is a server error.
    let _log = ExpectLog::new("tornado.application", "cookie_secret");
    let t2 = serve(vec![route("/c/(.*)", Cookies)]);
    assert_eq!(get(&t2, "/c/set_signed")?.status, 500);
    Ok(())
}

// ----- access log -------------------------------------------------------------------

#[test]
fn every_request_is_logged_on_tornado_access() -> Result<(), Error> {
    let ok =
        ExpectLog::new("tornado.access", "200 GET /str?x=1 (127.0.0.1)").level(log::Level::Info);
    let client =
        ExpectLog::new("tornado.access", "400 GET /unknown (127.0.0.1)").level(log::Level::Warn);
    let server =
        ExpectLog::new("tornado.access", "500 GET /fail/io (127.0.0.1)").level(log::Level::Error);
    let _err = ExpectLog::new("tornado.application", "disk on fire");
    let _warn = ExpectLog::new("tornado.general", "HTTP 400");
    let t = serve(vec![route("/fail/(.*)", Failing), route("/(.*)", Output)]);
    get(&t, "/str?x=1")?;
    get(&t, "/unknown")?;
    get(&t, "/fail/io")?;
    assert_eq!(
        (ok.matched(), client.matched(), server.matched()),
        (1, 1, 1)
    );
    Ok(())
}
