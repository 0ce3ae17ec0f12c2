//! `Context`: one request and the response being built for it (the state
//! Tornado keeps on a `RequestHandler` instance).

use std::rc::Rc;
use std::time::SystemTime;

use tornado_concurrent::Future;
use tornado_http::httputil::{HttpHeaders, HttpServerRequest, format_timestamp};
use tornado_http::response::ResponseWriter;

use crate::application::{AppInner, Settings};
use crate::cookies::CookieOptions;

/// A response body chunk: text, bytes, or JSON.
pub enum Chunk {
    /// Bytes, sent as they are.
    Bytes(Vec<u8>),
    /// A JSON value: sent serialized, with a JSON content type.
    Json(serde_json::Value),
}

impl From<&str> for Chunk {
    fn from(s: &str) -> Chunk {
        Chunk::Bytes(s.as_bytes().to_vec())
    }
}
impl From<String> for Chunk {
    fn from(s: String) -> Chunk {
        Chunk::Bytes(s.into_bytes())
    }
}
impl From<&String> for Chunk {
    fn from(s: &String) -> Chunk {
        Chunk::Bytes(s.as_bytes().to_vec())
    }
}
impl From<Vec<u8>> for Chunk {
    fn from(b: Vec<u8>) -> Chunk {
        Chunk::Bytes(b)
    }
}
impl From<&[u8]> for Chunk {
    fn from(b: &[u8]) -> Chunk {
        Chunk::Bytes(b.to_vec())
    }
}
impl From<serde_json::Value> for Chunk {
    fn from(v: serde_json::Value) -> Chunk {
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
    /// The application (settings).
    pub(crate) app: Rc<AppInner>,
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
}

impl Context {
    pub(crate) fn new(
        request: HttpServerRequest,
        response: ResponseWriter,
        app: Rc<AppInner>,
    ) -> Context {
        let mut cx = Context {
            request,
            response,
            app,
            path_args: Vec::new(),
            path_kwargs: Vec::new(),
            status: 200,
            reason: None,
            headers: HttpHeaders::new(),
            buffer: Vec::new(),
            finished: false,
        };
        cx.clear();
        cx
    }

    /// Resets headers, status and body to their defaults (Tornado's `clear`).
    pub fn clear(&mut self) {
        self.headers = HttpHeaders::new();
        self.headers.add(
            "Server",
            concat!("TornadoServer-rs/", env!("CARGO_PKG_VERSION")),
        );
        self.headers.add("Content-Type", "text/html; charset=UTF-8");
        self.headers
            .add("Date", format_timestamp(SystemTime::now()));
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
        &self.app.settings
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
    pub fn write(&mut self, chunk: impl Into<Chunk>) {
        if self.finished {
            log::error!(target: "tornado.application", "write() after finish() on {}", self.request.uri);
            return;
        }
        match chunk.into() {
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

    /// Sends what was written so far (headers first, the body then chunked)
    /// and returns a future done when it was handed to the kernel: await it
    /// to stream a large response without buffering it all.
    pub fn flush(&mut self) -> Future<()> {
        let chunk = std::mem::take(&mut self.buffer);
        if !self.response.headers_written() {
            self.headers.remove("Content-Length");
            return self.response.write_headers(
                self.status,
                self.reason.as_deref(),
                &self.headers,
                &chunk,
            );
        }
        self.response.write(&chunk)
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
            let bodiless =
                self.status == 204 || self.status == 304 || (100..200).contains(&self.status);
            if bodiless {
                self.buffer.clear();
                self.headers.remove("Content-Type");
            } else if !self.headers.contains("Content-Length") {
                self.headers
                    .set("Content-Length", self.buffer.len().to_string());
            }
            let chunk = std::mem::take(&mut self.buffer);
            let headers_sent = self.response.write_headers(
                self.status,
                self.reason.as_deref(),
                &self.headers,
                &chunk,
            );
            if headers_sent.exception().is_some() {
                return headers_sent;
            }
        } else if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            drop(self.response.write(&chunk)); // queued in order; the connection awaits the end
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

    // ----- arguments --------------------------------------------------

    /// The last value of argument `name` (query or body), if any.
    pub fn get_argument(&self, name: &str) -> Option<String> {
        self.get_arguments(name).pop()
    }

    /// The last value of argument `name`, or `default`.
    pub fn get_argument_or(&self, name: &str, default: &str) -> String {
        self.get_argument(name)
            .unwrap_or_else(|| default.to_owned())
    }

    /// Every value of argument `name`: query first, then body.
    pub fn get_arguments(&self, name: &str) -> Vec<String> {
        self.request.arguments(name)
    }

    /// The last value of query argument `name`.
    pub fn get_query_argument(&self, name: &str) -> Option<String> {
        self.request
            .query_arguments
            .get(name)
            .and_then(|v| v.last().cloned())
    }

    /// The last value of body argument `name`.
    pub fn get_body_argument(&self, name: &str) -> Option<String> {
        self.request
            .body_arguments
            .get(name)
            .and_then(|v| v.last().cloned())
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

    /// Sets a cookie signed with the application's `cookie_secret`, so that
    /// `get_signed_cookie` can tell it was not forged.
    pub fn set_signed_cookie(
        &mut self,
        name: &str,
        value: &str,
        options: &CookieOptions,
    ) -> Result<(), crate::HttpError> {
        let secret = self.cookie_secret()?;
        let signed = crate::cookies::create_signed_value(&secret, name, value, SystemTime::now());
        self.set_cookie(name, &signed, options);
        Ok(())
    }

    /// The value of a cookie set by `set_signed_cookie`, if its signature
    /// holds and it is younger than `max_age_days`.
    pub fn get_signed_cookie(&self, name: &str, max_age_days: f64) -> Option<String> {
        let secret = self.cookie_secret().ok()?;
        let raw = self.get_cookie(name)?;
        crate::cookies::decode_signed_value(&secret, name, &raw, max_age_days, SystemTime::now())
    }

    fn cookie_secret(&self) -> Result<String, crate::HttpError> {
        self.app.settings.cookie_secret.clone().ok_or_else(|| {
            crate::HttpError::new(500)
                .with_log_message("signed cookies need the cookie_secret setting")
        })
    }
}
