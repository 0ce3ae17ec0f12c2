//! Tornado's `IOLoop` for Rust: a single-threaded event loop.
//!
//! One loop runs per thread. It holds a queue of callbacks, a heap of
//! timeouts and a table of fd handlers, and waits for I/O through a
//! [`Selector`] backend: epoll or kqueue (through mio) or `select(2)` (our
//! own), chosen process-wide with [`IOLoop::configure`] or the
//! `TORNADO_IOLOOP_BACKEND` environment variable, or one of the user's own.
//! Handlers are level-triggered on every backend, as in Tornado; on
//! edge-triggered backends the loop re-checks still-ready fds itself.
//!
//! Other threads reach a loop only through its [`Remote`] handle, whose
//! `add_callback` queues a callback and wakes the loop (an eventfd or a
//! self-pipe watched like any other fd). Futures from `tornado-concurrent`
//! schedule their done-callbacks on the current loop.
//!
//! ```
//! use std::time::Duration;
//! use tornado_ioloop::IOLoop;
//!
//! let ioloop = IOLoop::new().unwrap();
//! let h = ioloop.call_later(Duration::from_millis(50), || println!("later"));
//! ioloop.remove_timeout(h);
//! let remote = ioloop.remote();
//! std::thread::spawn(move || remote.add_callback(|| IOLoop::current().stop()));
//! ioloop.start().unwrap();
//! ```
// `syscall!` (in `sys`) expands its arguments inside its `unsafe` block by
// design: it is the one helper for libc calls, each with a SAFETY note.
#![allow(clippy::macro_metavars_in_unsafe)]
#![deny(missing_docs)]

mod backend;
mod clock;
mod current;
mod error;
mod events;
mod handlers;
mod ioloop;
mod metrics;
mod periodic;
mod remote;
mod run;
mod selector;
pub mod sys;
mod timeouts;
mod watchdog;

pub use backend::{BACKEND_ENV, Backend, SelectorFactory};
pub use clock::{Clock, MonotonicClock};
pub use error::Error;
pub use events::Events;
pub use ioloop::{CallbackKind, CallbackPanic, IOLoop};
pub use metrics::Metrics;
pub use periodic::PeriodicCallback;
pub use remote::Remote;
pub use selector::{Selector, Trigger};
pub use timeouts::Timeout;
