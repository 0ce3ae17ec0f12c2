//! `HttpResponse` (Tornado's `HTTPResponse`) and its timings.

use std::time::Duration;

use super::error::{HttpClientError, HttpClientErrorKind};
use crate::httputil::HttpHeaders;

/// Where a request's time went (Tornado's `time_info`, with the
/// connection's stages apart). Stages that did not happen (a reused
/// connection has no connect or TLS time) are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeInfo {
    /// Waiting in the client's queue for a free slot (`max_clients`).
    pub queue: Duration,
    /// Resolving and connecting (to the proxy, and the tunnel, if any).
    pub connect: Duration,
    /// The TLS handshake.
    pub tls: Duration,
    /// From the start of the fetch to the first byte of the final response.
    pub first_byte: Duration,
    /// From the start of the fetch to the end of the body.
    pub total: Duration,
}

/// A response (Tornado's `HTTPResponse`).
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub code: u16,
    /// The reason phrase the server sent.
    pub reason: String,
    /// The response headers.
    pub headers: HttpHeaders,
    /// The body (de-chunked, decoded if asked); empty when a
    /// `streaming_callback` took it.
    pub body: Vec<u8>,
    /// The URL answered, after redirects.
    pub effective_url: String,
    /// Time from the call to `fetch` to the end of the body.
    pub request_time: Duration,
    /// The stages of `request_time`.
    pub time_info: TimeInfo,
    /// The error a non-2xx answer stands for (set whether or not
    /// `raise_error` made the fetch fail).
    pub error: Option<Box<HttpClientError>>,
}

impl HttpResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Err(error)` if this response stands for one (Tornado's `rethrow`).
    pub fn rethrow(&self) -> Result<(), HttpClientError> {
        match &self.error {
            Some(e) => Err((**e).clone()),
            None => Ok(()),
        }
    }

    /// Sets `error` for a status outside 2xx.
    pub(crate) fn set_status_error(&mut self) {
        if !(200..300).contains(&self.code) {
            let mut e = HttpClientError::new(
                HttpClientErrorKind::Status(self.code),
                if self.reason.is_empty() {
                    crate::httputil::reason_phrase(self.code).to_owned()
                } else {
                    self.reason.clone()
                },
            );
            let mut inner = self.clone();
            inner.error = None;
            e.response = Some(Box::new(inner));
            self.error = Some(Box::new(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rethrow_only_non_2xx() {
        let mut r = HttpResponse {
            code: 204,
            reason: String::new(),
            headers: HttpHeaders::new(),
            body: Vec::new(),
            effective_url: "http://h/".into(),
            request_time: Duration::ZERO,
            time_info: TimeInfo::default(),
            error: None,
        };
        r.set_status_error();
        assert!(r.rethrow().is_ok());
        r.code = 404;
        r.set_status_error();
        let e = r.rethrow().unwrap_err();
        assert_eq!((e.code(), e.message.as_str()), (404, "Not Found"));
        assert_eq!(e.response.unwrap().code, 404);
    }
}
