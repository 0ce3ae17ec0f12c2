//! Parsing message heads with httparse: a request's (server) and a
//! response's (client), into typed values or a [`HeadError`].

use std::net::IpAddr;

use super::error::HeadError;
use crate::httputil::{HttpHeaders, HttpServerRequest};

/// Header fields a head may have (more is a 431).
const MAX_HEADERS: usize = 128;

fn headers_of(parsed: &[httparse::Header<'_>]) -> Result<HttpHeaders, HeadError> {
    let mut headers = HttpHeaders::with_capacity(parsed.len());
    for h in parsed {
        let value = std::str::from_utf8(h.value).map_err(|_| HeadError::NotUtf8 {
            name: h.name.to_owned(),
        })?;
        match known_name(h.name) {
            Some(name) => headers.add_static(name, value.trim().to_owned()),
            None => headers.add(h.name, value.trim()),
        }
    }
    Ok(headers)
}

/// `name` itself as a `'static` string if it is a field name clients and
/// servers commonly send, spelled exactly so (names keep the spelling they
/// arrived with): a browser's request then copies its values only.
fn known_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "Host" => "Host",
        "host" => "host",
        "User-Agent" => "User-Agent",
        "user-agent" => "user-agent",
        "Accept" => "Accept",
        "accept" => "accept",
        "Accept-Encoding" => "Accept-Encoding",
        "accept-encoding" => "accept-encoding",
        "Accept-Language" => "Accept-Language",
        "Connection" => "Connection",
        "Content-Length" => "Content-Length",
        "content-length" => "content-length",
        "Content-Type" => "Content-Type",
        "content-type" => "content-type",
        "Cookie" => "Cookie",
        "Referer" => "Referer",
        "Origin" => "Origin",
        "Cache-Control" => "Cache-Control",
        "Pragma" => "Pragma",
        "Upgrade" => "Upgrade",
        "Authorization" => "Authorization",
        "If-None-Match" => "If-None-Match",
        "If-Modified-Since" => "If-Modified-Since",
        "Transfer-Encoding" => "Transfer-Encoding",
        "Sec-WebSocket-Key" => "Sec-WebSocket-Key",
        "Sec-WebSocket-Version" => "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions" => "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept" => "Sec-WebSocket-Accept",
        "Date" => "Date",
        "Server" => "Server",
        "Etag" => "Etag",
        "ETag" => "ETag",
        "Set-Cookie" => "Set-Cookie",
        "Location" => "Location",
        "Last-Modified" => "Last-Modified",
        "Content-Encoding" => "Content-Encoding",
        "Vary" => "Vary",
        _ => return None,
    })
}

fn parse_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders,
        e => HeadError::Malformed(e.to_string()),
    }
}

/// A request head: method, target, version and fields, with the `Host`
/// field checked (RFC 9112 §3.2: exactly one, required in HTTP/1.1, a
/// valid authority).
pub fn parse_request_head(head: &[u8]) -> Result<HttpServerRequest, HeadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head).map_err(parse_error)? {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(HeadError::Malformed("incomplete head".into())),
    }
    let method = parsed.method.unwrap_or("GET");
    let uri = parsed.path.unwrap_or("/");
    let http11 = parsed.version != Some(0);
    let headers = headers_of(parsed.headers)?;
    let host = {
        let mut hosts = headers.get_all("Host");
        (hosts.next(), hosts.next())
    };
    let host = match host {
        (Some(_), Some(_)) => return Err(HeadError::BadHost("several Host fields".into())),
        (None, _) if http11 => return Err(HeadError::BadHost("missing in HTTP/1.1".into())),
        (h, _) => h,
    };
    if let Some(h) = host {
        if !valid_host(h) {
            return Err(HeadError::BadHost(format!("{h:?}")));
        }
    }
    let host = host.filter(|h| !h.is_empty()).unwrap_or("127.0.0.1");
    let version = if http11 { "HTTP/1.1" } else { "HTTP/1.0" };
    Ok(HttpServerRequest::from_head(
        method,
        uri,
        version,
        host.to_owned(),
        headers,
    ))
}

/// RFC 3986's `host [":" port]`: reg-name and IP-literal characters only
/// (no spaces, no `/`, `@` or `?`). Empty is allowed (RFC 9112 §3.2).
fn valid_host(host: &str) -> bool {
    host.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b':'
                    | b'['
                    | b']'
            )
    })
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields.
    pub headers: HttpHeaders,
    /// True for `HTTP/1.1` (keep-alive by default), false for `HTTP/1.0`.
    pub http11: bool,
}

/// A response head: status, reason, fields and version.
pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead, HeadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head).map_err(parse_error)? {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(HeadError::Malformed("incomplete head".into())),
    }
    let code = parsed
        .code
        .ok_or_else(|| HeadError::Malformed("no status code".into()))?;
    if code < 100 {
        // Three digits, but no status (RFC 9110 §15: 100 to 599); a 0
        // would pass for no answer at all with callers that test ranges.
        return Err(HeadError::Malformed(format!("status code {code:03}")));
    }
    let reason = parsed.reason.unwrap_or("").to_owned();
    Ok(ResponseHead {
        code,
        reason,
        http11: parsed.version == Some(1),
        headers: headers_of(parsed.headers)?,
    })
}

/// Tornado's `_apply_xheaders`: the client's address and scheme as the
/// proxy reports them, when they are valid.
pub fn apply_xheaders(request: &mut HttpServerRequest, trusted: &[IpAddr]) {
    let h = &request.headers;
    let mut ip = request.remote_ip.clone();
    if let Some(forwarded) = h.get("X-Forwarded-For") {
        // The last address not added by a trusted proxy; if every one was,
        // the first (as Tornado's loop leaves it).
        for candidate in forwarded.split(',').map(str::trim).rev() {
            ip = candidate.to_owned();
            if candidate
                .parse::<IpAddr>()
                .map_or(true, |a| !trusted.contains(&a))
            {
                break;
            }
        }
    }
    if let Some(real) = h.get("X-Real-Ip") {
        ip = real.trim().to_owned();
    }
    if ip.parse::<IpAddr>().is_ok() {
        request.remote_ip = ip;
    }
    // Either header may list several proxies' schemes: the last counts.
    let scheme = h
        .get("X-Scheme")
        .or_else(|| h.get("X-Forwarded-Proto"))
        .map(|v| {
            v.split(',')
                .next_back()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(s) = scheme {
        if s == "http" || s == "https" {
            request.protocol = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_heads_parse() {
        let r = parse_request_head(b"GET /x HTTP/1.0\nHost: a\n\n").unwrap();
        assert_eq!((r.path.as_str(), r.host.as_str()), ("/x", "a"));
    }

    #[test]
    fn field_names_keep_their_spelling_known_or_not() {
        let r = parse_request_head(
            b"GET / HTTP/1.1\r\nhost: a\r\nUser-Agent: t\r\nX-Odd-Name: 1\r\nACCEPT: */*\r\n\r\n",
        )
        .unwrap();
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["host", "User-Agent", "X-Odd-Name", "ACCEPT"]);
        assert_eq!(known_name("host"), Some("host"));
        assert_eq!(known_name("ACCEPT"), None);
        assert_eq!(
            (
                r.headers.get("Host"),
                r.headers.get("accept"),
                r.host.as_str()
            ),
            (Some("a"), Some("*/*"), "a")
        );
    }

    #[test]
    fn host_is_validated() {
        assert!(parse_request_head(b"GET / HTTP/1.1\r\nHost: a.b:80\r\n\r\n").is_ok());
        assert!(parse_request_head(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").is_ok());
        assert!(parse_request_head(b"GET / HTTP/1.0\r\n\r\n").is_ok());
        for bad in [
            &b"GET / HTTP/1.1\r\nHost: foo bar\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n",
        ] {
            assert!(
                matches!(parse_request_head(bad), Err(HeadError::BadHost(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn response_heads() {
        let r = parse_response_head(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n").unwrap();
        assert_eq!(
            (r.code, r.reason.as_str(), r.headers.get("a"), r.http11),
            (404, "Not Found", Some("b"), true)
        );
        assert!(
            !parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n")
                .unwrap()
                .http11
        );
        assert!(parse_response_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        // Found by the http_response fuzz target: `000` was a response
        // with status 0.
        for bad in [&b"HTTP/1.1 000 OK\r\n\r\n"[..], b"HTTP/1.1 099 X\r\n\r\n"] {
            assert!(
                matches!(parse_response_head(bad), Err(HeadError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_response_head(b"HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap()
                .code,
            100
        );
    }
}
