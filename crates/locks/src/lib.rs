//! Tornado's `locks` for Rust: coordination between coroutines of one
//! [`IOLoop`](tornado_ioloop::IOLoop).
//!
//! | module | what |
//! |---|---|
//! | `event` | [`Event`]: a flag to wait on |
//! | `condition` | [`Condition`]: wait until notified; `notify(n)`, `notify_all` |
//! | `semaphore` | [`Semaphore`], [`BoundedSemaphore`], [`SemaphoreGuard`] |
//! | `lock` | [`Lock`], [`LockGuard`] |
//! | `deadline` | [`Deadline`]: a timeout as a `Duration` or a loop `Instant` |
//! | `waiters` | [`Waiters`]: the FIFO of waits behind all of them |
//!
//! Like the loop, these are single-threaded (`Rc`, not `Send`); a clone is
//! another handle to the same primitive. Waits return a
//! [`Future`](tornado_concurrent::Future), so they can be awaited in a
//! coroutine or given done-callbacks. Timed waits fail with
//! [`tornado_gen::TimeoutError`] (a [`Condition`] resolves to `false`
//! instead, as in Tornado). Waiters are served oldest first, and a waiter
//! that timed out, was cancelled, or whose future was dropped by its holder
//! is skipped: it is never handed a permit or a notification.
//!
//! ```
//! use std::time::Duration;
//! use tornado_gen::{TimeoutError, coroutine};
//! use tornado_ioloop::IOLoop;
//! use tornado_locks::Lock;
//!
//! let lock = Lock::new();
//! let l = lock.clone();
//! let timed_out = IOLoop::new().unwrap().run_sync(move || coroutine(async move {
//!     let _held = l.acquire().await?;
//!     let err = l.acquire_timeout(Duration::from_millis(5)).await.unwrap_err();
//!     Ok(err.is::<TimeoutError>())
//! }), None).unwrap();
//! assert!(timed_out);
//! assert!(!lock.locked());
//! ```
#![deny(missing_docs)]

mod condition;
mod deadline;
mod event;
mod lock;
mod semaphore;
mod waiters;

pub use condition::Condition;
pub use deadline::Deadline;
pub use event::Event;
pub use lock::{Lock, LockGuard, NotLocked};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard, TooManyReleases};
pub use tornado_gen::TimeoutError;
pub use waiters::Waiters;
