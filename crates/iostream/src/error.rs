//! The stream's errors, as Tornado's exception classes.

use std::fmt;

use tornado_concurrent::Error;

/// The stream is closed: every pending and later operation fails with this,
/// carrying the real cause (a reset, `EPIPE`, a full buffer…) when there
/// was one. A clean EOF has no cause.
#[derive(Debug, Clone)]
pub struct StreamClosedError {
    /// What closed the stream, if it was an error.
    pub real_error: Option<Error>,
}

impl fmt::Display for StreamClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.real_error {
            Some(e) => write!(f, "Stream is closed: {e}"),
            None => f.write_str("Stream is closed"),
        }
    }
}

impl std::error::Error for StreamClosedError {}

/// A read cannot be satisfied: `read_until`'s delimiter was not found
/// within `max_bytes`. The stream is closed too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsatisfiableReadError(pub String);

/// A buffer limit was reached: reading past `max_buffer_size` (the stream
/// is closed) or writing past `max_write_buffer_size` (the write is refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Reached maximum {0} buffer size")]
pub struct StreamBufferFullError(pub &'static str);

/// A read was started while another one is pending; one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Already reading")]
pub struct AlreadyReadingError;
