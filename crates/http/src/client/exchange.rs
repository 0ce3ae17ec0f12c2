//! One request and its response on an open connection (the client half of
//! Tornado's `HTTP1Connection`, driven as `_HTTPConnection` does): the
//! head and body written (whole, streamed, chunked, or after
//! `100 Continue`), the response read with the shared HTTP/1 framing and
//! decoded, and whether the connection can carry another request.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tornado_concurrent::Error;
use tornado_iostream::IOStream;

use super::connect::{basic_auth, proxy_of};
use super::error::{HttpClientError, HttpClientErrorKind};
use super::request::{BodyWriter, HttpRequest};
use super::response::{HttpResponse, TimeInfo};
use super::url::Url;
use crate::http1::delegate::append;
use crate::http1::error::ReadError;
use crate::http1::framing::{Framing, connection_has, response_framing, wants_keep_alive};
use crate::http1::head::{ResponseHead, parse_response_head};
use crate::http1::inflate::{Coding, INFLATE_STEP, Inflater};
use crate::http1::reader::{BodyReader, Reader};
use crate::httputil::{HttpHeaders, format_timestamp};

/// Largest body piece read at once (and handed to a streaming callback).
const BODY_CHUNK: usize = 64 * 1024;

/// How an exchange failed: the error, and whether any of the response had
/// arrived (a request whose answer never started may be retried).
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) received: bool,
}

/// Maps a failure to read the response, keeping the framing layer's error.
pub(crate) fn read_error(e: ReadError) -> Error {
    let (kind, message) = match &e {
        ReadError::Closed(_) => (
            HttpClientErrorKind::Connection,
            "connection closed before the response was complete".to_owned(),
        ),
        ReadError::Head(h) => (
            HttpClientErrorKind::MalformedResponse,
            format!("response {h}"),
        ),
        ReadError::Body(b) => (
            HttpClientErrorKind::MalformedResponse,
            format!("response {b}"),
        ),
    };
    let mut err = HttpClientError::new(kind, message);
    err.read_error = Some(e);
    err.into()
}

/// True if the request goes in absolute form to a proxy (plain `http`
/// through a proxy; `https` goes through a tunnel instead).
fn absolute_form(r: &HttpRequest, url: &Url) -> bool {
    proxy_of(r).is_some() && !url.https
}

/// The request's head (Tornado's `_HTTPConnection.run` header defaults).
pub(crate) fn request_head(r: &HttpRequest, url: &Url) -> Vec<u8> {
    let h = &r.headers;
    let target = if absolute_form(r, url) {
        url.absolute()
    } else {
        url.target.clone()
    };
    let mut out = format!("{} {} HTTP/1.1\r\n", r.method, target).into_bytes();
    let mut extra = HttpHeaders::new();
    if !h.contains("Host") {
        // The authority as the URL gave it, as Tornado sends its netloc.
        extra.add("Host", url.authority.clone());
    }
    if !h.contains("User-Agent") {
        extra.add("User-Agent", r.user_agent.clone());
    }
    if r.decompress_response && !h.contains("Accept-Encoding") {
        extra.add("Accept-Encoding", "gzip, deflate");
    }
    if let (Some(user), false) = (&r.auth_username, h.contains("Authorization")) {
        extra.add(
            "Authorization",
            basic_auth(user, r.auth_password.as_deref().unwrap_or("")),
        );
    }
    if let (Some(user), true) = (&r.proxy_username, absolute_form(r, url)) {
        extra.add(
            "Proxy-Authorization",
            basic_auth(user, r.proxy_password.as_deref().unwrap_or("")),
        );
    }
    if let (Some(t), false) = (r.if_modified_since, h.contains("If-Modified-Since")) {
        extra.add("If-Modified-Since", format_timestamp(t));
    }
    if !h.contains("Content-Length") {
        if r.body_producer.is_some() {
            if !h.contains("Transfer-Encoding") {
                extra.add("Transfer-Encoding", "chunked");
            }
        } else if r.body.is_some() || matches!(r.method.as_str(), "POST" | "PUT" | "PATCH") {
            extra.add(
                "Content-Length",
                r.body.as_ref().map_or(0, Vec::len).to_string(),
            );
        }
    }
    if r.expect_100_continue && has_body(r) && !h.contains("Expect") {
        extra.add("Expect", "100-continue");
    }
    extra.write_to(&mut out);
    h.write_to(&mut out);
    out.extend_from_slice(b"\r\n");
    out
}

fn has_body(r: &HttpRequest) -> bool {
    r.body_producer.is_some() || r.body.as_ref().is_some_and(|b| !b.is_empty())
}

/// Sends the body: the bytes, or the producer's pieces (chunked when the
/// headers give no length).
async fn send_body(stream: &IOStream, r: &HttpRequest) -> Result<(), Failed> {
    let not_received = |error| Failed {
        error,
        received: false,
    };
    if let Some(producer) = &r.body_producer {
        let chunked = !r.headers.contains("Content-Length");
        let writer = BodyWriter {
            stream: stream.clone(),
            chunked,
        };
        producer(writer).await.map_err(|e| {
            let kind = if e.is::<tornado_iostream::StreamClosedError>() {
                HttpClientErrorKind::Connection
            } else {
                HttpClientErrorKind::BodyProducer
            };
            not_received(HttpClientError::new(kind, format!("sending the body: {e}")).into())
        })?;
        if chunked {
            stream
                .write(b"0\r\n\r\n".to_vec())
                .await
                .map_err(|e| not_received(read_error(ReadError::Closed(Some(e)))))?;
        }
    } else if let Some(body) = &r.body {
        if !body.is_empty() {
            stream
                .write(body.clone())
                .await
                .map_err(|e| not_received(read_error(ReadError::Closed(Some(e)))))?;
        }
    }
    Ok(())
}

/// Reads one head, noting whether anything arrived.
async fn read_head(
    reader: &mut Reader,
    r: &HttpRequest,
    received: &Cell<bool>,
) -> Result<(Vec<u8>, ResponseHead), Failed> {
    let raw = reader.read_head(r.max_header_size).await.map_err(|e| {
        let got =
            received.get() || !reader.buffered().is_empty() || !matches!(e, ReadError::Closed(_));
        Failed {
            error: read_error(e),
            received: got,
        }
    })?;
    received.set(true);
    let head = parse_response_head(&raw).map_err(|e| Failed {
        error: read_error(e.into()),
        received: true,
    })?;
    Ok((raw, head))
}

/// The response, and whether the connection may be reused.
pub(crate) struct Exchanged {
    pub(crate) response: HttpResponse,
    pub(crate) keep_alive: bool,
}

/// Sends `r` on `stream` and reads the answer. `started` is when the fetch
/// began (for the first-byte time in `timing`).
pub(crate) async fn exchange(
    stream: IOStream,
    r: &HttpRequest,
    url: &Url,
    started: Instant,
    timing: &RefCell<TimeInfo>,
) -> Result<Exchanged, Failed> {
    let received = Cell::new(false);
    let mut head = request_head(r, url);
    let wait_for_continue = r.expect_100_continue && has_body(r);
    if !wait_for_continue && r.body_producer.is_none() {
        // Head and body in one write: one segment for small requests.
        if let Some(body) = &r.body {
            head.extend_from_slice(body);
        }
        stream.write(head).await.map_err(|e| Failed {
            error: read_error(ReadError::Closed(Some(e))),
            received: false,
        })?;
    } else {
        stream.write(head).await.map_err(|e| Failed {
            error: read_error(ReadError::Closed(Some(e))),
            received: false,
        })?;
        if !wait_for_continue {
            send_body(&stream, r).await?;
        }
    }
    let mut reader = Reader::new(stream.clone());
    let mut body_sent = !wait_for_continue;
    let (raw, head) = loop {
        let (raw, head) = read_head(&mut reader, r, &received).await?;
        if head.code == 100 && !body_sent {
            send_body(&stream, r).await.map_err(|mut f| {
                f.received = true;
                f
            })?;
            body_sent = true;
            continue;
        }
        // Other interim answers precede the real one; 101 would switch
        // protocols, which this client does not do.
        if (100..200).contains(&head.code) && head.code != 101 {
            continue;
        }
        break (raw, head);
    };
    timing.borrow_mut().first_byte = started.elapsed();
    if let Some(cb) = &r.header_callback {
        for line in String::from_utf8_lossy(&raw).split_inclusive('\n') {
            cb(line);
        }
    }
    let failed = |error| Failed {
        error,
        received: true,
    };
    let ResponseHead {
        code,
        reason,
        mut headers,
        http11,
    } = head;
    let framing =
        response_framing(&r.method, code, &headers).map_err(|e| failed(read_error(e.into())))?;
    let coding = if r.decompress_response {
        headers
            .get("Content-Encoding")
            .and_then(Coding::from_header)
    } else {
        None
    };
    if let Some(c) = coding {
        // As Tornado does: the body is no longer encoded, but say it was.
        headers.remove("Content-Encoding");
        headers.set("X-Consumed-Content-Encoding", c.name());
    }
    let mut body_reader = BodyReader::new(framing, r.max_body_size, BODY_CHUNK);
    let mut inflater = coding.map(|c| Inflater::with_coding(c, r.max_body_size));
    let mut body = Vec::new();
    let mut deliver = |piece: Vec<u8>| match &r.streaming_callback {
        Some(cb) => cb(piece),
        None => append(&mut body, piece),
    };
    while let Some(piece) = body_reader
        .next(&mut reader)
        .await
        .map_err(|e| failed(read_error(e)))?
    {
        match inflater.as_mut() {
            None => deliver(piece),
            Some(inf) => {
                for step in piece.chunks(INFLATE_STEP) {
                    let out = inf.feed(step).map_err(|e| failed(read_error(e.into())))?;
                    if !out.is_empty() {
                        deliver(out);
                    }
                }
            }
        }
    }
    if let Some(inf) = inflater.as_mut() {
        let rest = inf.finish().map_err(|e| failed(read_error(e.into())))?;
        if !rest.is_empty() {
            deliver(rest);
        }
    }
    if framing != Framing::UntilClose && !reader.buffered().is_empty() {
        // Nothing may follow a response the client did not ask for: the
        // body was longer than its framing said.
        return Err(failed(
            HttpClientError::new(
                HttpClientErrorKind::MalformedResponse,
                format!(
                    "{} bytes after the end of the response body",
                    reader.buffered().len()
                ),
            )
            .into(),
        ));
    }
    let keep_alive = body_sent
        && framing != Framing::UntilClose
        && wants_keep_alive(http11, &headers)
        && !connection_has(&r.headers, "close")
        && reader.buffered().is_empty()
        && !stream.closed();
    Ok(Exchanged {
        response: HttpResponse {
            code,
            reason,
            headers,
            body,
            effective_url: String::new(),
            request_time: Duration::ZERO,
            time_info: TimeInfo::default(),
            error: None,
        },
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(r: &HttpRequest) -> String {
        let url = Url::parse(&r.url).unwrap();
        String::from_utf8(request_head(r, &url)).unwrap()
    }

    #[test]
    fn request_heads() {
        let text = head_of(
            &HttpRequest::with_url("http://h/p")
                .method("post")
                .body("abc"),
        );
        assert!(
            text.starts_with("POST /p HTTP/1.1\r\nHost: h\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(
            !text.contains("Connection"),
            "keep-alive is HTTP/1.1's default"
        );
        let text = head_of(&HttpRequest::with_url("http://h:8080/"));
        assert!(text.contains("Host: h:8080\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.contains("Accept-Encoding: gzip, deflate\r\n"));
    }

    #[test]
    fn auth_proxy_conditional_and_streamed_heads() {
        let r = HttpRequest::with_url("http://h/x?q=1")
            .auth("Aladdin", "open sesame")
            .proxy("p", 3128)
            .proxy_auth("u", "p")
            .if_modified_since(std::time::UNIX_EPOCH);
        let text = head_of(&r);
        assert!(
            text.starts_with("GET http://h/x?q=1 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        assert!(text.contains("Proxy-Authorization: Basic dTpw\r\n"));
        assert!(text.contains("If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        // Through a tunnel the target stays in origin form, and the proxy's
        // credentials went with CONNECT only.
        let text = head_of(&HttpRequest {
            url: "https://h/x".into(),
            ..r
        });
        assert!(text.starts_with("GET /x HTTP/1.1\r\n"));
        assert!(!text.contains("Proxy-Authorization"));
        let streamed = HttpRequest::with_url("http://h/")
            .method("PUT")
            .body_producer(|_| tornado_concurrent::Future::resolved(()))
            .expect_100_continue(true);
        let text = head_of(&streamed);
        assert!(text.contains("Transfer-Encoding: chunked\r\n"));
        assert!(text.contains("Expect: 100-continue\r\n"));
        assert!(!text.contains("Content-Length"));
    }
}
