//! `Context::finish` extras: the automatic ETag with 304 on a match, and
//! gzip under the `compress_response` setting (whole and streamed bodies).

#[path = "support/raw_http.rs"]
mod raw_http;

use std::io::Read;

use raw_http::{Reply, request};
use tornado::web::{Application, Context, HttpError, RequestHandler, Settings, route};
use tornado_testing::AsyncHttpTestCase;

#[derive(Clone)]
struct Text;
impl RequestHandler for Text {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        let n: usize = cx.get_argument_or("n", "10").parse()?;
        cx.set_header("Content-Type", cx.get_argument_or("type", "text/plain"));
        cx.write("a".repeat(n));
        Ok(())
    }
    async fn head(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        self.get(cx).await
    }
    async fn post(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.write("posted");
        Ok(())
    }
}

/// Writes three flushed chunks of text.
#[derive(Clone)]
struct Streamed;
impl RequestHandler for Streamed {
    async fn get(&mut self, cx: &mut Context) -> Result<(), HttpError> {
        cx.set_header("Content-Type", "text/plain");
        for i in 0..3 {
            cx.write(format!("chunk {i} ").repeat(200));
            cx.flush().await?;
        }
        Ok(())
    }
}

fn serve(compress: bool) -> AsyncHttpTestCase {
    let settings = Settings {
        compress_response: compress,
        ..Default::default()
    };
    AsyncHttpTestCase::new(move || {
        Application::with_settings(
            vec![route("/text", Text), route("/stream", Streamed)],
            settings,
        )
    })
}

/// A raw HTTP/1.0 request on the case's loop: the bytes as sent (gzip
/// included), which the HTTP client would decode.
fn fetch(t: &AsyncHttpTestCase, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
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

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Requests are HTTP/1.0, so streamed bodies are close-delimited, not
/// chunked: what arrives is exactly what was sent.
#[test]
fn automatic_etag_and_304() {
    let t = serve(false);
    let r = fetch(&t, "GET", "/text", &[]);
    assert_eq!(r.status, 200);
    let etag = r.header("Etag").expect("an automatic Etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10);
    // Same body, same tag; another body, another tag.
    assert_eq!(
        fetch(&t, "GET", "/text", &[]).header("Etag"),
        Some(etag.as_str())
    );
    let other = fetch(&t, "GET", "/text?n=11", &[]);
    assert_ne!(other.header("Etag"), Some(etag.as_str()));

    let r = fetch(&t, "GET", "/text", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Type"), None);
    let weak = format!("W/{etag}");
    assert_eq!(
        fetch(&t, "GET", "/text", &[("If-None-Match", &weak)]).status,
        304
    );
    let list = format!("\"x\", {etag}");
    assert_eq!(
        fetch(&t, "GET", "/text", &[("If-None-Match", &list)]).status,
        304
    );
    assert_eq!(
        fetch(&t, "HEAD", "/text", &[("If-None-Match", &etag)]).status,
        304
    );
    assert_eq!(
        fetch(&t, "GET", "/text", &[("If-None-Match", "\"nope\"")]).status,
        200
    );
    // Not for other methods, nor for streamed responses.
    let r = fetch(&t, "POST", "/text", &[("If-None-Match", "*")]);
    assert_eq!((r.status, r.header("Etag")), (200, None));
    let r = fetch(&t, "GET", "/stream", &[]);
    assert_eq!((r.status, r.header("Etag")), (200, None));
}

#[test]
fn etag_matching_rules() {
    use tornado::web::etag_matches;
    assert!(etag_matches("\"a\"", "\"a\""));
    assert!(etag_matches("W/\"a\"", "\"a\""));
    assert!(etag_matches("\"a\"", "W/\"a\""));
    assert!(etag_matches("\"b\", \"a\"", "\"a\""));
    assert!(etag_matches("*", "\"a\""));
    assert!(!etag_matches("\"b\"", "\"a\""));
    assert!(!etag_matches("", "\"a\""));
    assert!(!etag_matches("a", "\"a\""));
}

#[test]
fn gzip_when_accepted_and_worth_it() {
    let t = serve(true);
    let gz = [("Accept-Encoding", "gzip, deflate")];
    let r = fetch(&t, "GET", "/text?n=5000", &gz);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    assert!(r.body.len() < 5000);
    assert_eq!(gunzip(&r.body), "a".repeat(5000).into_bytes());
    let r = fetch(&t, "GET", "/text?n=5000&type=application/json", &gz);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));

    // Too small, not accepted, or not compressible: sent as it is.
    let r = fetch(&t, "GET", "/text?n=100", &gz);
    assert_eq!((r.header("Content-Encoding"), r.body.len()), (None, 100));
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    let r = fetch(&t, "GET", "/text?n=5000", &[]);
    assert_eq!((r.header("Content-Encoding"), r.body.len()), (None, 5000));
    let r = fetch(&t, "GET", "/text?n=5000&type=image/png", &gz);
    assert_eq!((r.header("Content-Encoding"), r.body.len()), (None, 5000));

    // Without the setting, never.
    drop(t);
    let plain = serve(false);
    let r = fetch(&plain, "GET", "/text?n=5000", &gz);
    assert_eq!(
        (r.header("Content-Encoding"), r.header("Vary")),
        (None, None)
    );
}

#[test]
fn gzip_streamed_response() {
    let t = serve(true);
    let r = fetch(&t, "GET", "/stream", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(r.header("Content-Length"), None);
    let want: String = (0..3).map(|i| format!("chunk {i} ").repeat(200)).collect();
    assert_eq!(gunzip(&r.body), want.into_bytes());
}
