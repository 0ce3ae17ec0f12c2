//! The typed errors of reading an HTTP/1.x message. They stay typed up to
//! whoever acts on them: the server answers with [`HeadError::status`] or
//! [`BodyError::status`], the client fails its fetch with them.

use std::fmt;

/// A message head (start line and header fields) that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// More than the allowed head size without the blank line ending it.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// More header fields than the parser holds.
    TooManyHeaders,
    /// The start line or a header field is malformed.
    Malformed(String),
    /// A header value is not UTF-8.
    NotUtf8 {
        /// The field's name.
        name: String,
    },
    /// A request's `Host` field is missing (HTTP/1.1), repeated or invalid
    /// (RFC 9112 §3.2).
    BadHost(String),
}

impl HeadError {
    /// The status a server answers with: 431 for size, else 400.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge { .. } | HeadError::TooManyHeaders => 431,
            _ => 400,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge { limit } => write!(f, "head larger than {limit} bytes"),
            HeadError::TooManyHeaders => f.write_str("too many header fields"),
            HeadError::Malformed(why) => write!(f, "malformed head: {why}"),
            HeadError::NotUtf8 { name } => write!(f, "header {name} is not UTF-8"),
            HeadError::BadHost(why) => write!(f, "bad Host: {why}"),
        }
    }
}

impl std::error::Error for HeadError {}

/// A message body that cannot be read as its head announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// A `Content-Length` value other than digits.
    InvalidContentLength(String),
    /// Several `Content-Length` values that differ.
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`.
    LengthAndChunked,
    /// A `Transfer-Encoding` other than exactly `chunked`.
    UnsupportedTransferEncoding(String),
    /// A chunk-size line other than hex digits and an optional extension.
    BadChunkSize(String),
    /// A chunk's data not followed by CRLF, or a bad trailer section.
    BadChunkFraming(&'static str),
    /// The body (after decompression, if any) is larger than allowed.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A `Content-Encoding: gzip` body that does not decompress.
    BadGzip(String),
}

impl BodyError {
    /// The status a server answers with: 413 for size, else 400.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidContentLength(v) => write!(f, "invalid Content-Length {v:?}"),
            BodyError::ConflictingContentLength => f.write_str("conflicting Content-Length values"),
            BodyError::LengthAndChunked => f.write_str("both Content-Length and Transfer-Encoding"),
            BodyError::UnsupportedTransferEncoding(v) => {
                write!(f, "unsupported Transfer-Encoding {v:?}")
            }
            BodyError::BadChunkSize(v) => write!(f, "bad chunk size line {v:?}"),
            BodyError::BadChunkFraming(why) => write!(f, "bad chunked framing: {why}"),
            BodyError::TooLarge { limit } => write!(f, "body too large (limit {limit} bytes)"),
            BodyError::BadGzip(why) => write!(f, "bad gzip body: {why}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Why reading a message failed: its head, its body, or the connection.
#[derive(Debug, Clone)]
pub enum ReadError {
    /// The head is malformed or too large.
    Head(HeadError),
    /// The body is malformed or too large.
    Body(BodyError),
    /// The connection closed (or failed, or timed out) before the message
    /// was complete; the stream's error, if any.
    Closed(Option<tornado_concurrent::Error>),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Head(e) => e.fmt(f),
            ReadError::Body(e) => e.fmt(f),
            ReadError::Closed(Some(e)) => write!(f, "connection closed: {e}"),
            ReadError::Closed(None) => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<HeadError> for ReadError {
    fn from(e: HeadError) -> ReadError {
        ReadError::Head(e)
    }
}

impl From<BodyError> for ReadError {
    fn from(e: BodyError) -> ReadError {
        ReadError::Body(e)
    }
}
