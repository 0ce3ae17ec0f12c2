//! Arguments, routing and ready-made handlers: required arguments (400),
//! named routes and `reverse_url`, host routing, `RedirectHandler`,
//! `FallbackHandler`, the default handler, `addslash`/`removeslash`,
//! custom methods, default headers, `compute_etag`, static URLs with
//! hashes and their cache headers, and HTTPS.

#[path = "support/tempdir.rs"]
mod tempdir;

use tempdir::TempDir;
use tornado::http::HttpHandler;
use tornado::http::httpclient::FetchOptions;
use tornado::http::httputil::{HttpHeaders, HttpServerRequest};
use tornado::http::response::ResponseWriter;
use tornado::web::{
    Application, Context, FallbackHandler, HttpError, RedirectHandler, RequestHandler, Settings,
    route,
};
use tornado_testing::{AsyncHttpTestCase, ExpectLog};

#[derive(Clone)]
struct Text(&'static str);
impl RequestHandler for Text {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write(self.0);
        Ok(())
    }
}

#[derive(Clone)]
struct Args;
impl RequestHandler for Args {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let name = cx.get_argument("name")?;
        let q = cx.get_query_arguments("name");
        let n: u32 = cx
            .get_argument_or("n", "1")
            .parse()
            .map_err(|_| HttpError::new(400).with_log_message("n is not a number"))?;
        cx.write(format!("{name:?} {q:?} {n}"));
        Ok(())
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let body = cx.get_body_argument("b")?;
        let query = cx.get_query_argument_opt("b");
        cx.write(format!("{body:?} {query:?} {:?}", cx.get_arguments("b")));
        Ok(())
    }
}

#[test]
fn arguments_are_stripped_and_required() {
    let t = AsyncHttpTestCase::new(|| Application::new(vec![route("/args", Args)]));
    let r = t
        .fetch(
            "/args?name=%20ann%01x%20&name=%20bob%20",
            FetchOptions::new(),
        )
        .unwrap();
    assert_eq!(r.text(), r#""bob" ["ann x", "bob"] 1"#);
    let _missing = ExpectLog::new("tornado.general", "Missing argument name");
    let _nan = ExpectLog::new("tornado.general", "n is not a number");
    let _access = ExpectLog::new("tornado.access", "400 GET /args");
    assert_eq!(t.fetch("/args", FetchOptions::new()).unwrap().code, 400);
    assert_eq!(
        t.fetch("/args?name=a&n=x", FetchOptions::new())
            .unwrap()
            .code,
        400
    );
    let form = FetchOptions::new()
        .method("POST")
        .header("Content-Type", "application/x-www-form-urlencoded");
    let r = t.fetch("/args?b=q", form.clone().body("b=+body+")).unwrap();
    assert_eq!(r.text(), r#""body" Some("q") ["q", "body"]"#);
    let _missing_b = ExpectLog::new("tornado.general", "Missing argument b");
    assert_eq!(
        t.fetch("/args?b=q", form.clone().body("c=1")).unwrap().code,
        400
    );
    // Arguments that are not UTF-8 once decoded are a 400 (Tornado's
    // decode_argument), in the query or the form.
    let _unicode = ExpectLog::new("tornado.general", "Invalid unicode in argument \"name\"");
    assert_eq!(
        t.fetch("/args?name=%FF", FetchOptions::new()).unwrap().code,
        400
    );
    assert_eq!(t.fetch("/args", form.body("b=%C3")).unwrap().code, 400);
}

/// Literal patterns are compared as strings, the others stay regexes: the
/// same answers either way.
#[test]
fn literal_and_regex_patterns_match_alike() {
    let t = AsyncHttpTestCase::new(|| {
        Application::new(vec![
            route("/about", Text("about")),
            route("/a.c", Text("dot")),
            route("/x-y", Text("dash")),
            route("/files/.*", Text("files")),
        ])
    });
    let get = |path: &str| {
        let r = t.fetch(path, FetchOptions::new()).unwrap();
        (r.code, r.text())
    };
    assert_eq!(get("/about"), (200, "about".to_owned()));
    assert_eq!(get("/about/").0, 404);
    assert_eq!(get("/About").0, 404);
    assert_eq!(get("/abc"), (200, "dot".to_owned()));
    assert_eq!(get("/x-y"), (200, "dash".to_owned()));
    assert_eq!(get("/files/a/b"), (200, "files".to_owned()));
}

#[test]
fn named_routes_reverse_and_hosts_route() {
    let t = AsyncHttpTestCase::new(|| {
        let app = Application::new(vec![
            route("/", Text("default")),
            route(r"/entry/([^/]+)", Text("entry")).name("entry"),
            route(r"/only-default", Text("only default")),
        ]);
        app.add_handlers(r"www\.example\.com", vec![route("/", Text("www"))]);
        app.add_handlers(r".*\.example\.com", vec![route("/", Text("any sub"))]);
        app
    });
    let app = t.app();
    assert_eq!(
        app.reverse_url("entry", &["a b/é"]).unwrap(),
        "/entry/a%20b/%C3%A9"
    );
    assert!(app.reverse_url("entry", &[]).is_err());
    assert!(app.reverse_url("nope", &[]).is_err());
    let host = |h: &str, path: &str| {
        t.fetch(path, FetchOptions::new().header("Host", h))
            .unwrap()
            .text()
    };
    assert_eq!(
        host("www.example.com", "/"),
        "www",
        "first matching host wins"
    );
    assert_eq!(
        host("WWW.example.com:8080", "/"),
        "www",
        "port and case ignored"
    );
    assert_eq!(host("api.example.com", "/"), "any sub");
    assert_eq!(host("example.org", "/"), "default");
    // A host without the path falls through to the routes for all hosts.
    assert_eq!(host("www.example.com", "/only-default"), "only default");
    assert_eq!(host("www.example.com", "/entry/x"), "entry");
}

/// A plain `HttpHandler`, mounted with `FallbackHandler`.
struct Plain;
impl HttpHandler for Plain {
    async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
        let body = format!("plain {} {}", req.method, req.path);
        let mut h = HttpHeaders::new();
        h.add("Content-Length", body.len().to_string());
        resp.write_headers(200, None, &h, body.as_bytes());
        let _ = resp.finish().await;
    }
}

#[derive(Clone)]
struct Fallback404;
impl RequestHandler for Fallback404 {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.set_status(404);
        cx.write(format!("nothing at {}", cx.request().path));
        Ok(())
    }
}

#[derive(Clone)]
struct Slashes;
impl RequestHandler for Slashes {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        if cx.request().path.starts_with("/add") {
            cx.addslash()?;
        } else {
            cx.removeslash()?;
        }
        cx.write("here");
        Ok(())
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.removeslash()?;
        cx.write("posted");
        Ok(())
    }
}

#[test]
fn redirect_fallback_default_and_slashes() {
    let t = AsyncHttpTestCase::new(|| {
        let app = Application::new(vec![
            route(
                r"/old/(\w+)/(?P<rest>.*)",
                RedirectHandler::new("/new/{0}/{rest}", true),
            ),
            route(r"/tmp", RedirectHandler::new("/elsewhere?x=1", false)),
            route(r"/plain/.*", FallbackHandler::new(Plain)),
            route(r"/add.*", Slashes),
            route(r"/rm.*", Slashes),
        ]);
        app.set_default_handler(Fallback404);
        app
    });
    let nf = FetchOptions::new().redirects(false, 0);
    let r = t.fetch("/old/a/b/c?q=1", nf.clone()).unwrap();
    assert_eq!(
        (r.code, r.headers.get("Location")),
        (301, Some("/new/a/b/c?q=1"))
    );
    let r = t.fetch("/tmp?y=2", nf.clone()).unwrap();
    assert_eq!(
        (r.code, r.headers.get("Location")),
        (302, Some("/elsewhere?x=1&y=2"))
    );
    let r = t
        .fetch("/plain/x", FetchOptions::new().method("DELETE"))
        .unwrap();
    assert_eq!(
        (r.code, r.text()),
        (200, "plain DELETE /plain/x".to_owned())
    );
    let _not_found = ExpectLog::new("tornado.access", "404 GET /nowhere");
    let r = t.fetch("/nowhere", FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.text()), (404, "nothing at /nowhere".to_owned()));
    let r = t.fetch("/add?x=1", nf.clone()).unwrap();
    assert_eq!(
        (r.code, r.headers.get("Location")),
        (301, Some("/add/?x=1"))
    );
    assert_eq!(t.fetch("/add/", nf.clone()).unwrap().text(), "here");
    let r = t.fetch("/rm//?x=1", nf.clone()).unwrap();
    assert_eq!((r.code, r.headers.get("Location")), (301, Some("/rm?x=1")));
    assert_eq!(t.fetch("/rm", nf.clone()).unwrap().text(), "here");
    let _post404 = ExpectLog::new("tornado.access", "404 POST /rm/");
    let r = t
        .fetch("/rm/", FetchOptions::new().method("POST").body(""))
        .unwrap();
    assert_eq!(r.code, 404);
}

/// Custom methods, default headers and its own ETag.
#[derive(Clone)]
struct Dav;
impl RequestHandler for Dav {
    const SUPPORTED_METHODS: &'static [&'static str] = &["GET", "PROPFIND"];
    fn set_default_headers(&self, cx: &mut Context) {
        cx.set_header("X-Frame-Options", "DENY");
    }
    fn compute_etag(body: &[u8]) -> Option<String> {
        (!body.starts_with(b"no-etag")).then(|| format!("\"len-{}\"", body.len()))
    }
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        if cx.get_argument_opt("fail").is_some() {
            return Err(HttpError::new(409));
        }
        cx.write(cx.get_argument_or("body", "hello"));
        Ok(())
    }
    async fn other_method(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let line = format!("other {}", cx.request().method);
        cx.write(line);
        Ok(())
    }
}

#[test]
fn supported_methods_default_headers_and_etags() {
    let t = AsyncHttpTestCase::new(|| Application::new(vec![route("/dav", Dav)]));
    let r = t.fetch("/dav", FetchOptions::new()).unwrap();
    assert_eq!(r.headers.get("X-Frame-Options"), Some("DENY"));
    assert_eq!(r.headers.get("Etag"), Some("\"len-5\""));
    let r = t.fetch("/dav?body=no-etag", FetchOptions::new()).unwrap();
    assert_eq!(r.headers.get("Etag"), None);
    let r = t
        .fetch(
            "/dav",
            FetchOptions::new().header("If-None-Match", "\"len-5\""),
        )
        .unwrap();
    assert_eq!(r.code, 304);
    let r = t
        .fetch("/dav", FetchOptions::new().method("PROPFIND"))
        .unwrap();
    assert_eq!((r.code, r.text()), (200, "other PROPFIND".to_owned()));
    let _not_allowed = ExpectLog::new("tornado.access", "405 POST /dav");
    let r = t
        .fetch("/dav", FetchOptions::new().method("POST").body(""))
        .unwrap();
    assert_eq!(r.code, 405);
    assert_eq!(
        r.headers.get("X-Frame-Options"),
        Some("DENY"),
        "error pages too"
    );
    let _conflict = ExpectLog::new("tornado.access", "409 GET /dav?fail=1");
    let r = t.fetch("/dav?fail=1", FetchOptions::new()).unwrap();
    assert_eq!(
        (r.code, r.headers.get("X-Frame-Options")),
        (409, Some("DENY"))
    );
}

#[derive(Clone)]
struct StaticLinks;
impl RequestHandler for StaticLinks {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let url = cx.static_url("css/site.css");
        cx.write(url);
        Ok(())
    }
}

fn static_app(dir: &TempDir, debug: bool) -> Application {
    Application::with_settings(
        vec![route("/link", StaticLinks)],
        Settings {
            static_path: Some(dir.path().to_owned()),
            debug,
            ..Default::default()
        },
    )
}

#[test]
fn static_urls_carry_a_cached_hash_and_cache_headers() {
    let dir = TempDir::with_files(&[("css/site.css", "body {}"), ("robots.txt", "User-agent: *")]);
    let t = AsyncHttpTestCase::new(|| static_app(&dir, false));
    let url = t.fetch("/link", FetchOptions::new()).unwrap().text();
    let (path, v) = url.split_once("?v=").unwrap();
    assert_eq!(path, "/static/css/site.css");
    assert_eq!(v.len(), 32);
    assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    // Versioned: cacheable for a year; plain: no caching headers.
    let r = t.fetch(&url, FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.text()), (200, "body {}".to_owned()));
    assert_eq!(r.headers.get("Cache-Control"), Some("max-age=31536000"));
    assert!(r.headers.get("Expires").is_some());
    let r = t.fetch(path, FetchOptions::new()).unwrap();
    assert_eq!(r.code, 200);
    assert_eq!(r.headers.get("Cache-Control"), None);
    assert_eq!(
        t.fetch("/robots.txt", FetchOptions::new()).unwrap().text(),
        "User-agent: *"
    );
    // The hash is computed once: a changed file keeps it (until restart)…
    dir.write("css/site.css", "body { color: red }");
    assert_eq!(t.fetch("/link", FetchOptions::new()).unwrap().text(), url);
    drop(t);
    // …except in debug mode, where it follows the file.
    let t = AsyncHttpTestCase::new(|| static_app(&dir, true));
    let first = t.fetch("/link", FetchOptions::new()).unwrap().text();
    assert_ne!(first, url);
    dir.write("css/site.css", "body { color: blue }");
    assert_ne!(t.fetch("/link", FetchOptions::new()).unwrap().text(), first);
}

#[test]
fn https_test_case_serves_over_tls() {
    #[derive(Clone)]
    struct Proto;
    impl RequestHandler for Proto {
        async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
            let p = cx.request().protocol.clone();
            cx.write(p);
            Ok(())
        }
    }
    let t = AsyncHttpTestCase::https(|| Application::new(vec![route("/", Proto)]));
    assert!(t.get_url("/x").starts_with("https://127.0.0.1:"));
    let r = t.fetch("/", FetchOptions::new()).unwrap();
    assert_eq!((r.code, r.text()), (200, "https".to_owned()));
}

#[test]
fn test_cases_can_live_side_by_side() {
    let a = AsyncHttpTestCase::new(|| Application::new(vec![route("/", Text("a"))]));
    let b = AsyncHttpTestCase::new(|| Application::new(vec![route("/", Text("b"))]));
    // Each fetch runs on its own case's loop, whichever was made last.
    for _ in 0..2 {
        assert_eq!(a.fetch("/", FetchOptions::new()).unwrap().text(), "a");
        assert_eq!(b.fetch("/", FetchOptions::new()).unwrap().text(), "b");
    }
    let url = b.get_url("/");
    drop(b);
    // The other case's server is gone with it.
    let gone = a.fetch(&url, FetchOptions::new());
    assert!(gone.is_err(), "{:?}", gone.map(|r| r.code));
}
