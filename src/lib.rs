//! Tornado's asynchronous core for Rust: one event loop per thread, with
//! callbacks, timeouts, fd handlers and futures.
//!
//! This crate is a thin facade over the workspace's small crates, named as
//! Tornado's modules are:
//!
//! | module | crate | Tornado |
//! |---|---|---|
//! | [`ioloop`] | `tornado-ioloop` | `tornado.ioloop` |
//! | [`concurrent`] | `tornado-concurrent` | `tornado.concurrent` |
//! | [`r#gen`](tornado_gen) | `tornado-gen` | `tornado.gen` |
//! | [`iostream`] | `tornado-iostream` | `tornado.iostream` |
//! | [`tcp`] | `tornado-tcp` | `tornado.netutil`, `tornado.tcpserver`, `tornado.tcpclient` |
//! | [`http`] | `tornado-http` | `tornado.httputil`, `tornado.httpserver`, `tornado.httpclient` |
//! | [`web`] | `tornado-web` | `tornado.web` |
//! | [`websocket`] | `tornado-websocket` | `tornado.websocket` |
//! | [`locks`] | `tornado-locks` | `tornado.locks` |
//! | [`process`] | `tornado-process` | `tornado.process` |
//! | [`queues`] | `tornado-queues` | `tornado.queues` |
//! | `pg` (feature `postgres`) | `tornado-pg` | PostgreSQL (Python: asyncpg, aiopg) |
//! | `sqlite` (feature `sqlite`) | `tornado-sqlite` | SQLite on the executor |
//! | `compat::tokio` (feature `tokio-compat`) | `tornado-compat` | `tornado.platform.asyncio`'s role: foreign async code |
//!
//! Features `futures-io` and `tokio-io` implement the standard async I/O
//! traits on `IOStream`; all features are off by default.
//!
//! `gen` is a keyword in Rust 2024: there, write `tornado::r#gen` or depend
//! on `tornado_gen` directly; older editions can write `tornado::gen`.
//!
//! The user guide and the porting guide (from Python Tornado) are an
//! mdBook in the repository's `docs/` directory; its snippets run as
//! doctests of the `tornado-guide` crate.
//!
//! Test helpers (`gen_test`, `ExpectLog`, a virtual clock) are in the
//! separate `tornado-testing` crate, a dev-dependency, so that the library
//! does not pull in its proc-macro.
//!
//! ```
//! use tornado::concurrent::Future;
//! use tornado::ioloop::IOLoop;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let f = Future::new();
//! let g = f.clone();
//! ioloop.add_callback(move || g.set_result("hello").unwrap());
//! let v = ioloop.run_sync(move || f, None).unwrap();
//! assert_eq!(v, "hello");
//! ```
#![deny(missing_docs)]

/// Bridges to other runtimes (feature `tokio-compat`): `compat::tokio`.
#[cfg(feature = "tokio-compat")]
pub use tornado_compat as compat;
pub use tornado_concurrent as concurrent;
pub use tornado_gen as r#gen;
pub use tornado_http as http;
pub use tornado_ioloop as ioloop;
pub use tornado_iostream as iostream;
pub use tornado_locks as locks;
/// PostgreSQL on the loop (feature `postgres`).
#[cfg(feature = "postgres")]
pub use tornado_pg as pg;
pub use tornado_process as process;
pub use tornado_queues as queues;
/// SQLite on the thread pool (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use tornado_sqlite as sqlite;
pub use tornado_tcp as tcp;
pub use tornado_web as web;
pub use tornado_websocket as websocket;

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The deployment guide's examples, compiled as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../docs/deploy.md")]
struct DeployDoctests;
