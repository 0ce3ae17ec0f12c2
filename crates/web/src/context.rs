//! `Context`: one request and the response being built for it (the state
//! Tornado keeps on a `RequestHandler` instance).

use std::borrow::Cow;
use std::io::Write as _;
use std::rc::Rc;
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use tornado_concurrent::Future;
use tornado_http::RequestConnection;
use tornado_http::http1::framing::status_is_bodiless;
use tornado_http::httputil::{HttpHeaders, HttpServerRequest, format_timestamp};
use tornado_http::response::ResponseWriter;

use crate::application::AppShared;
use crate::cookies::CookieOptions;
use crate::settings::Settings;

/// The current time as an HTTP date, formatted at most once a second per
/// thread (every response carries one).
fn http_date_now() -> String {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, format_timestamp(now));
        }
        c.1.clone()
    })
}

/// A response body chunk: text, bytes, or JSON. Borrowed text is copied
/// once, into the response buffer; an owned `String` or `Vec<u8>` written
/// first becomes that buffer.
pub enum Chunk<'a> {
    /// Bytes, sent as they are.
    Bytes(Cow<'a, [u8]>),
    /// A JSON value: sent serialized, with a JSON content type.
    Json(serde_json::Value),
}

impl<'a> From<&'a str> for Chunk<'a> {
    fn from(s: &'a str) -> Chunk<'a> {
        Chunk::Bytes(Cow::Borrowed(s.as_bytes()))
    }
}
impl From<String> for Chunk<'_> {
    fn from(s: String) -> Self {
        Chunk::Bytes(Cow::Owned(s.into_bytes()))
    }
}
impl<'a> From<&'a String> for Chunk<'a> {
    fn from(s: &'a String) -> Chunk<'a> {
        Chunk::Bytes(Cow::Borrowed(s.as_bytes()))
    }
}
impl From<Vec<u8>> for Chunk<'_> {
    fn from(b: Vec<u8>) -> Self {
        Chunk::Bytes(Cow::Owned(b))
    }
}
impl<'a> From<&'a [u8]> for Chunk<'a> {
    fn from(b: &'a [u8]) -> Chunk<'a> {
        Chunk::Bytes(Cow::Borrowed(b))
    }
}
impl From<serde_json::Value> for Chunk<'_> {
    fn from(v: serde_json::Value) -> Self {
        Chunk::Json(v)
    }
}

/// The request a handler serves and the response it builds: status,
/// headers, body buffer, cookies (Tornado's `RequestHandler` state).
pub struct Context {
    /// The request.
    pub(crate) request: HttpServerRequest,
    /// Where the response goes.
    pub(crate) response: ResponseWriter,
    /// The application's settings.
    pub(crate) settings: Rc<Settings>,
    /// The request's connection: limits, close notification, detach.
    pub(crate) conn: RequestConnection,
    /// True once the handler took the connection over.
    pub(crate) detached: bool,
    /// Unnamed regex groups of the route, percent-decoded.
    pub(crate) path_args: Vec<String>,
    /// Named regex groups of the route, percent-decoded.
    pub(crate) path_kwargs: Vec<(String, String)>,
    /// The status to send.
    pub(crate) status: u16,
    /// A reason phrase other than the standard one.
    pub(crate) reason: Option<String>,
    /// The response headers to send.
    pub(crate) headers: HttpHeaders,
    /// Body bytes not yet sent.
    pub(crate) buffer: Vec<u8>,
    /// True once `finish` ran.
    pub(crate) finished: bool,
    /// The gzip stream of a compressed response whose headers went out.
    pub(crate) gzip: Option<GzEncoder<Vec<u8>>>,
    /// What the request shares with its application (templates, named
    /// routes, static hashes).
    pub(crate) app: Rc<AppShared>,
    /// The user `get_current_user` found, once it ran (or was set).
    pub(crate) current_user: Option<Option<serde_json::Value>>,
    /// This request's XSRF token, once asked for.
    pub(crate) xsrf: Option<crate::xsrf::XsrfState>,
    /// The handler's `compute_etag`.
    pub(crate) compute_etag: fn(&[u8]) -> Option<String>,
    /// The handler's `get_template_namespace`.
    pub(crate) template_namespace: fn(&mut Context) -> Vec<(String, minijinja::Value)>,
}

/// Smallest body `compress_response` compresses when the whole body is
/// known (Tornado's `GZipContentEncoding.MIN_LENGTH`): below it gzip's
/// overhead outweighs the gain.
pub const GZIP_MIN_LENGTH: usize = 1024;

/// True for content types worth gzipping (text, JSON, JavaScript, XML).
fn compressible(content_type: &str) -> bool {
    let ctype = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ctype.starts_with("text/")
        || matches!(
            ctype.as_str(),
            "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/atom+xml"
                | "application/json"
                | "application/xhtml+xml"
                | "image/svg+xml"
        )
}

/// Tornado's default `compute_etag`: a quoted hash of the body.
pub fn default_etag(body: &[u8]) -> Option<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    // Written in one buffer: this runs for every response with a body.
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for &b in &digest[..16] {
        tag.push(HEX[usize::from(b >> 4)] as char);
        tag.push(HEX[usize::from(b & 15)] as char);
    }
    tag.push('"');
    Some(tag)
}

/// The entity tags of an `If-None-Match` value: `*` or quoted tags, weak
/// (`W/`) or not, as Tornado's `check_etag_header` finds them.
fn parse_etags(value: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let start = rest.find(['*', '"', 'W']).unwrap_or(rest.len());
        rest = &rest[start..];
        if let Some(r) = rest.strip_prefix('*') {
            tags.push("*");
            rest = r;
        } else if rest.starts_with('"') || rest.starts_with("W/\"") {
            let open = rest.find('"').unwrap_or(0);
            match rest[open + 1..].find('"') {
                Some(close) => {
                    let end = open + 1 + close + 1;
                    tags.push(&rest[..end]);
                    rest = &rest[end..];
                }
                None => break,
            }
        } else if !rest.is_empty() {
            rest = &rest[1..];
        }
    }
    tags
}

/// True if the `If-None-Match` value `header` matches `etag` under weak
/// comparison (`W/"x"` matches `"x"`).
pub fn etag_matches(header: &str, etag: &str) -> bool {
    let tags = parse_etags(header);
    let Some(first) = tags.first() else {
        return false;
    };
    if *first == "*" {
        return true;
    }
    let weak = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_owned();
    let ours = weak(etag);
    tags.iter().any(|t| weak(t) == ours)
}

impl Context {
    pub(crate) fn new(
        request: HttpServerRequest,
        response: ResponseWriter,
        app: Rc<AppShared>,
        conn: RequestConnection,
    ) -> Context {
        let mut cx = Context {
            request,
            response,
            settings: app.settings.clone(),
            app,
            current_user: None,
            xsrf: None,
            compute_etag: default_etag,
            template_namespace: |_| Vec::new(),
            conn,
            detached: false,
            path_args: Vec::new(),
            path_kwargs: Vec::new(),
            status: 200,
            reason: None,
            headers: HttpHeaders::new(),
            buffer: Vec::new(),
            finished: false,
            gzip: None,
        };
        cx.clear();
        cx
    }

    /// Resets headers, status and body to their defaults (Tornado's `clear`).
    pub fn clear(&mut self) {
        // Room for these and the Content-Length and Etag of `finish`.
        self.headers = HttpHeaders::with_capacity(8);
        self.headers.add_static(
            "Server",
            concat!("TornadoServer-rs/", env!("CARGO_PKG_VERSION")),
        );
        self.headers
            .add_static("Content-Type", "text/html; charset=UTF-8");
        self.headers.add_static("Date", http_date_now());
        self.buffer.clear();
        self.status = 200;
        self.reason = None;
    }

    /// The request being served.
    pub fn request(&self) -> &HttpServerRequest {
        &self.request
    }

    /// The application's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The route's unnamed groups, in order, percent-decoded.
    pub fn path_args(&self) -> &[String] {
        &self.path_args
    }

    /// The route's named group `name`, percent-decoded.
    pub fn path_kwarg(&self, name: &str) -> Option<&str> {
        self.path_kwargs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    // ----- status and headers -----------------------------------------

    /// Sets the response status.
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
        self.reason = None;
    }

    /// Sets the status with a reason phrase of one's own.
    pub fn set_status_reason(&mut self, status: u16, reason: impl Into<String>) {
        self.status = status;
        self.reason = Some(reason.into());
    }

    /// The status that will be (or was) sent.
    pub fn get_status(&self) -> u16 {
        self.status
    }

    /// Sets a response header, replacing earlier values. Values with line
    /// breaks are refused (header injection) and logged.
    pub fn set_header(&mut self, name: &str, value: impl ToString) {
        let value = value.to_string();
        if Self::safe_header(name, &value) {
            self.headers.set(name, value);
        }
    }

    /// Adds a response header, keeping earlier values (e.g. `Set-Cookie`).
    pub fn add_header(&mut self, name: &str, value: impl ToString) {
        let value = value.to_string();
        if Self::safe_header(name, &value) {
            self.headers.add(name, value);
        }
    }

    /// Removes a response header.
    pub fn clear_header(&mut self, name: &str) {
        self.headers.remove(name);
    }

    /// The response headers so far.
    pub fn response_headers(&self) -> &HttpHeaders {
        &self.headers
    }

    fn safe_header(name: &str, value: &str) -> bool {
        let ok = !name.is_empty()
            && !name.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f)
            && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !ok {
            log::error!(target: "tornado.application", "refusing unsafe response header {name:?}");
        }
        ok
    }

    // ----- body -------------------------------------------------------

    /// Appends to the response body. A JSON value also sets the content
    /// type to JSON. Writing after `finish` is an error, logged.
    pub fn write<'a>(&mut self, chunk: impl Into<Chunk<'a>>) {
        if self.finished {
            log::error!(target: "tornado.application", "write() after finish() on {}", self.request.uri);
            return;
        }
        match chunk.into() {
            Chunk::Bytes(Cow::Owned(b)) if self.buffer.capacity() == 0 => self.buffer = b,
            Chunk::Bytes(b) => self.buffer.extend_from_slice(&b),
            Chunk::Json(v) => {
                self.set_header("Content-Type", "application/json; charset=UTF-8");
                // Serializing a `Value` cannot fail.
                serde_json::to_writer(&mut self.buffer, &v).expect("serializing a JSON value");
            }
        }
    }

    /// Writes `value` serialized as JSON (content type included).
    pub fn write_json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        let v = serde_json::to_value(value)?;
        self.write(Chunk::Json(v));
        Ok(())
    }

    /// Sends what was written so far (headers first, the body then chunked
    /// unless the handler set `Content-Length`) and returns a future done
    /// when it was handed to the kernel: await it to stream a large response
    /// without buffering it all.
    pub fn flush(&mut self) -> Future<()> {
        let chunk = std::mem::take(&mut self.buffer);
        if !self.response.headers_written() {
            let chunk = self.transform_first_chunk(chunk, false);
            return self.response.write_headers(
                self.status,
                self.reason.as_deref(),
                &self.headers,
                &chunk,
            );
        }
        let chunk = self.transform_chunk(chunk, false);
        self.response.write(&chunk)
    }

    /// Tornado's `GZipContentEncoding.transform_first_chunk`: with the
    /// `compress_response` setting, decides whether this response is
    /// gzipped and fixes its headers. `finishing`: `chunk` is the whole body.
    fn transform_first_chunk(&mut self, chunk: Vec<u8>, finishing: bool) -> Vec<u8> {
        let accepts = self
            .request
            .headers
            .get("Accept-Encoding")
            .is_some_and(|v| v.contains("gzip"));
        if !self.settings.compress_response || !accepts {
            return chunk;
        }
        let vary = match self.headers.get("Vary") {
            Some(v) => format!("{v}, Accept-Encoding"),
            None => "Accept-Encoding".to_owned(),
        };
        self.headers.set_static("Vary", vary);
        // Partial content and bodiless answers stay as they are: gzipping a
        // byte range would change what the range means.
        let gzipping = self.status == 200
            && compressible(self.headers.get("Content-Type").unwrap_or(""))
            && (!finishing || chunk.len() >= GZIP_MIN_LENGTH)
            && !self.headers.contains("Content-Encoding")
            && !self.headers.contains("Content-Range");
        if !gzipping {
            return chunk;
        }
        self.headers.set_static("Content-Encoding", "gzip");
        self.gzip = Some(GzEncoder::new(Vec::new(), Compression::default()));
        let chunk = self.transform_chunk(chunk, finishing);
        if finishing {
            self.headers
                .set_static("Content-Length", chunk.len().to_string());
        } else {
            self.headers.remove("Content-Length");
        }
        chunk
    }

    /// Compresses a body chunk if the response is gzipped; `finishing` ends
    /// the gzip stream.
    fn transform_chunk(&mut self, chunk: Vec<u8>, finishing: bool) -> Vec<u8> {
        let Some(gz) = self.gzip.as_mut() else {
            return chunk;
        };
        // Writing to a Vec cannot fail.
        gz.write_all(&chunk).expect("gzip into memory");
        if finishing {
            let gz = self.gzip.take().expect("checked above");
            gz.finish().expect("gzip into memory")
        } else {
            // A sync flush, so that each flushed chunk reaches the client.
            gz.flush().expect("gzip into memory");
            std::mem::take(gz.get_mut())
        }
    }

    /// Sets the `Etag` header to the handler's `compute_etag` of the body
    /// written so far (by default a hash of it); nothing if that is `None`
    /// (Tornado's `set_etag_header`).
    pub fn set_etag_header(&mut self) {
        if let Some(etag) = (self.compute_etag)(&self.buffer) {
            self.headers.set_static("Etag", etag);
        }
    }

    /// True if the request's `If-None-Match` matches the response's `Etag`
    /// header (weak comparison; `*` matches any), i.e. the client's copy is
    /// current and a 304 will do (Tornado's `check_etag_header`).
    pub fn check_etag_header(&self) -> bool {
        match (
            self.headers.get("Etag"),
            self.request.headers.get("If-None-Match"),
        ) {
            (Some(etag), Some(header)) => etag_matches(header, etag),
            _ => false,
        }
    }

    /// Ends the response (Tornado's `finish`): sends headers with a
    /// `Content-Length` if nothing was flushed, then the body. Called for
    /// the handler if it did not call it.
    pub fn finish(&mut self) -> Future<()> {
        if self.finished {
            return Future::resolved(());
        }
        self.finished = true;
        if !self.response.headers_written() {
            // Tornado's automatic ETag: only for a complete, successful GET or
            // HEAD, since only then is the whole body at hand to hash.
            let method = self.request.method.as_str();
            if self.status == 200
                && (method == "GET" || method == "HEAD")
                && !self.headers.contains("Etag")
            {
                self.set_etag_header();
                if self.check_etag_header() {
                    self.buffer.clear();
                    self.set_status(304);
                }
            }
            let bodiless = status_is_bodiless(self.status);
            let mut chunk = std::mem::take(&mut self.buffer);
            if bodiless {
                chunk.clear();
                for h in [
                    "Content-Type",
                    "Content-Encoding",
                    "Content-Language",
                    "Content-Length",
                ] {
                    self.headers.remove(h);
                }
            } else {
                chunk = self.transform_first_chunk(chunk, true);
                if !self.headers.contains("Content-Length") {
                    self.headers
                        .set_static("Content-Length", chunk.len().to_string());
                }
            }
            let headers_sent = self.response.write_headers(
                self.status,
                self.reason.as_deref(),
                &self.headers,
                &chunk,
            );
            if headers_sent.exception().is_some() {
                return headers_sent;
            }
        } else {
            let chunk = std::mem::take(&mut self.buffer);
            let chunk = self.transform_chunk(chunk, true);
            if !chunk.is_empty() {
                drop(self.response.write(&chunk)); // queued in order; the connection awaits the end
            }
        }
        self.response.finish()
    }

    /// True once the response was finished.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// True once headers were sent (by `flush` or `finish`).
    pub fn headers_written(&self) -> bool {
        self.response.headers_written()
    }

    /// Redirects to `url` (301 if `permanent`, else 302) and finishes.
    pub fn redirect(&mut self, url: &str, permanent: bool) {
        if self.response.headers_written() {
            log::error!(target: "tornado.application", "cannot redirect after headers were written");
            return;
        }
        self.set_status(if permanent { 301 } else { 302 });
        self.set_header("Location", url);
        drop(self.finish()); // queued in order; the connection awaits the end
    }

    // ----- cookies ----------------------------------------------------

    /// The value of the request's cookie `name`.
    pub fn get_cookie(&self, name: &str) -> Option<String> {
        self.request
            .cookies()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Sets cookie `name` in the response.
    pub fn set_cookie(&mut self, name: &str, value: &str, options: &CookieOptions) {
        match crate::cookies::format_set_cookie(name, value, options) {
            Some(header) => self.add_header("Set-Cookie", header),
            None => log::error!(target: "tornado.application", "invalid cookie {name:?}: not set"),
        }
    }

    /// Deletes cookie `name` in the browser (an expired cookie).
    pub fn clear_cookie(&mut self, name: &str, path: &str) {
        let options = CookieOptions {
            path: Some(path.to_owned()),
            expires: Some(SystemTime::UNIX_EPOCH),
            ..Default::default()
        };
        self.set_cookie(name, "", &options);
    }
}
