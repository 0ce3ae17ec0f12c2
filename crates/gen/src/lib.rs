//! Tornado's `gen` for Rust: coroutines on the `IOLoop`.
//!
//! A coroutine returns a [`Future`](tornado_concurrent::Future); a runner
//! resumes it each time the thing it waits on is done. Two kinds of
//! generator-like state machines are driven:
//!
//! - Rust `async` blocks and functions ([`coroutine`], [`spawn`]): polled with
//!   a thread-safe waker that queues the task back on its loop, so any
//!   `std::future::Future` can be awaited inside, woken from any thread;
//! - hand-written state machines implementing [`Generator`], driven by a
//!   [`Runner`] that mirrors Tornado's `handle_yield` / `run`.
//!
//! Around them: [`sleep`], [`moment`], [`multi`], [`with_timeout`],
//! [`WaitIterator`], and [`run_in_executor`] for blocking work on a thread
//! pool. The crate is `tornado_gen` because `gen` is a keyword in Rust 2024.
//!
//! ```
//! use std::time::Duration;
//! use tornado_gen::{coroutine, sleep, with_timeout, TimeoutError};
//! use tornado_ioloop::IOLoop;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let err = ioloop
//!     .run_sync(|| coroutine(async {
//!         with_timeout(Duration::from_millis(5), async {
//!             sleep(Duration::from_secs(60)).await;
//!             Ok(())
//!         })
//!         .await
//!     }), None)
//!     .unwrap_err();
//! assert!(err.to_string().starts_with("Timeout"));
//! ```
#![deny(missing_docs)]

mod async_runner;
mod coroutine;
mod executor;
mod generator_runner;
mod multi;
mod sleep;
mod timeout;
mod wait_iterator;

pub use async_runner::live_coroutines;
pub use coroutine::{coroutine, spawn};
pub use executor::{
    Executor, Job, ThreadPool, default_executor, run_in_executor, run_on, set_default_executor,
    try_run_in_executor,
};
pub use generator_runner::{Generator, Runner, Step, Yielded, run_generator};
pub use multi::{Multi, convert_yielded, maybe_future, multi};
pub use sleep::{Moment, Sleep, moment, sleep};
pub use timeout::{TimeoutError, with_timeout};
pub use wait_iterator::WaitIterator;
