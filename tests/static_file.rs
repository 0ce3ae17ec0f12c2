//! StaticFileHandler over loopback: content types, conditional GET (ETag
//! and Last-Modified), byte ranges, HEAD, traversal and missing files,
//! large files streamed in chunks.

#[path = "support/raw_http.rs"]
mod raw_http;

use std::path::PathBuf;

use raw_http::{Reply, request};
use tornado::web::{Application, STATIC_CHUNK_SIZE, StaticFileHandler, route};
use tornado_testing::AsyncHttpTestCase;

/// A directory of test files, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn site(name: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("tornado-static-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("hello.txt"), "0123456789").unwrap();
    std::fs::write(dir.join("page.html"), "<p>hi</p>").unwrap();
    std::fs::write(dir.join("app.js"), "let x = 1;").unwrap();
    std::fs::write(dir.join("data.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(dir.join("sub/index.html"), "index").unwrap();
    Dir(dir)
}

fn serve(dir: &Dir, default: bool) -> AsyncHttpTestCase {
    let mut h = StaticFileHandler::new(dir.0.join("sub").parent().unwrap());
    if default {
        h = h.with_default_filename("index.html");
    }
    AsyncHttpTestCase::new(move || Application::new(vec![route(r"/static/(.*)", h)]))
}

fn get(t: &AsyncHttpTestCase, path: &str, headers: &[(&str, &str)]) -> Reply {
    get_method(t, "GET", path, headers)
}

/// A raw HTTP/1.0 request on the case's loop: the bytes as sent.
fn get_method(t: &AsyncHttpTestCase, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let (addr, m, p) = (t.addr(), method.to_owned(), path.to_owned());
    let h: Vec<(String, String)> = headers
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    t.run_sync(move || {
        let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        request(addr, &m, &p, &h)
    })
    .unwrap()
}

#[test]
fn content_types_and_validators() {
    let dir = site("types");
    let t = serve(&dir, false);
    let r = get(&t, "/static/hello.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let etag = r.header("Etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(r.header("Last-Modified").unwrap().ends_with("GMT"));
    for (path, ctype) in [
        ("page.html", "text/html"),
        ("app.js", "application/javascript"),
        ("data.bin", "application/octet-stream"),
    ] {
        let r = get(&t, &format!("/static/{path}"), &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Content-Type"), Some(ctype), "{path}");
    }
}

#[test]
fn conditional_get_by_etag_and_date() {
    let dir = site("cond");
    let t = serve(&dir, false);
    let first = get(&t, "/static/hello.txt", &[]);
    let etag = first.header("Etag").unwrap().to_owned();
    let modified = first.header("Last-Modified").unwrap().to_owned();

    let r = get(&t, "/static/hello.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Etag"), Some(etag.as_str()));
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(
        get(&t, "/static/hello.txt", &[("If-None-Match", &weak)]).status,
        304
    );
    assert_eq!(
        get(&t, "/static/hello.txt", &[("If-None-Match", "*")]).status,
        304
    );
    let r = get(&t, "/static/hello.txt", &[("If-None-Match", "\"stale\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789");

    assert_eq!(
        get(&t, "/static/hello.txt", &[("If-Modified-Since", &modified)]).status,
        304
    );
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        get(&t, "/static/hello.txt", &[("If-Modified-Since", old)]).status,
        200
    );
    // If-None-Match wins over If-Modified-Since, as in Tornado.
    let r = get(
        &t,
        "/static/hello.txt",
        &[
            ("If-None-Match", "\"stale\""),
            ("If-Modified-Since", &modified),
        ],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn ranges_partial_and_unsatisfiable() {
    let dir = site("range");
    let t = serve(&dir, false);
    let cases: [(&str, &[u8], &str); 4] = [
        ("bytes=2-4", b"234", "bytes 2-4/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-2", b"89", "bytes 8-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ];
    for (range, body, content_range) in cases {
        let r = get(&t, "/static/hello.txt", &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, body, "{range}");
        assert_eq!(r.header("Content-Range"), Some(content_range), "{range}");
        assert_eq!(
            r.header("Content-Length"),
            Some(body.len().to_string().as_str())
        );
    }
    // The whole file as a range is a plain 200.
    let r = get(&t, "/static/hello.txt", &[("Range", "bytes=0-")]);
    assert_eq!((r.status, r.body.len()), (200, 10));
    for range in ["bytes=10-", "bytes=20-30", "bytes=-0", "bytes=5-3"] {
        let r = get(&t, "/static/hello.txt", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("Content-Range"), Some("bytes */10"), "{range}");
    }
    // A malformed or multi-range header is ignored: the whole file.
    let r = get(&t, "/static/hello.txt", &[("Range", "bytes=0-1,3-4")]);
    assert_eq!((r.status, r.body.len()), (200, 10));
}

#[test]
fn head_has_headers_without_body() {
    let dir = site("head");
    let t = serve(&dir, false);
    let r = get_method(&t, "HEAD", "/static/hello.txt", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let r = get_method(&t, "HEAD", "/static/hello.txt", &[("Range", "bytes=0-3")]);
    assert_eq!((r.status, r.header("Content-Length")), (206, Some("4")));
    assert!(r.body.is_empty());
}

#[test]
fn traversal_missing_and_directories() {
    let dir = site("trav");
    let outside =
        std::env::temp_dir().join(format!("tornado-static-secret-{}", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, dir.0.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("hello.txt"), dir.0.join("inside.txt")).unwrap();
    let t = serve(&dir, false);
    assert_eq!(get(&t, "/static/../Cargo.toml", &[]).status, 403);
    assert_eq!(get(&t, "/static/%2e%2e/%2e%2e/etc/passwd", &[]).status, 403);
    assert_eq!(get(&t, "/static/sub/../../x", &[]).status, 403);
    assert_eq!(get(&t, "/static//etc/passwd", &[]).status, 403);
    let r = get(&t, "/static/escape.txt", &[]);
    assert_eq!(r.status, 403);
    assert!(!String::from_utf8_lossy(&r.body).contains("secret"));
    assert_eq!(get(&t, "/static/inside.txt", &[]).body, b"0123456789");
    assert_eq!(get(&t, "/static/sub/../hello.txt", &[]).status, 200);
    assert_eq!(get(&t, "/static/nope.txt", &[]).status, 404);
    assert_eq!(get(&t, "/static/hello.txt/more", &[]).status, 404);
    assert_eq!(get(&t, "/static/sub", &[]).status, 403);
    assert_eq!(get(&t, "/static/sub/", &[]).status, 403);
    std::fs::remove_file(&outside).unwrap();

    let t2 = serve(&dir, true);
    let r = get(&t2, "/static/sub", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/static/sub/"));
    let r = get(&t2, "/static/sub/", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"index"[..]));
    assert_eq!(r.header("Content-Type"), Some("text/html"));
}

#[test]
fn large_file_streams_in_chunks() {
    let dir = site("large");
    let size = STATIC_CHUNK_SIZE * 5 + 123;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.0.join("big.bin"), &data).unwrap();
    let t = serve(&dir, false);
    let r = get(&t, "/static/big.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
    assert!(r.body == data, "body differs");
    let r = get(&t, "/static/big.bin", &[("Range", "bytes=100000-299999")]);
    assert_eq!(r.status, 206);
    assert!(r.body == data[100000..300000], "range body differs");
}

#[test]
fn compressed_when_the_application_asks() {
    use std::io::Read;
    let dir = site("gzip");
    let text = "all work and no play\n".repeat(STATIC_CHUNK_SIZE / 10);
    std::fs::write(dir.0.join("big.txt"), &text).unwrap();
    std::fs::write(dir.0.join("small.css"), "p { margin: 0 }\n".repeat(100)).unwrap();
    let settings = tornado::web::Settings {
        compress_response: true,
        ..Default::default()
    };
    let app = Application::with_settings(
        vec![route(r"/static/(.*)", StaticFileHandler::new(&dir.0))],
        settings,
    );
    let t = AsyncHttpTestCase::new(move || app);
    let gunzip = |body: &[u8]| {
        let mut out = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut out)
            .unwrap();
        out
    };
    let gz = [("Accept-Encoding", "gzip")];
    // Streamed: gzip without a length (the end is the close here).
    let r = get(&t, "/static/big.txt", &gz);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.header("Content-Length"), None);
    assert!(gunzip(&r.body) == text);
    // Whole: gzip with the compressed length.
    let r = get(&t, "/static/small.css", &gz);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(gunzip(&r.body), "p { margin: 0 }\n".repeat(100));
    // A range is sent as it is.
    let r = get(
        &t,
        "/static/big.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-2")],
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"all"[..]));
    assert_eq!(r.header("Content-Encoding"), None);
}
