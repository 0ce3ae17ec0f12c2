//! The framing rules of HTTP/1.x messages, in one place for both roles and
//! both directions (RFC 9112 §6–7, as Tornado's `http1connection` applies
//! them): where a head ends, how long a body is, chunk-size lines, which
//! messages have no body, and when a connection stays open.

use memchr::memmem;

use super::error::BodyError;
use crate::httputil::HttpHeaders;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

/// The end of a head in `buf` (the index just past its blank line), looking
/// at `buf[from..]` for new data. Lines may end in CRLF or a bare LF, as
/// Tornado accepts (`\r?\n`).
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    // The common case, CRLF throughout, is one substring search.
    let from = from.min(buf.len());
    let crlf = memmem::find(&buf[from..], b"\r\n\r\n").map(|i| from + i + 4);
    // A bare-LF blank line ("\n\n" or "\n\r\n") may come earlier.
    let limit = crlf.unwrap_or(buf.len());
    let mut at = from;
    while let Some(i) = memchr::memchr(b'\n', &buf[at..limit]) {
        let nl = at + i;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => at = nl + 1,
        }
    }
    crlf
}

/// Where to resume [`find_head_end`] after a miss on `len` bytes: the end
/// minus what could be the start of a blank line.
pub fn head_scan_resume(len: usize) -> usize {
    len.saturating_sub(3)
}

/// A `Content-Length` value: ASCII digits only (`+10`, `-1`, `0x1`, ` 1`
/// are refused: `u64::from_str` alone would take `+10`).
pub fn parse_length_value(value: &str) -> Result<u64, BodyError> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BodyError::InvalidContentLength(value.to_owned()));
    }
    // Only an overflow can fail now: more than any body we would take.
    v.parse()
        .map_err(|_| BodyError::TooLarge { limit: u64::MAX })
}

/// The message's `Content-Length`: every value of every such field, split on
/// commas, must be the same number (identical duplicates are tolerated, as
/// in Tornado and RFC 9110 §8.6).
pub fn content_length(headers: &HttpHeaders) -> Result<Option<u64>, BodyError> {
    let mut values = headers
        .get_all("Content-Length")
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|v| v != first) {
        return Err(BodyError::ConflictingContentLength);
    }
    parse_length_value(first).map(Some)
}

/// True if the message is chunked: every `Transfer-Encoding` value, over
/// all such fields, must be exactly one `chunked` (another coding, or a
/// second one, is refused rather than half-understood: that is how
/// requests are smuggled past a proxy).
pub fn is_chunked(headers: &HttpHeaders) -> Result<bool, BodyError> {
    let mut codings = headers
        .get_all("Transfer-Encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim);
    match (codings.next(), codings.next()) {
        (None, _) => Ok(false),
        (Some(c), None) if c.eq_ignore_ascii_case("chunked") => Ok(true),
        _ => Err(BodyError::UnsupportedTransferEncoding(
            headers
                .get_all("Transfer-Encoding")
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// How a request's body is delimited: a request without `Content-Length`
/// or chunked encoding has none.
pub fn request_framing(headers: &HttpHeaders) -> Result<Framing, BodyError> {
    let chunked = is_chunked(headers)?;
    let length = content_length(headers)?;
    match (chunked, length) {
        (true, Some(_)) => Err(BodyError::LengthAndChunked),
        (true, None) => Ok(Framing::Chunked),
        (false, Some(0) | None) => Ok(Framing::Empty),
        (false, Some(n)) => Ok(Framing::Length(n)),
    }
}

/// How a response's body is delimited, given the request's method: a
/// bodiless status or a HEAD has none whatever the headers say; otherwise
/// chunked, a length, or until the close.
pub fn response_framing(
    request_method: &str,
    status: u16,
    headers: &HttpHeaders,
) -> Result<Framing, BodyError> {
    if !response_has_body(request_method, status) {
        return Ok(Framing::Empty);
    }
    let chunked = is_chunked(headers)?;
    let length = content_length(headers)?;
    match (chunked, length) {
        (true, Some(_)) => Err(BodyError::LengthAndChunked),
        (true, None) => Ok(Framing::Chunked),
        (false, Some(0)) => Ok(Framing::Empty),
        (false, Some(n)) => Ok(Framing::Length(n)),
        (false, None) => Ok(Framing::UntilClose),
    }
}

/// True unless the status (1xx, 204, 304) or the request method (HEAD)
/// rules a response body out (RFC 9112 §6.3).
pub fn response_has_body(request_method: &str, status: u16) -> bool {
    !(request_method == "HEAD" || status_is_bodiless(status))
}

/// 1xx, 204 and 304 responses never have a body.
pub fn status_is_bodiless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// True if the `Connection` field lists `token` (case-insensitive).
pub fn connection_has(headers: &HttpHeaders, token: &str) -> bool {
    headers
        .get_all("Connection")
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether the connection may carry another message after this one:
/// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
/// `Connection: keep-alive`.
pub fn wants_keep_alive(http11: bool, headers: &HttpHeaders) -> bool {
    if http11 {
        !connection_has(headers, "close")
    } else {
        connection_has(headers, "keep-alive")
    }
}

/// The longest chunk-size line taken (Tornado reads at most 64 bytes).
pub const MAX_CHUNK_LINE: usize = 64;

/// Parses a chunk-size line without its CRLF: hex digits, then optionally
/// `;` and an extension (ignored). Nothing else, not even a space: ` 0`,
/// `0 ` and `5\t` are refused, since a proxy reading them otherwise is how
/// requests are smuggled.
pub fn parse_chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let bad = || BodyError::BadChunkSize(String::from_utf8_lossy(line).into_owned());
    let size = match memchr::memchr(b';', line) {
        Some(i) => &line[..i],
        None => line,
    };
    if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    if size.len() > 15 {
        // Leading zeros are legal, but no body is this large.
        let significant = size.iter().skip_while(|&&b| b == b'0').count();
        if significant > 15 {
            return Err(BodyError::TooLarge { limit: u64::MAX });
        }
    }
    let mut n: u64 = 0;
    for &b in size {
        let digit = (b as char).to_digit(16).ok_or_else(bad)? as u64;
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(digit))
            .ok_or(BodyError::TooLarge { limit: u64::MAX })?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HttpHeaders {
        let mut h = HttpHeaders::new();
        for (n, v) in pairs {
            h.add(*n, *v);
        }
        h
    }

    #[test]
    fn head_ends_at_the_first_blank_line_crlf_or_lf() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0),
            Some(24)
        );
        assert_eq!(
            find_head_end(b"GET / HTTP/1.0\nHost: a\n\nrest", 0),
            Some(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.0\nA: b\n\r\nx", 0), Some(22));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\nA: b\r\n", 0), None);
        // A bare-LF blank line before a later CRLF one wins.
        assert_eq!(find_head_end(b"A\n\nB\r\n\r\n", 0), Some(3));
        // Resuming near the end still finds a blank line split over reads.
        let buf = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        assert_eq!(find_head_end(buf, head_scan_resume(22)), Some(24));
    }

    #[test]
    fn content_length_takes_digits_only_and_identical_duplicates() {
        assert_eq!(parse_length_value("10"), Ok(10));
        for bad in ["+10", "-1", "0x1", "", "1 0", "1.0"] {
            assert!(
                matches!(
                    parse_length_value(bad),
                    Err(BodyError::InvalidContentLength(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            content_length(&headers(&[("Content-Length", "5, 5")])),
            Ok(Some(5))
        );
        assert_eq!(
            content_length(&headers(&[
                ("Content-Length", "5"),
                ("content-length", "5")
            ])),
            Ok(Some(5))
        );
        assert_eq!(
            content_length(&headers(&[
                ("Content-Length", "5"),
                ("Content-Length", "6")
            ])),
            Err(BodyError::ConflictingContentLength)
        );
        assert!(matches!(
            content_length(&headers(&[("Content-Length", "99999999999999999999999")])),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn transfer_encoding_is_exactly_chunked() {
        assert_eq!(
            request_framing(&headers(&[("Transfer-Encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        for bad in ["gzip, chunked", "chunked, chunked", "identity"] {
            assert!(request_framing(&headers(&[("Transfer-Encoding", bad)])).is_err());
        }
        assert_eq!(
            request_framing(&headers(&[
                ("Transfer-Encoding", "chunked"),
                ("Content-Length", "3")
            ])),
            Err(BodyError::LengthAndChunked)
        );
        assert_eq!(request_framing(&headers(&[])), Ok(Framing::Empty));
        assert_eq!(
            request_framing(&headers(&[("Content-Length", "0")])),
            Ok(Framing::Empty)
        );
    }

    #[test]
    fn bodiless_responses() {
        let cl = headers(&[("Content-Length", "5")]);
        assert_eq!(response_framing("HEAD", 200, &cl), Ok(Framing::Empty));
        for status in [100, 101, 204, 304] {
            assert_eq!(response_framing("GET", status, &cl), Ok(Framing::Empty));
        }
        assert_eq!(response_framing("GET", 200, &cl), Ok(Framing::Length(5)));
        assert_eq!(
            response_framing("GET", 200, &headers(&[])),
            Ok(Framing::UntilClose)
        );
    }

    #[test]
    fn keep_alive_rules() {
        assert!(wants_keep_alive(true, &headers(&[])));
        assert!(!wants_keep_alive(
            true,
            &headers(&[("Connection", "Close")])
        ));
        assert!(!wants_keep_alive(false, &headers(&[])));
        assert!(wants_keep_alive(
            false,
            &headers(&[("Connection", "Keep-Alive, TE")])
        ));
    }

    #[test]
    fn chunk_size_lines_are_strict() {
        assert_eq!(parse_chunk_size(b"0"), Ok(0));
        assert_eq!(parse_chunk_size(b"1aF"), Ok(0x1af));
        assert_eq!(parse_chunk_size(b"5;name=value"), Ok(5));
        assert_eq!(parse_chunk_size(b"0000000000000000005"), Ok(5));
        for bad in [
            &b"0 "[..],
            b" 0",
            b"5 ",
            b"5\t",
            b"",
            b";x",
            b"0x5",
            b"+5",
            b"g",
        ] {
            assert!(
                matches!(parse_chunk_size(bad), Err(BodyError::BadChunkSize(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse_chunk_size(b"10000000000000000"),
            Err(BodyError::TooLarge { .. })
        ));
    }
}
