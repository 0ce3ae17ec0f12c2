//! Tornado's `IOStream` for Rust: buffered, non-blocking streams whose reads
//! and writes return futures.
//!
//! An [`IOStream`] wraps a [`Transport`] (a TCP or Unix socket, a pipe end,
//! or TLS over one of them) and registers its fd with the current `IOLoop`.
//! Reads (`read_bytes`, `read_until`, `read_until_regex`, `read_until_close`,
//! `read_into`) complete from the stream's buffer when they can, and
//! otherwise when the loop reports the fd readable; writes go straight to
//! the kernel when it takes them, and queue otherwise. Buffers grow and
//! shrink with the data: an idle stream holds no buffer at all.
//!
//! With the features `futures-io` and `tokio-io` (off by default), an
//! `IOStream` also implements the standard `AsyncRead`, `AsyncBufRead` and
//! `AsyncWrite` of `futures_io` and of tokio (its traits only: no runtime),
//! so codecs and drivers written against them (tokio-util's `Framed`,
//! `futures::io::copy`, tokio-postgres) run on the loop. One read at a
//! time still: mixing the traits' reads with Tornado's is a
//! `MixedUseError` or an [`AlreadyReadingError`], never reordered bytes.
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//! use tornado_iostream::IOStream;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let (a, b) = UnixStream::pair().unwrap();
//! let got = ioloop.run_sync(move || coroutine(async move {
//!     let (a, b) = (IOStream::new(a)?, IOStream::new(b)?);
//!     a.write(b"12345").await?;
//!     a.close();
//!     let first = b.read_bytes(2, false).await?;
//!     let rest = b.read_until_close().await?;
//!     Ok((first, rest))
//! }), None).unwrap();
//! assert_eq!(got, (b"12".to_vec(), b"345".to_vec()));
//! ```
#![deny(missing_docs)]

mod buffer;
mod connect;
mod error;
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
mod io_traits;
mod read;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

pub use error::{
    AlreadyReadingError, StreamBufferFullError, StreamClosedError, UnsatisfiableReadError,
};
#[cfg(any(feature = "futures-io", feature = "tokio-io"))]
pub use io_traits::MixedUseError;
pub use regex::bytes::Regex;
pub use stream::{IOStream, StreamOptions};
pub use transport::Transport;
