//! The HTTP/1.x connection layer (Tornado's `http1connection`), one
//! implementation for the server and the client: message framing
//! ([`framing`]), reading heads and bodies ([`reader`]), head parsing
//! ([`head`]), typed errors ([`error`]), the streaming request delegates
//! ([`delegate`]), the response writer ([`writer`]) and the server's
//! connection loop.

#[cfg(test)]
mod chunked_props;
pub mod connection;
pub mod delegate;
pub mod error;
pub mod framing;
pub mod head;
pub mod inflate;
pub mod options;
pub mod reader;
pub(crate) mod server;
pub mod writer;

pub use connection::{Detached, RequestConnection};
pub use delegate::{HttpHandler, HttpMessageDelegate, HttpServerDelegate, WholeBody};
pub use error::{BodyError, HeadError, ReadError};
pub use framing::Framing;
