//! Tornado's `testing` for Rust: helpers to test code that runs on an
//! [`IOLoop`](tornado_ioloop::IOLoop). Add it as a dev-dependency.
//!
//! | module | what |
//! |---|---|
//! | `async_test` | [`AsyncTest`] (and the [`gen_test`] attribute that uses it): an async test on a fresh loop, with a timeout, failing on leaked panics |
//! | `expect_log` | [`ExpectLog`]: assert a log message was, or was not, emitted; the test logger |
//! | `clock` | [`VirtualClock`]: paused or auto-advancing time for a test loop |
//! | `backends` | [`each_backend`]: a body once per IOLoop backend |
//! | `net` | [`bind_unused_port`] |
//! | `http_test` | [`AsyncHttpTestCase`]: an `Application` served on a fresh loop, fetched by path (HTTP or HTTPS) |
//!
//! An async test, in the two spellings: the attribute (a `#[test]`) and
//! the builder it expands to.
//!
//! ```
//! use std::time::Duration;
//! use tornado_concurrent::Future;
//! use tornado_gen::{TimeoutError, with_timeout};
//! use tornado_ioloop::IOLoop;
//! use tornado_testing::{AsyncTest, VirtualClock, gen_test};
//!
//! async fn thirty_second_timeout() {
//!     VirtualClock::install(&IOLoop::current()); // no real waiting
//!     let never: Future<()> = Future::new();
//!     let err = with_timeout(Duration::from_secs(30), never).await.unwrap_err();
//!     assert!(err.is::<TimeoutError>());
//! }
//!
//! #[gen_test(timeout = 2)]
//! async fn a_thirty_second_timeout_in_no_time() {
//!     thirty_second_timeout().await
//! }
//!
//! // What the attribute expands to, runnable here:
//! AsyncTest::new()
//!     .timeout(Duration::from_secs(2))
//!     .run(thirty_second_timeout);
//! ```
#![deny(missing_docs)]

// Lets `#[gen_test]`'s `::tornado_testing::` paths work in this crate too.
extern crate self as tornado_testing;

mod async_test;
mod backends;
mod clock;
mod expect_log;
mod http_test;
mod net;

pub use async_test::{AsyncTest, TIMEOUT_ENV, TestOutcome, get_async_test_timeout};
pub use backends::each_backend;
pub use clock::VirtualClock;
pub use expect_log::{ExpectLog, install_logger};
pub use http_test::AsyncHttpTestCase;
pub use net::{bind_unused_port, bind_unused_port_on};
pub use tornado_testing_macros::gen_test;
