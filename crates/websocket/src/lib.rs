//! Tornado's `websocket` module for Rust: RFC 6455 WebSockets on the
//! project's loop, server and client, with permessage-deflate (RFC 7692).
//!
//! A server handler implements [`WebSocketHandler`] and is routed in a
//! `web::Application` through the [`WebSocket`] adapter:
//!
//! ```no_run
//! use tornado_ioloop::IOLoop;
//! use tornado_web::{Application, route};
//! use tornado_websocket::{Message, WebSocket, WebSocketConnection, WebSocketHandler};
//!
//! #[derive(Clone)]
//! struct Echo;
//! impl WebSocketHandler for Echo {
//!     async fn on_message(&mut self, ws: &WebSocketConnection, msg: Message) {
//!         let _ = ws.write_message(msg).await;
//!     }
//! }
//!
//! let app = Application::new(vec![route("/ws", WebSocket(Echo))]);
//! app.listen(8888).unwrap();
//! IOLoop::current().start().unwrap();
//! ```
//!
//! The client is [`websocket_connect`]. Frames are parsed from the
//! stream's buffer and unmasked eight bytes at a time; a message is
//! delivered once whole, and the next is not read until its handler is
//! done. A bad frame fails the connection with the code RFC 6455 gives it
//! (1002, 1007, 1009), logged on `tornado.general`; a panicking handler is
//! logged on `tornado.application` and its connection closed (1011).
#![deny(missing_docs)]

mod client;
mod connection;
pub mod deflate;
mod error;
pub mod frame;
mod handshake;
mod message;
mod protocol;
mod reader;
mod server;
pub mod utf8;

pub use client::{
    WebSocketClientConnection, WebSocketRequest, websocket_connect, websocket_connect_with_callback,
};
pub use connection::{
    CLOSE_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, WebSocketConnection, WebSocketOptions,
};
pub use deflate::CompressionOptions;
pub use error::{HandshakeError, PingTooLargeError, WebSocketClosedError};
pub use message::Message;
pub use server::{WebSocket, WebSocketHandler};
