//! Tornado's networking layer for Rust: listening sockets and resolvers
//! (`netutil`), a TCP server running one coroutine per connection
//! (`tcpserver`), a TCP client (`tcpclient`), and signals as loop
//! callbacks.
//!
//! A [`TcpServer`] accepts connections on the current `IOLoop` and hands
//! each, as an `IOStream`, to its [`TcpHandler`]'s `handle_stream`
//! coroutine. Accepting survives running out of file descriptors: it pauses
//! (no busy loop), logs once, and resumes by itself. A [`ThreadedServer`]
//! runs one such server per thread, each on its own loop, to use every
//! core; [`TcpServer::shutdown`] and [`ServerThreads::shutdown`] stop
//! gracefully, typically on a signal from [`signals::wait_for_signal`].
//!
//! A [`TcpClient`] resolves names with a [`Resolver`] (by default on the
//! executor) and connects happy-eyeballs style, failing with a typed
//! [`ConnectError`].
//!
//! ```
//! use std::net::SocketAddr;
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//! use tornado_iostream::IOStream;
//! use tornado_tcp::{TcpHandler, TcpServer};
//!
//! struct Upper;
//! impl TcpHandler for Upper {
//!     async fn handle_stream(&self, stream: IOStream, _addr: SocketAddr) {
//!         if let Ok(line) = stream.read_until(b"\n", Some(1024)).await {
//!             let _ = stream.write(line.to_ascii_uppercase()).await;
//!         }
//!     }
//! }
//!
//! let ioloop = IOLoop::new().unwrap();
//! let server = TcpServer::new(Upper);
//! let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
//! let reply = ioloop.run_sync(move || coroutine(async move {
//!     let client = IOStream::connect(&addr.to_string()).await?;
//!     client.write(b"hello\n".to_vec()).await?;
//!     client.read_until(b"\n", None).await
//! }), None).unwrap();
//! assert_eq!(reply, b"HELLO\n");
//! ```
#![deny(missing_docs)]

mod connector;
mod multi;
pub mod netutil;
pub mod resolver;
pub mod signals;
mod tcpclient;
mod tcpserver;
mod threads;

pub use multi::{DEFAULT_GRACE, Processes, shutdown_on_signals};
pub use netutil::{
    AcceptHandle, Acceptor, DEFAULT_BACKLOG, add_accept_handler, bind_sockets, bind_unix_socket,
};
pub use resolver::{Family, OverrideResolver, Resolver, ThreadedResolver};
pub use tcpclient::{ConnectError, ConnectOptions, TcpClient};
pub use tcpserver::{TcpHandler, TcpServer};
pub use threads::{ServerThreads, ThreadedServer};
