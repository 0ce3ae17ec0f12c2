//! The crate's typed errors.

use std::fmt;

/// A write, ping or read on a WebSocket that is closed or closing
/// (Tornado's `WebSocketClosedError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketClosedError;

impl fmt::Display for WebSocketClosedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebSocket closed")
    }
}

impl std::error::Error for WebSocketClosedError {}

/// A ping payload over the 125 bytes a control frame may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingTooLargeError(pub usize);

impl fmt::Display for PingTooLargeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ping payload of {} bytes (at most 125)", self.0)
    }
}

impl std::error::Error for PingTooLargeError {}

/// Why `websocket_connect` failed after the TCP connection was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The URL is not `ws://` or `wss://` with a host.
    BadUrl(String),
    /// The server answered with another status than 101 (its status).
    Status(u16),
    /// The server's answer breaks RFC 6455 (what was wrong).
    Invalid(String),
    /// No answer within the handshake timeout.
    Timeout,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::BadUrl(u) => write!(f, "not a WebSocket URL: {u}"),
            HandshakeError::Status(s) => write!(f, "WebSocket handshake refused with HTTP {s}"),
            HandshakeError::Invalid(why) => {
                write!(f, "invalid WebSocket handshake response: {why}")
            }
            HandshakeError::Timeout => f.write_str("WebSocket handshake timed out"),
        }
    }
}

impl std::error::Error for HandshakeError {}
