//! HTTP utilities shared by server and client (Tornado's `httputil`):
//! headers, the server-side request, argument and multipart parsing,
//! cookies, dates and reason phrases.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::time::{Instant, SystemTime};

/// Malformed HTTP input from the peer (Tornado's `HTTPInputError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed HTTP input: {0}")]
pub struct HttpInputError(pub String);

/// HTTP headers: an ordered multi-map with case-insensitive names (Tornado's
/// `HTTPHeaders`).
///
/// ```
/// use tornado_http::httputil::HttpHeaders;
/// let mut h = HttpHeaders::new();
/// h.add("Set-Cookie", "a=1");
/// h.add("set-cookie", "b=2");
/// h.set("Content-Type", "text/plain");
/// assert_eq!(h.get("content-type"), Some("text/plain"));
/// assert_eq!(h.get_all("SET-COOKIE").collect::<Vec<_>>(), vec!["a=1", "b=2"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HttpHeaders {
    /// (name as first given, value), in arrival order. Borrowed where the
    /// text is `'static` (the names and fixed values a server sets on every
    /// response: no allocation for them).
    entries: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl HttpHeaders {
    /// No headers.
    pub fn new() -> HttpHeaders {
        HttpHeaders::default()
    }

    /// No headers, with room for `n` without reallocating.
    pub fn with_capacity(n: usize) -> HttpHeaders {
        HttpHeaders {
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds a value, keeping earlier ones of the same name.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries
            .push((Cow::Owned(name.into()), Cow::Owned(value.into())));
    }

    /// Replaces every value of `name` with `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.entries
            .push((Cow::Owned(name), Cow::Owned(value.into())));
    }

    /// [`add`](Self::add) for a `'static` name, and a value that is
    /// `'static` or owned: nothing is copied. What a server sets on every
    /// response goes through here.
    ///
    /// ```
    /// use tornado_http::httputil::HttpHeaders;
    /// let mut h = HttpHeaders::new();
    /// h.add_static("Content-Type", "text/plain");
    /// h.add_static("Content-Length", 12.to_string());
    /// assert_eq!(h.get("content-length"), Some("12"));
    /// ```
    pub fn add_static(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        self.entries.push((Cow::Borrowed(name), value.into()));
    }

    /// [`set`](Self::set) without copying, as [`add_static`](Self::add_static).
    pub fn set_static(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        self.remove(name);
        self.entries.push((Cow::Borrowed(name), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// True if `name` has a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes every value of `name`; returns how many there were.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.entries.len()
    }

    /// Every (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, &**v))
    }

    /// Number of (name, value) entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the headers as `Name: value\r\n` lines.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for (n, v) in &self.entries {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

impl fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Request or form arguments: name to values, in arrival order per name.
pub type Arguments = HashMap<String, Vec<String>>;

/// An uploaded file from a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFile {
    /// The file name the client gave.
    pub filename: String,
    /// The part's declared content type.
    pub content_type: String,
    /// The file's bytes.
    pub body: Vec<u8>,
}

/// A request as the server received it (Tornado's `HTTPServerRequest`).
#[derive(Debug, Clone)]
pub struct HttpServerRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent: path and query.
    pub uri: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// The request headers.
    pub headers: HttpHeaders,
    /// The whole body (de-chunked).
    pub body: Vec<u8>,
    /// The client's address (from `X-Real-Ip`/`X-Forwarded-For` with
    /// `xheaders`).
    pub remote_ip: String,
    /// `http` or `https` (from `X-Scheme`/`X-Forwarded-Proto` with `xheaders`).
    pub protocol: String,
    /// The `Host` header, or `127.0.0.1` when there is none.
    pub host: String,
    /// The path part of `uri`, still percent-encoded.
    pub path: String,
    /// The query part of `uri` (after `?`), or empty.
    pub query: String,
    /// Arguments from the query string.
    pub query_arguments: Arguments,
    /// Arguments from a form body (url-encoded or multipart).
    pub body_arguments: Arguments,
    /// Files from a multipart body, by field name.
    pub files: HashMap<String, Vec<HttpFile>>,
    /// When the request's headers were read.
    pub start_time: Instant,
}

impl HttpServerRequest {
    /// A request for `method` and `uri` with empty headers and body, for
    /// tests and for building requests by hand.
    pub fn new(method: &str, uri: &str) -> HttpServerRequest {
        let mut r = HttpServerRequest::from_head(
            method,
            uri,
            "HTTP/1.1",
            "127.0.0.1".to_owned(),
            HttpHeaders::new(),
        );
        r.remote_ip = "127.0.0.1".to_owned();
        r.protocol = "http".to_owned();
        r
    }

    /// A request as its head says, each field built once (the server's
    /// path: `remote_ip` and `protocol` are left empty for it to fill).
    pub(crate) fn from_head(
        method: &str,
        uri: &str,
        version: &str,
        host: String,
        headers: HttpHeaders,
    ) -> HttpServerRequest {
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (uri.to_owned(), String::new()),
        };
        let query_arguments = parse_qs(query.as_bytes());
        HttpServerRequest {
            method: method.to_owned(),
            uri: uri.to_owned(),
            version: version.to_owned(),
            headers,
            body: Vec::new(),
            remote_ip: String::new(),
            protocol: String::new(),
            host,
            path,
            query,
            query_arguments,
            body_arguments: Arguments::new(),
            files: HashMap::new(),
            start_time: Instant::now(),
        }
    }

    /// The full URL: protocol, host and URI.
    pub fn full_url(&self) -> String {
        format!("{}://{}{}", self.protocol, self.host, self.uri)
    }

    /// Time since the request arrived.
    pub fn request_time(&self) -> std::time::Duration {
        self.start_time.elapsed()
    }

    /// The request's cookies, parsed from every `Cookie` header.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.headers
            .get_all("Cookie")
            .flat_map(parse_cookie)
            .collect()
    }

    /// Every value of argument `name`: query first, then body.
    pub fn arguments(&self, name: &str) -> Vec<String> {
        let mut all = self.query_arguments.get(name).cloned().unwrap_or_default();
        all.extend(self.body_arguments.get(name).cloned().unwrap_or_default());
        all
    }

    /// Parses the body into `body_arguments` and `files` according to its
    /// `Content-Type` (Tornado does this before handing the request on).
    /// A form body with a `Content-Encoding` (not decoded by the server's
    /// `decompress_request`) cannot be parsed: an `HttpInputError`, as in
    /// Tornado.
    pub fn parse_body(&mut self) -> Result<(), HttpInputError> {
        // Most requests (GET, HEAD) have no body: nothing to look up.
        if self.body.is_empty() {
            return Ok(());
        }
        let content_type = self.headers.get("Content-Type").unwrap_or("").to_owned();
        let (mime, _) = parse_header(&content_type);
        let form = mime.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            || mime.eq_ignore_ascii_case("multipart/form-data");
        if let Some(encoding) = self.headers.get("Content-Encoding").filter(|_| form) {
            return Err(HttpInputError(format!(
                "Unsupported Content-Encoding: {encoding}"
            )));
        }
        parse_body_arguments(
            &content_type,
            &self.body,
            &mut self.body_arguments,
            &mut self.files,
        )
    }
}

/// Parses a query string or url-encoded form into arguments (values are
/// percent-decoded; `+` is a space). Blank values are kept.
pub fn parse_qs(data: &[u8]) -> Arguments {
    let mut args = Arguments::new();
    for (k, v) in form_urlencoded::parse(data) {
        args.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    args
}

/// Parses a request body into arguments and files by its content type
/// (Tornado's `parse_body_arguments`). Other content types are ignored.
pub fn parse_body_arguments(
    content_type: &str,
    body: &[u8],
    arguments: &mut Arguments,
    files: &mut HashMap<String, Vec<HttpFile>>,
) -> Result<(), HttpInputError> {
    let (mime, params) = parse_header(content_type);
    if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        for (k, v) in parse_qs(body) {
            arguments.entry(k).or_default().extend(v);
        }
    } else if mime.eq_ignore_ascii_case("multipart/form-data") {
        let boundary = params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| HttpInputError("multipart/form-data without a boundary".into()))?;
        parse_multipart_form_data(boundary.as_bytes(), body, arguments, files)?;
    }
    Ok(())
}

/// Parses a `multipart/form-data` body (Tornado's
/// `parse_multipart_form_data`): fields with a filename become files, the
/// others arguments.
pub fn parse_multipart_form_data(
    boundary: &[u8],
    data: &[u8],
    arguments: &mut Arguments,
    files: &mut HashMap<String, Vec<HttpFile>>,
) -> Result<(), HttpInputError> {
    let bad = |m: &str| HttpInputError(format!("multipart: {m}"));
    // A boundary may be quoted in the header.
    let boundary = boundary
        .strip_prefix(b"\"")
        .and_then(|b| b.strip_suffix(b"\""))
        .unwrap_or(boundary);
    let mut close = b"--".to_vec();
    close.extend_from_slice(boundary);
    close.extend_from_slice(b"--");
    let end = memfind(data, &close).ok_or_else(|| bad("no final boundary"))?;
    let mut sep = b"--".to_vec();
    sep.extend_from_slice(boundary);
    sep.extend_from_slice(b"\r\n");
    for part in split(&data[..end], &sep) {
        if part.is_empty() {
            continue;
        }
        let Some(eoh) = memfind(part, b"\r\n\r\n") else {
            return Err(bad("part without headers"));
        };
        let head = std::str::from_utf8(&part[..eoh]).map_err(|_| bad("non-UTF-8 part headers"))?;
        let mut headers = HttpHeaders::new();
        for line in head.split("\r\n") {
            if let Some((n, v)) = line.split_once(':') {
                headers.add(n.trim(), v.trim());
            }
        }
        let value = part[eoh + 4..]
            .strip_suffix(b"\r\n")
            .ok_or_else(|| bad("part not terminated by CRLF"))?;
        let disposition = headers.get("Content-Disposition").unwrap_or("");
        let (kind, params) = parse_header(disposition);
        if !kind.eq_ignore_ascii_case("form-data") {
            return Err(bad("part without form-data disposition"));
        }
        let param = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let name = param("name").ok_or_else(|| bad("part without a name"))?;
        match param("filename") {
            Some(filename) => files.entry(name).or_default().push(HttpFile {
                filename,
                content_type: headers
                    .get("Content-Type")
                    .unwrap_or("application/unknown")
                    .to_owned(),
                body: value.to_vec(),
            }),
            None => arguments
                .entry(name)
                .or_default()
                .push(String::from_utf8_lossy(value).into_owned()),
        }
    }
    Ok(())
}

/// Linear-time substring search (a `windows()` scan is O(n·m)).
fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Splits on `sep`, dropping the separators.
fn split<'a>(mut data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = memfind(data, sep) {
        out.push(&data[..at]);
        data = &data[at + sep.len()..];
    }
    out.push(data);
    out
}

/// Splits a header value like `text/html; charset="utf-8"` into its main
/// value and its parameters (Tornado's `_parse_header`): quoted values may
/// hold `;` and backslash escapes, and an RFC 2231 `name*=UTF-8''%C3%A1`
/// parameter replaces the plain `name`.
pub fn parse_header(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_params(value).into_iter();
    let main = parts.next().unwrap_or("").trim().to_owned();
    let mut params: Vec<(String, String)> = Vec::new();
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if let Some(base) = k.strip_suffix('*') {
            if let Some(decoded) = decode_rfc2231(v) {
                params.retain(|(n, _)| !n.eq_ignore_ascii_case(base));
                params.push((base.to_owned(), decoded));
                continue;
            }
        }
        params.push((k.to_owned(), unquote_param(v)));
    }
    (main, params)
}

/// Splits on `;` outside double quotes (a backslash escapes the next
/// character inside them).
fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// Removes the quotes of a quoted parameter value and its escapes.
fn unquote_param(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) if v.len() >= 2 => inner.replace("\\\\", "\\").replace("\\\"", "\""),
        _ => v.to_owned(),
    }
}

/// `UTF-8'lang'percent-encoded` (RFC 2231/5987); other charsets are not
/// decoded.
fn decode_rfc2231(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let (charset, _lang, encoded) = (it.next()?, it.next()?, it.next()?);
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Parses a `Cookie` header into (name, value) pairs; malformed pairs are
/// skipped, quotes around values removed.
pub fn parse_cookie(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .filter_map(|pair| {
            let (k, v) = match pair.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => ("", pair.trim()),
            };
            if k.is_empty() && v.is_empty() {
                return None;
            }
            Some((k.to_owned(), unquote_cookie(v)))
        })
        .collect()
}

/// Tornado's `_unquote_cookie`: a quoted value loses its quotes, and
/// `\"` and octal escapes (`\012`) inside it are decoded.
fn unquote_cookie(v: &str) -> String {
    let Some(inner) = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    else {
        return v.to_owned();
    };
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let octal = b
                .get(i + 1..i + 4)
                .filter(|d| d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match octal {
                Some(d) => {
                    out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                    i += 4;
                }
                None => {
                    out.push(b[i + 1]);
                    i += 2;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn format_timestamp(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Parses an HTTP date; `None` if malformed.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s).ok()
}

/// Appends query arguments to a URL (Tornado's `url_concat`).
pub fn url_concat(url: &str, args: &[(&str, &str)]) -> String {
    if args.is_empty() {
        return url.to_owned();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in args {
        query.append_pair(k, v);
    }
    let sep = if url.contains('?') {
        if url.ends_with('?') || url.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    format!("{url}{sep}{}", query.finish())
}

/// The standard reason phrase of a status code, `"Unknown"` otherwise.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a Teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_parsing() {
        let a = parse_qs(b"a=1&b=x+y&a=%C3%A9&empty=");
        assert_eq!(a["a"], vec!["1", "é"]);
        assert_eq!(a["b"], vec!["x y"]);
        assert_eq!(a["empty"], vec![""]);
    }

    #[test]
    fn multipart() {
        let body = b"--1234\r\nContent-Disposition: form-data; name=\"files\"; filename=\"ab.txt\"\r\n\r\nFoo\r\n--1234\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n--1234--\r\n";
        let (mut args, mut files) = (Arguments::new(), HashMap::new());
        parse_body_arguments(
            "multipart/form-data; boundary=1234",
            body,
            &mut args,
            &mut files,
        )
        .unwrap();
        assert_eq!(files["files"][0].filename, "ab.txt");
        assert_eq!(files["files"][0].body, b"Foo");
        assert_eq!(args["field"], vec!["value"]);
        let err = parse_body_arguments(
            "multipart/form-data; boundary=1234",
            b"--1234\r\nno end",
            &mut args,
            &mut files,
        );
        assert!(err.is_err());
        let err = parse_body_arguments("multipart/form-data", body, &mut args, &mut files);
        assert!(err.is_err(), "no boundary");
    }

    #[test]
    fn headers_cookies_dates_urls() {
        let (main, params) = parse_header("text/html; charset=\"utf-8\"; q=1");
        assert_eq!(main, "text/html");
        assert_eq!(
            params,
            vec![("charset".into(), "utf-8".into()), ("q".into(), "1".into())]
        );
        assert_eq!(
            parse_cookie("a=1; b=\"two\"; ;c="),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two".into()),
                ("c".into(), "".into())
            ]
        );
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784111777);
        assert_eq!(format_timestamp(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_timestamp("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(url_concat("/a", &[("x", "1 2")]), "/a?x=1+2");
        assert_eq!(url_concat("/a?y=2", &[("x", "1")]), "/a?y=2&x=1");
        let mut h = HttpHeaders::new();
        h.add("A", "1");
        assert_eq!(h.remove("a"), 1);
        assert!(h.is_empty());
    }
}
