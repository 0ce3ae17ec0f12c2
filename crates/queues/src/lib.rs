//! Tornado's `queues` for Rust: hand items between coroutines of one
//! [`IOLoop`](https://docs.rs/tornado-ioloop).
//!
//! | module | what |
//! |---|---|
//! | `queue` | [`Queue`] (FIFO), [`PriorityQueue`], [`LifoQueue`]: `put`/`get` with optional timeouts, `task_done`/`join` |
//! | `storage` | [`Storage`]: the order items come out ([`Fifo`], [`Lifo`], [`Priority`]) |
//! | `errors` | [`QueueFull`], [`QueueEmpty`], [`TaskDoneError`] |
//!
//! Like Tornado's, these queues are not thread-safe: another thread sends
//! work to the loop with `Remote::add_callback` first. Waits return a
//! [`Future`](tornado_concurrent::Future); timed waits fail with
//! [`TimeoutError`] (the one `tornado_gen` uses). Waiting getters and
//! putters are served oldest first, and one that timed out, was cancelled or
//! whose future was dropped is skipped, never handed an item.
//!
//! ```
//! use std::time::Duration;
//! use tornado_gen::coroutine;
//! use tornado_ioloop::IOLoop;
//! use tornado_queues::{Queue, TimeoutError};
//!
//! let q: Queue<&str> = Queue::new(1);
//! let q2 = q.clone();
//! let got = IOLoop::new().unwrap().run_sync(move || coroutine(async move {
//!     q2.put("job").await?;
//!     let full = q2.put_timeout("more", Duration::from_millis(5)).await.unwrap_err();
//!     assert!(full.is::<TimeoutError>());
//!     let job = q2.get().await?;
//!     q2.task_done()?;
//!     q2.join().await?;
//!     Ok(job)
//! }), None).unwrap();
//! assert_eq!(got, "job");
//! assert!(q.empty());
//! ```
#![deny(missing_docs)]

mod errors;
mod queue;
mod storage;

pub use errors::{QueueEmpty, QueueFull, TaskDoneError};
pub use queue::{LifoQueue, PriorityQueue, Queue};
pub use storage::{Fifo, Lifo, Priority, Storage};
pub use tornado_locks::{Deadline, TimeoutError};
