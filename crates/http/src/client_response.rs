//! `HttpResponse`: what a fetch gives (its own module so that the client
//! error can carry one without depending on the client).

use std::time::Duration;

use crate::httputil::HttpHeaders;

/// A response (Tornado's `HTTPResponse`).
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub code: u16,
    /// The reason phrase the server sent.
    pub reason: String,
    /// The response headers.
    pub headers: HttpHeaders,
    /// The body (de-chunked, decompressed if asked).
    pub body: Vec<u8>,
    /// The URL answered, after redirects.
    pub effective_url: String,
    /// Time from the start of `fetch` to the end of the body.
    pub request_time: Duration,
}

impl HttpResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
